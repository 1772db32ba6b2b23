package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/leadpipe/leadpipe/pipeline"
)

// reconciliation is the end of a soak: what must add up.
type reconciliation struct {
	raw      int64 // records on the raw topics
	distinct uint64
	lines    []string
	failed   []string
}

func (r *reconciliation) ok() bool { return len(r.failed) == 0 }

func (r *reconciliation) check(ok bool, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if ok {
		r.lines = append(r.lines, "ok: "+line)
	} else {
		r.failed = append(r.failed, line)
		r.lines = append(r.lines, "FAILED: "+line)
	}
}

// reconcile checks, after the drain: each stage's records add up to what it
// consumed; each stage consumed exactly the records its group committed
// (every record once, none twice); the raw topics hold what classify and
// enrich consumed of them; no behavior event id has two rows.
func (s *soak) reconcile(ctx context.Context, w *sampler) (*reconciliation, error) {
	r := &reconciliation{}
	cfg := s.config()
	last := w.last
	ends, err := w.ends(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range []string{pipeline.TopicLeadsRaw, pipeline.TopicConsentsRaw, pipeline.TopicBehaviorRaw} {
		for _, off := range ends[cfg.Topic(t)] {
			r.raw += off
		}
	}
	for i, st := range last.stages {
		sum := st.inFlight
		for _, o := range outcomes {
			sum += st.outcome[o]
		}
		r.check(sum == st.consumed, "%s: consumed %d = %s",
			stages[i], st.consumed, outcomeSum(st))
		r.check(st.commits == st.consumed, "%s: consumed %d, committed %d (every record consumed once)", stages[i], st.consumed, st.commits)
	}
	conn, err := s.clickhouse()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+s.db+".behavior_events").Scan(&rows, &r.distinct); err != nil {
		return nil, err
	}
	r.check(rows == r.distinct, "behavior_events: %d rows, %d distinct event ids (none doubled)", rows, r.distinct)
	r.check(r.raw == s.produced.Load(), "raw topics hold %d records, the producer wrote %d", r.raw, s.produced.Load())
	return r, nil
}

func outcomeSum(st stageSample) string {
	var parts []string
	for _, o := range outcomes {
		parts = append(parts, fmt.Sprintf("%d %s", st.outcome[o], o))
	}
	return strings.Join(parts, " + ")
}

// summary is the soak's result as Markdown, for RELIABILITY.md.
func (w *sampler) summary(r *reconciliation) string {
	var b strings.Builder
	o := w.s.o
	fmt.Fprintf(&b, "\n## Soak: %s at %.0f events/s, %d leads, %d partitions\n\n", o.duration, o.rate, o.leads, o.partitions)
	fmt.Fprintf(&b, "%d events produced; %d behavior rows landed.\n\n", w.last.produced, w.last.rows)
	fmt.Fprintf(&b, "| stage | RSS after 1/10 of the run (MiB) | RSS at the end (MiB) | max RSS (MiB) |\n|---|---:|---:|---:|\n")
	for i, st := range w.last.stages {
		first := 0.0
		if i < len(w.firstOK) {
			first = w.firstOK[i]
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f |\n", stages[i], first, st.rssMiB, w.maxRSS[i])
	}
	b.WriteString("\n")
	for _, l := range r.lines {
		b.WriteString("- " + l + "\n")
	}
	return b.String()
}
