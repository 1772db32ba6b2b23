package adapter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json" // the hot paths' codec, chosen in bench/RESULTS.md
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
)

// headerNotice names the kind of a record of leadpipe.suppressions.
const headerNotice = "leadpipe.notice"

// Classify runs the classify engine, one task per partition number of
// its inputs: leads.raw, consents.raw and leadpipe.suppressions, keyed
// alike. Each task has a classify.State of its own, restored from the same
// partition of the compacted leadpipe.state before the task's first record
// and dropped when the partition goes to another process: a process holds
// the leads and email keys of its partitions only.
//
// It emits each lead's classification to leads.classified (or
// leads.quarantine), an audit record per event to leadpipe.audit, every
// state change to its task's partition of leadpipe.state, and the engine's
// notices (classify/notice.go) to leadpipe.suppressions, keyed by email key
// or lead id: an objection taken by one task reaches the leads of the same
// email in any other task or process.
type Classify struct {
	cfg    *pipeline.Config
	engine *classify.Engine
	limits schemas.Limits
	now    func() time.Time

	mu    sync.Mutex // guards tasks; Process runs on one goroutine
	tasks map[int]*classify.State

	purged atomic.Int64 // quarantined leads purged (Engine.Expire)
	// ignoredGrants counts grants ignored for their method, by method
	// (metrics.go).
	ignoredGrants *prometheus.CounterVec
}

// NewClassify returns the classify stage.
func NewClassify(cfg *pipeline.Config, engine *classify.Engine, limits schemas.Limits) *Classify {
	return &Classify{cfg: cfg, engine: engine, limits: limits, now: time.Now, tasks: map[int]*classify.State{},
		ignoredGrants: ignoredGrantsCounter()}
}

func (s *Classify) Name() string { return "classify" }
func (s *Classify) Topics() []string {
	return []string{s.cfg.Topic(pipeline.TopicLeadsRaw), s.cfg.Topic(pipeline.TopicConsentsRaw), s.cfg.Topic(pipeline.TopicSuppressions)}
}

// CoPartitioned: a lead's lead and consent events, its notices and its
// state must all be on one partition number.
func (s *Classify) CoPartitioned() []string {
	return append(s.Topics(), s.cfg.Topic(pipeline.TopicState))
}

// Assign restores the state of every assigned partition from its
// partition of leadpipe.state, up to the end it has now.
func (s *Classify) Assign(ctx context.Context, partitions []int) error {
	states := make([]*classify.State, len(partitions))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range partitions {
		g.Go(func() error {
			st, err := s.restore(gctx, p)
			states[i] = st
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range partitions {
		s.tasks[p] = states[i]
	}
	return nil
}

// Revoke drops the state of partitions now another process's.
func (s *Classify) Revoke(partitions []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range partitions {
		delete(s.tasks, p)
	}
}

// Collectors are the stage's own metrics (see metrics.go).
func (s *Classify) Collectors() []prometheus.Collector {
	return append(classifyCollectors(s.Partitions, s.StateKeys, &s.purged), s.ignoredGrants)
}

// Partitions is the number of partitions whose state the process holds.
func (s *Classify) Partitions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks)
}

// StateKeys is the number of state keys the process holds, over its tasks.
func (s *Classify) StateKeys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.tasks {
		n += st.Len()
	}
	return n
}

// restore reads partition p of leadpipe.state from its first offset to its
// end into a new State.
func (s *Classify) restore(ctx context.Context, p int) (*classify.State, error) {
	st := classify.NewState()
	err := pipeline.ScanPartition(ctx, s.cfg, s.cfg.Topic(pipeline.TopicState), p, func(m *kafka.Message) error {
		return st.Restore(string(m.Key), m.Value)
	})
	if err != nil {
		return nil, fmt.Errorf("restore state of partition %d: %w", p, err)
	}
	return st, nil
}

