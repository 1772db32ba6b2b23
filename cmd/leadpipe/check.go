package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
)

const checkSynopsis = `Usage: leadpipe check [flags]

What an operator runs after an incident (a replay, a crash, an outage, a
group reset): it checks that what landed in ClickHouse is what the events
say, and reports every drift with its table, its day, month or partition,
and its size.

  - every aggregate (engagement_daily, category_affinity) is computed again
    from behavior_events, one row per event, and compared with what it
    holds, per day or month;
  - decisions holds one row per event id;
  - per table and topic partition, the rows landed hold each offset once,
    and none beyond the topic's end (a topic recreated under an existing
    database). The table of partitions shows the rows landed against the
    records the topic holds: fewer is normal (tombstones, copies skipped,
    erased and purged rows);
  - the dead letters, each counted once however often a replay
    dead-lettered its record again (leadpipe.dead_letter_id).

It reads; it changes nothing. It reads whole tables: run it when the
pipeline is quiet, or expect the rows that are still landing to show as
drift of the last minutes. Exit status: 0 when nothing drifted, 3 when
something did, 1 when Kafka or ClickHouse fails, 2 on bad usage.

Example:
  leadpipe check --brokers kafka:9092 --clickhouse clickhouse:9000`

// checkReport is the output of leadpipe check --format json.
type checkReport struct {
	Drift      []analytics.Drift `json:"drift"`
	Partitions []checkPartition  `json:"partitions"`
	// DeadLetters are the records of the dead-letter topic and the dead
	// letters they are: a replay dead-letters a bad record again, under
	// the same leadpipe.dead_letter_id.
	DeadLetters struct {
		Records  int `json:"records"`
		Distinct int `json:"distinct"`
	} `json:"dead_letters"`
}

// checkPartition is what landed from one topic partition, against what
// the topic holds.
type checkPartition struct {
	analytics.PartitionRows
	// TopicFirst and TopicEnd bound the records the topic holds now.
	TopicFirst int64 `json:"topic_first"`
	TopicEnd   int64 `json:"topic_end"`
}

// driftLines is how many drifts of one table and measure the text output
// shows.
const driftLines = 20

func cmdCheck(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	kcfg := pipeline.DefaultConfig()
	cfg := analytics.DefaultConfig()
	fs := newFlagSet("check", checkSynopsis, stdout, stderr)
	kcfg.RegisterConnFlags(fs)
	cfg.RegisterFlags(fs)
	format := fs.String("format", "text", "text, or json")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	err := kcfg.Validate()
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil && *format != "text" && *format != "json" {
		err = fmt.Errorf("--format must be text or json, not %q", *format)
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("check takes no arguments, got %q", fs.Args())
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe check: %v\n", err)
		return 2
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe check: %v\n", err)
		return 1
	}
	defer conn.Close()
	drift, parts, err := analytics.Check(ctx, analytics.NewConfigWriter(conn, cfg))
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe check: %v\n", err)
		return 1
	}
	report := checkReport{Drift: drift}
	for _, p := range parts {
		cp := checkPartition{PartitionRows: p}
		if cp.TopicFirst, cp.TopicEnd, err = pipeline.PartitionBounds(ctx, &kcfg, p.Topic, int(p.Partition)); err != nil {
			fmt.Fprintf(stderr, "leadpipe check: the offsets of %s[%d]: %v\n", p.Topic, p.Partition, err)
			return 1
		}
		if p.MaxOffset >= cp.TopicEnd {
			report.Drift = append(report.Drift, analytics.Drift{Table: p.Table, Where: fmt.Sprintf("%s[%d]", p.Topic, p.Partition),
				Got: float64(p.MaxOffset + 1), Want: float64(cp.TopicEnd), What: "offsets landed (the topic's end is less: was it recreated?)"})
		}
		report.Partitions = append(report.Partitions, cp)
	}
	if report.Drift == nil {
		report.Drift = []analytics.Drift{}
	}
	if report.DeadLetters.Records, report.DeadLetters.Distinct, err = pipeline.DeadLetters(ctx, &kcfg); err != nil {
		fmt.Fprintf(stderr, "leadpipe check: %v\n", err)
		return 1
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&report); err != nil {
			fmt.Fprintf(stderr, "leadpipe check: %v\n", err)
			return 1
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "table\ttopic[partition]\trows\toffsets landed\tlast offset landed\trecords in topic")
		for _, p := range report.Partitions {
			fmt.Fprintf(tw, "%s\t%s[%d]\t%d\t%d\t%d\t%d\n", p.Table, p.Topic, p.Partition, p.Rows, p.Offsets, p.MaxOffset, p.TopicEnd-p.TopicFirst)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "\ndead letters: %d (%d records in %s; the others are copies a replay dead-lettered again)\n\n",
			report.DeadLetters.Distinct, report.DeadLetters.Records, kcfg.Topic(pipeline.TopicDLQ))
		// The first driftLines of each table and measure; a replay that
		// doubled a month drifts on every day of it.
		shown, more := map[string]int{}, map[string]int{}
		for _, d := range report.Drift {
			kind := d.Table + " (" + d.What + ")"
			if shown[kind] == driftLines {
				more[kind]++
				continue
			}
			shown[kind]++
			fmt.Fprintln(stdout, "drift:", d)
		}
		for _, kind := range slices.Sorted(maps.Keys(more)) {
			fmt.Fprintf(stdout, "drift: %d more of %s (--format json lists every one)\n", more[kind], kind)
		}
		if len(report.Drift) == 0 {
			fmt.Fprintf(stdout, "no drift: every aggregate equals its base table, decisions holds one row per event id, and %d topic partitions landed each offset once\n", len(report.Partitions))
		} else {
			fmt.Fprintf(stdout, "%d drifts\n", len(report.Drift))
		}
	}
	if len(report.Drift) > 0 {
		return 3
	}
	return 0
}
