package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json" // the hot paths' codec, chosen in bench/RESULTS.md
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// EnrichStage runs stages/enrich on behavior.raw. It follows
// leads.classified and leads.quarantine as a table of each lead's current
// timeline, and emits behavior.enriched.
//
// A behavior event at time t whose lead classify has not applied up to t
// yet waits for classify, at most Grace: until the lead's record is as of
// t or later, or until classify has committed everything on its input
// topics and the tables have read what it wrote (the lead is then as
// final as it will be). Past the grace the event goes on with what is
// known, counted in leadpipe_enrich_grace_expired_total; while classify
// stays behind, later events do not wait again until it has caught up, so
// a stopped classify costs one grace, not one per event.
type EnrichStage struct {
	cfg    *Config
	keys   *pseudonym.Keyer
	limits schemas.Limits
	leads  *enrich.Leads
	tables []*Table
	grace  time.Duration

	waitingSince time.Time // start of the current wait for classify; zero when not waiting
	settledAt    time.Time // when classify was last seen caught up
	checkedAt    time.Time // when that was last checked
	expired      atomic.Int64
}

// NewEnrichStage returns the enrich stage, holding at most maxLeads leads
// and waiting at most grace for classify.
func NewEnrichStage(cfg *Config, keys *pseudonym.Keyer, limits schemas.Limits, maxLeads int, grace time.Duration) *EnrichStage {
	s := &EnrichStage{
		cfg: cfg, keys: keys, limits: limits, leads: enrich.NewLeads(maxLeads), grace: grace,
	}
	for _, t := range []string{TopicLeadsClassified, TopicLeadsQuarantine} {
		s.tables = append(s.tables, NewTable(cfg, cfg.Topic(t), s.applyClassification))
	}
	return s
}

func (s *EnrichStage) Name() string     { return "enrich" }
func (s *EnrichStage) Topics() []string { return []string{s.cfg.Topic(TopicBehaviorRaw)} }

// Collectors are the stage's own metrics (see metrics.go).
func (s *EnrichStage) Collectors() []prometheus.Collector { return enrichCollectors(&s.expired) }

// CoPartitioned: a behavior event and its lead's classifications are keyed
// by the lead id, on the same partition number.
func (s *EnrichStage) CoPartitioned() []string {
	return []string{s.cfg.Topic(TopicBehaviorRaw), s.cfg.Topic(TopicLeadsClassified), s.cfg.Topic(TopicLeadsQuarantine)}
}

// Start follows the classification topics and returns once they are
// restored up to their current end.
func (s *EnrichStage) Start(ctx context.Context) error {
	if err := startTables(ctx, s.tables...); err != nil {
		return fmt.Errorf("restore classifications: %w", err)
	}
	return nil
}

// applyClassification keeps a lead's record if it is the current one.
// Tombstones are skipped: the record before them (an erased lead's, or the
// release that left the quarantine) is the current one.
func (s *EnrichStage) applyClassification(m *kafka.Message) {
	if m.Value == nil || len(m.Key) == 0 {
		return
	}
	var r classify.Record
	if err := json.Unmarshal(m.Value, &r); err != nil || r.LeadKey == "" {
		return // not a classification this version understands; classify wrote it
	}
	s.leads.Put(string(m.Key), enrich.Lead{
		Seq: r.Seq, AsOf: r.AsOf, Timeline: r.Timeline, LeadKey: r.LeadKey, KeyVersion: r.KeyVersion,
	})
}

// Process enriches one behavior event.
func (s *EnrichStage) Process(ctx context.Context, m *kafka.Message, out *Outputs) (Outcome, error) {
	ev, err := schemas.DecodeBehavior(m.Value, s.limits)
	if err != nil {
		return 0, fmt.Errorf("decode behavior: %w", err)
	}
	e, settled := enrich.Enrich(ev, s.leads, s.keys)
	if !settled {
		if e, err = s.await(ctx, ev); err != nil {
			return 0, err
		}
	}
	v, err := json.Marshal(&e)
	if err != nil {
		return 0, fmt.Errorf("encode enriched event: %w", err)
	}
	out.Add(s.cfg.Topic(TopicBehaviorEnriched), m.Key, v)
	return Produced, nil
}

// await enriches ev once its lead is settled or classify has caught up,
// or the grace is over.
func (s *EnrichStage) await(ctx context.Context, ev *schemas.Behavior) (enrich.Event, error) {
	if s.waitingSince.IsZero() {
		s.waitingSince = time.Now()
	}
	deadline := s.waitingSince.Add(s.grace)
	for {
		e, settled := enrich.Enrich(ev, s.leads, s.keys)
		if settled || s.caughtUp(ctx) {
			s.waitingSince = time.Time{}
			return e, nil
		}
		if !time.Now().Before(deadline) {
			s.expired.Add(1)
			return e, nil
		}
		select {
		case <-ctx.Done():
			return e, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// caughtUp reports whether classify has committed every record of its
// input topics and the tables have applied what it wrote before that; it
// asks Kafka at most every 50 ms.
func (s *EnrichStage) caughtUp(ctx context.Context) bool {
	if time.Since(s.checkedAt) < 50*time.Millisecond {
		return !s.settledAt.IsZero() && s.settledAt.Equal(s.checkedAt)
	}
	s.checkedAt = time.Now()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ok, err := GroupCaughtUp(cctx, s.cfg, s.cfg.Group("classify"),
		s.cfg.Topic(TopicLeadsRaw), s.cfg.Topic(TopicConsentsRaw), s.cfg.Topic(TopicSuppressions))
	if err != nil || !ok {
		return false
	}
	for _, t := range s.tables {
		if t.WaitCaughtUp(cctx) != nil {
			return false
		}
	}
	s.settledAt = s.checkedAt
	return true
}

// GroupCaughtUp reports whether consumer group has committed, on every
// partition of topics (full names), the end offset.
func GroupCaughtUp(ctx context.Context, cfg *Config, group string, topics ...string) (bool, error) {
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return false, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	parts := map[string][]int{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return false, t.Error
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.LastOffsetOf(p.ID))
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	ends, err := client.ListOffsets(ctx, req)
	if err != nil {
		return false, err
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return false, err
	}
	done := map[string]map[int]int64{}
	for t, ps := range committed.Topics {
		done[t] = map[int]int64{}
		for _, p := range ps {
			done[t][p.Partition] = p.CommittedOffset
		}
	}
	for t, ps := range ends.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return false, p.Error
			}
			if p.LastOffset > 0 && done[t][p.Partition] < p.LastOffset {
				return false, nil
			}
		}
	}
	return true, nil
}