// Process classifies one lead or consent event, or delivers one notice. An
// event whose event_id was applied before with other content is
// dead-lettered (classify.ErrEventIDReused); a duplicate writes its audit
// record only.
func (s *Classify) Process(_ context.Context, m *kafka.Message, out *pipeline.Outputs) (pipeline.Outcome, error) {
	s.mu.Lock()
	st := s.tasks[m.Partition]
	s.mu.Unlock()
	if st == nil {
		return 0, fmt.Errorf("partition %d of %s is not assigned to this process", m.Partition, m.Topic)
	}
	var ev schemas.Event
	var err error
	switch m.Topic {
	case s.cfg.Topic(pipeline.TopicLeadsRaw):
		if ev, err = schemas.DecodeLead(m.Value, s.limits); err != nil {
			return 0, fmt.Errorf("decode lead: %w", err)
		}
	case s.cfg.Topic(pipeline.TopicConsentsRaw):
		if ev, err = schemas.DecodeConsent(m.Value, s.limits); err != nil {
			return 0, fmt.Errorf("decode consent: %w", err)
		}
	case s.cfg.Topic(pipeline.TopicSuppressions):
		var n classify.Notice
		if err := json.Unmarshal(m.Value, &n); err != nil || n.LeadKey == "" {
			return 0, fmt.Errorf("decode notice: not a notice this version understands")
		}
		res := s.engine.Deliver(&n, st, s.now())
		return pipeline.Produced, s.write(st, m.Partition, &res, out)
	default:
		return 0, fmt.Errorf("classify does not read topic %s", m.Topic)
	}
	// The task's stream time moves to the event's: quarantined leads past
	// the retention are purged before the event meets the state.
	if x := s.engine.Expire(st, ev.Occurred(), s.now()); len(x.Others) > 0 {
		s.purged.Add(int64(len(x.Others)))
		if err := s.write(st, m.Partition, &x, out); err != nil {
			return 0, err
		}
	}
	res, err := s.engine.Step(ev, m.Value, st, s.now())
	if err != nil {
		return 0, err
	}
	audit, err := json.Marshal(&res.Audit)
	if err != nil {
		return 0, fmt.Errorf("encode audit record: %w", err)
	}
	out.Add(s.cfg.Topic(pipeline.TopicAudit), []byte(res.Record.Key), audit)
	if res.Duplicate {
		return pipeline.Produced, nil
	}
	for _, method := range res.IgnoredMethods {
		s.ignoredGrants.WithLabelValues(method).Inc()
	}
	outcome, err := s.emit(&res.Record, out)
	if err != nil {
		return 0, err
	}
	return outcome, s.write(st, m.Partition, &res, out)
}

// write adds a result's other records, state changes (to the task's
// partition of leadpipe.state) and notices (keyed by email key or lead id)
// to out.
func (s *Classify) write(st *classify.State, partition int, res *classify.Result, out *pipeline.Outputs) error {
	for i := range res.Others {
		rec := &res.Others[i]
		if _, err := s.emit(rec, out); err != nil {
			return err
		}
		if rec.Decision == classify.DecisionNoLead {
			continue
		}
		audit, err := json.Marshal(s.engine.ReclassificationAudit(rec, s.now()))
		if err != nil {
			return fmt.Errorf("encode audit record: %w", err)
		}
		out.Add(s.cfg.Topic(pipeline.TopicAudit), []byte(rec.Key), audit)
	}
	stateTopic := s.cfg.Topic(pipeline.TopicState)
	for _, k := range res.Changed {
		v, ok := st.Encode(k)
		if !ok {
			v = nil // a tombstone
		}
		out.AddTo(stateTopic, partition, []byte(k), v)
	}
	for i := range res.Notices {
		n := &res.Notices[i]
		v, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("encode notice: %w", err)
		}
		out.Add(s.cfg.Topic(pipeline.TopicSuppressions), []byte(n.Key()), v, kafka.Header{Key: headerNotice, Value: []byte(n.Kind)})
	}
	return nil
}

// emit writes a lead's record to its topic, keyed by the raw lead id:
// leads.classified, or leads.quarantine when quarantined; nothing for
// no_lead. A lead that leaves the quarantine gets a tombstone on
// leads.quarantine; an erased lead gets one on both topics, after its
// record (which the sink acts on, and which holds no raw lead id); a
// purged lead, on leads.quarantine where it was.
func (s *Classify) emit(rec *classify.Record, out *pipeline.Outputs) (pipeline.Outcome, error) {
	if rec.Decision == classify.DecisionNoLead {
		return pipeline.Produced, nil // only the audit trail and the state: the lead is not known yet
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encode classification: %w", err)
	}
	key := []byte(rec.Key)
	classified, quarantine := s.cfg.Topic(pipeline.TopicLeadsClassified), s.cfg.Topic(pipeline.TopicLeadsQuarantine)
	switch {
	case rec.Decision == classify.DecisionQuarantined:
		out.Add(quarantine, key, v)
		return pipeline.Quarantined, nil
	case rec.Decision == classify.DecisionErased:
		out.Add(classified, key, v)
		out.Add(classified, key, nil)
		out.Add(quarantine, key, nil)
	case rec.Decision == classify.DecisionPurged:
		out.Add(quarantine, key, v) // the sink and enrich act on it
		out.Add(quarantine, key, nil)
	default:
		out.Add(classified, key, v)
		if rec.LeftQuarantine {
			out.Add(quarantine, key, nil)
		}
	}
	return pipeline.Produced, nil
}
