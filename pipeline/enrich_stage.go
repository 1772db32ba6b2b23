package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	json "github.com/goccy/go-json" // the hot paths' codec, chosen in bench/RESULTS.md
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// EnrichStage runs stages/enrich on behavior.raw. It follows
// leads.classified and leads.quarantine as a table of each lead's
// classifications, and emits behavior.enriched.
type EnrichStage struct {
	cfg    *Config
	keys   *pseudonym.Keyer
	limits schemas.Limits
	leads  *enrich.Leads
	tables []*Table

	mu       sync.Mutex
	lastWait time.Time
}

// NewEnrichStage returns the enrich stage, holding at most maxLeads leads.
func NewEnrichStage(cfg *Config, keys *pseudonym.Keyer, limits schemas.Limits, maxLeads int) *EnrichStage {
	s := &EnrichStage{cfg: cfg, keys: keys, limits: limits, leads: enrich.NewLeads(maxLeads)}
	for _, t := range []string{TopicLeadsClassified, TopicLeadsQuarantine} {
		s.tables = append(s.tables, NewTable(cfg, cfg.Topic(t), s.applyClassification))
	}
	return s
}

func (s *EnrichStage) Name() string     { return "enrich" }
func (s *EnrichStage) Topics() []string { return []string{s.cfg.Topic(TopicBehaviorRaw)} }

// Start follows the classification topics and returns once they are
// restored up to their current end.
func (s *EnrichStage) Start(ctx context.Context) error {
	errc := make(chan error, len(s.tables))
	for _, t := range s.tables {
		go func() { errc <- t.Run(ctx) }()
	}
	for _, t := range s.tables {
		select {
		case err := <-errc:
			return fmt.Errorf("restore classifications: %w", err)
		default:
		}
		if err := t.WaitCaughtUp(ctx); err != nil {
			return fmt.Errorf("restore classifications: %w", err)
		}
	}
	return nil
}

func (s *EnrichStage) applyClassification(m *kafka.Message) {
	if m.Value == nil {
		return // a tombstone: the lead's classification stays as it was last seen
	}
	var r classify.Record
	if err := json.Unmarshal(m.Value, &r); err != nil || r.LeadID == "" {
		return // not a classification this version understands; classify wrote it
	}
	p := r.Purposes.Profiling.Basis
	s.leads.Put(r.LeadID, enrich.Classification{
		At:         r.OccurredAt,
		Decision:   r.Decision,
		Channel:    r.Origin.Channel,
		Profiling:  p != "" && p != "none",
		LeadKey:    r.LeadKey,
		KeyVersion: r.KeyVersion,
	})
}

// Process enriches one behavior event.
func (s *EnrichStage) Process(ctx context.Context, m *kafka.Message, out *Outputs) (Outcome, error) {
	ev, err := schemas.DecodeBehavior(m.Value, s.limits)
	if err != nil {
		return 0, fmt.Errorf("decode behavior: %w", err)
	}
	e, known := enrich.Enrich(ev, s.leads, s.keys)
	if !known && ev.Lead != "" && s.waitForTables(ctx) {
		e, _ = enrich.Enrich(ev, s.leads, s.keys)
	}
	v, err := json.Marshal(&e)
	if err != nil {
		return 0, fmt.Errorf("encode enriched event: %w", err)
	}
	out.Add(s.cfg.Topic(TopicBehaviorEnriched), m.Key, v)
	return Produced, nil
}

// waitForTables gives the classification tables a short moment to catch
// up when an event names a lead they do not know, at most once every
// 250 ms. It reports whether it waited.
func (s *EnrichStage) waitForTables(ctx context.Context) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastWait) < 250*time.Millisecond {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	for _, t := range s.tables {
		t.WaitCaughtUp(wctx)
	}
	s.lastWait = time.Now()
	return true
}
