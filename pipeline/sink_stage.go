package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/sink"
)

// SinkStage lands leads.classified, leads.quarantine, behavior.enriched and
// leadpipe.audit in ClickHouse: one INSERT per table per batch, before the
// runtime commits the batch's offsets.
//
// No record lands twice. Every row carries its topic, partition and
// offset; when the sink sees a partition for the first time, or sees its
// offsets jump (a restart, a rebalance, a replay after a crash between
// insert and commit), it reads back the highest offset of that partition
// that already landed and skips everything up to it. The materialized
// views that feed the aggregates therefore see each record once.
type SinkStage struct {
	cfg *Config
	w   *analytics.Writer

	classifications []analytics.ClassificationRow
	behavior        []analytics.BehaviorRow
	decisions       []analytics.DecisionRow

	landed   map[partitionKey]int64 // highest offset known to be in ClickHouse
	lastSeen map[partitionKey]int64 // last offset processed in this process
	skipped  atomic.Int64
	blocked  atomic.Bool
}

// NewSinkStage returns the sink stage writing through w.
func NewSinkStage(cfg *Config, w *analytics.Writer) *SinkStage {
	return &SinkStage{cfg: cfg, w: w, landed: map[partitionKey]int64{}, lastSeen: map[partitionKey]int64{}}
}

func (s *SinkStage) Name() string { return "sink" }
func (s *SinkStage) Topics() []string {
	return []string{
		s.cfg.Topic(TopicLeadsClassified), s.cfg.Topic(TopicLeadsQuarantine),
		s.cfg.Topic(TopicBehaviorEnriched), s.cfg.Topic(TopicAudit),
	}
}

// table is the ClickHouse table of a topic.
func (s *SinkStage) table(topic string) string {
	switch topic {
	case s.cfg.Topic(TopicBehaviorEnriched):
		return analytics.TableBehavior
	case s.cfg.Topic(TopicAudit):
		return analytics.TableDecisions
	}
	return analytics.TableClassifications
}

// Blocked reports whether the sink waits for ClickHouse inside Process.
func (s *SinkStage) Blocked() bool { return s.blocked.Load() }

// Skipped is the number of records skipped because they had landed before.
func (s *SinkStage) Skipped() int64 { return s.skipped.Load() }

// Process turns one record into a row of its table.
func (s *SinkStage) Process(ctx context.Context, m *kafka.Message, _ *Outputs) (Outcome, error) {
	pk := partitionKey{m.Topic, m.Partition}
	if last, ok := s.lastSeen[pk]; !ok || m.Offset != last+1 {
		landed, err := s.w.LandedOffset(ctx, s.table(m.Topic), m.Topic, m.Partition)
		s.blocked.Store(err != nil)
		for err != nil {
			// ClickHouse is away: wait here, consuming nothing, until it answers.
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			landed, err = s.w.LandedOffset(ctx, s.table(m.Topic), m.Topic, m.Partition)
		}
		s.blocked.Store(false)
		s.landed[pk] = landed
	}
	s.lastSeen[pk] = m.Offset
	if m.Offset <= s.landed[pk] {
		s.skipped.Add(1)
		return Produced, nil
	}
	if m.Value == nil {
		return Produced, nil // a compaction tombstone: nothing to land
	}
	o := analytics.Origin{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}
	switch s.table(m.Topic) {
	case analytics.TableBehavior:
		var e enrich.Event
		if err := json.Unmarshal(m.Value, &e); err != nil {
			return 0, fmt.Errorf("decode enriched event: %w", err)
		}
		s.behavior = append(s.behavior, sink.Behavior(&e, o))
	case analytics.TableDecisions:
		var a classify.Audit
		if err := json.Unmarshal(m.Value, &a); err != nil {
			return 0, fmt.Errorf("decode audit record: %w", err)
		}
		s.decisions = append(s.decisions, sink.Decision(&a, o))
	default:
		var r classify.Record
		if err := json.Unmarshal(m.Value, &r); err != nil {
			return 0, fmt.Errorf("decode classified record: %w", err)
		}
		s.classifications = append(s.classifications, sink.Classification(&r, o))
		if r.Decision == "quarantined" {
			return Quarantined, nil
		}
	}
	return Produced, nil
}

// Flush inserts the buffered rows, one INSERT per table. A table whose
// insert succeeded is not inserted again when a later table fails and the
// runtime retries.
func (s *SinkStage) Flush(ctx context.Context) error {
	if err := analytics.Insert(ctx, s.w, analytics.TableClassifications, s.classifications); err != nil {
		return err
	}
	s.markLanded(len(s.classifications), func(i int) analytics.Origin { return s.classifications[i].Origin })
	s.classifications = s.classifications[:0]
	if err := analytics.Insert(ctx, s.w, analytics.TableBehavior, s.behavior); err != nil {
		return err
	}
	s.markLanded(len(s.behavior), func(i int) analytics.Origin { return s.behavior[i].Origin })
	s.behavior = s.behavior[:0]
	if err := analytics.Insert(ctx, s.w, analytics.TableDecisions, s.decisions); err != nil {
		return err
	}
	s.markLanded(len(s.decisions), func(i int) analytics.Origin { return s.decisions[i].Origin })
	s.decisions = s.decisions[:0]
	return nil
}

func (s *SinkStage) markLanded(n int, origin func(int) analytics.Origin) {
	for i := range n {
		o := origin(i)
		pk := partitionKey{o.Topic, int(o.Partition)}
		if o.Offset > s.landed[pk] {
			s.landed[pk] = o.Offset
		}
	}
}
