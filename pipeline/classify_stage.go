package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	json "github.com/goccy/go-json" // the hot paths' codec, chosen in bench/RESULTS.md
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
)

// headerInstance names the process that wrote a state changelog record.
const headerInstance = "leadpipe.instance"

// ClassifyStage runs the classify engine on leads.raw and consents.raw. It
// emits each lead's classification to leads.classified (or
// leads.quarantine), an audit record to leadpipe.audit, and every state
// change to the compacted leadpipe.state, from which it restores its state
// at start and follows what other classify processes write (the suppression
// list must be global: a re-imported email may arrive on any partition).
type ClassifyStage struct {
	cfg      *Config
	engine   *classify.Engine
	limits   schemas.Limits
	instance string
	table    *Table
	now      func() time.Time

	mu      sync.Mutex // guards state and pending
	state   *classify.State
	pending map[string]int // own changelog writes the table has not read back yet
}

// NewClassifyStage returns the classify stage.
func NewClassifyStage(cfg *Config, engine *classify.Engine, limits schemas.Limits) *ClassifyStage {
	id := cfg.InstanceID
	if id == "" {
		var b [8]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	s := &ClassifyStage{
		cfg: cfg, engine: engine, limits: limits, instance: id, now: time.Now,
		state: classify.NewState(), pending: map[string]int{},
	}
	s.table = NewTable(cfg, cfg.Topic(TopicState), s.restore)
	return s
}

func (s *ClassifyStage) Name() string { return "classify" }
func (s *ClassifyStage) Topics() []string {
	return []string{s.cfg.Topic(TopicLeadsRaw), s.cfg.Topic(TopicConsentsRaw)}
}

// CoPartitioned: a lead's lead and consent events must meet in one process.
func (s *ClassifyStage) CoPartitioned() []string { return s.Topics() }

// Start restores the state from leadpipe.state and keeps following it. A
// failure to follow it ends Start with that error, never a silent wait.
func (s *ClassifyStage) Start(ctx context.Context) error {
	if err := startTables(ctx, s.table); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	return nil
}

// restore applies one changelog record. Records this process wrote are
// already in its state and are skipped, so that reading them back never
// overwrites a newer value.
func (s *ClassifyStage) restore(m *kafka.Message) {
	key := string(m.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if Header(m, headerInstance) == s.instance && s.pending[key] > 0 {
		if s.pending[key]--; s.pending[key] == 0 {
			delete(s.pending, key)
		}
		return
	}
	s.state.Restore(key, m.Value) // a value this version cannot read is left out
}

// Process classifies one lead or consent event. An event whose event_id
// was applied before with other content is dead-lettered
// (classify.ErrEventIDReused); a duplicate writes its audit record only.
func (s *ClassifyStage) Process(_ context.Context, m *kafka.Message, out *Outputs) (Outcome, error) {
	var ev schemas.Event
	var err error
	switch m.Topic {
	case s.cfg.Topic(TopicLeadsRaw):
		if ev, err = schemas.DecodeLead(m.Value, s.limits); err != nil {
			return 0, fmt.Errorf("decode lead: %w", err)
		}
	case s.cfg.Topic(TopicConsentsRaw):
		if ev, err = schemas.DecodeConsent(m.Value, s.limits); err != nil {
			return 0, fmt.Errorf("decode consent: %w", err)
		}
	default:
		return 0, fmt.Errorf("classify does not read topic %s", m.Topic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.engine.Apply(ev, m.Value, s.state, s.now())
	if err != nil {
		return 0, err
	}
	stateTopic := s.cfg.Topic(TopicState)
	for _, k := range res.Changed {
		v, ok := s.state.Encode(k)
		if !ok {
			v = nil // a tombstone
		}
		out.Add(stateTopic, []byte(k), v, kafka.Header{Key: headerInstance, Value: []byte(s.instance)})
		s.pending[k]++
	}
	audit, err := json.Marshal(&res.Audit)
	if err != nil {
		return 0, fmt.Errorf("encode audit record: %w", err)
	}
	out.Add(s.cfg.Topic(TopicAudit), []byte(res.Record.Key), audit)
	if res.Duplicate {
		return Produced, nil
	}
	outcome, err := s.emit(&res.Record, out)
	for i := range res.Others {
		if _, err2 := s.emit(&res.Others[i], out); err == nil {
			err = err2
		}
	}
	return outcome, err
}

// emit writes a lead's record to its topic, keyed by the raw lead id:
// leads.classified, or leads.quarantine when quarantined; nothing for
// no_lead. A lead that leaves the quarantine gets a tombstone on
// leads.quarantine; an erased lead gets one on both topics, after its
// record (which the sink acts on, and which holds no raw lead id).
func (s *ClassifyStage) emit(rec *classify.Record, out *Outputs) (Outcome, error) {
	if rec.Decision == classify.DecisionNoLead {
		return Produced, nil // only the audit trail and the state: the lead is not known yet
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encode classification: %w", err)
	}
	key := []byte(rec.Key)
	classified, quarantine := s.cfg.Topic(TopicLeadsClassified), s.cfg.Topic(TopicLeadsQuarantine)
	switch {
	case rec.Decision == classify.DecisionQuarantined:
		out.Add(quarantine, key, v)
		return Quarantined, nil
	case rec.Decision == classify.DecisionErased:
		out.Add(classified, key, v)
		out.Add(classified, key, nil)
		out.Add(quarantine, key, nil)
	default:
		out.Add(classified, key, v)
		if rec.LeftQuarantine {
			out.Add(quarantine, key, nil)
		}
	}
	return Produced, nil
}
