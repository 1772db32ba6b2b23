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

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// Enrich runs stages/enrich on behavior.raw, one task per partition
// number: partition p of behavior.raw with partition p of leads.classified
// and leads.quarantine, which hold the classifications of the same leads
// (all three are keyed by lead id). A task follows its partition of the two
// classification topics as a table of each lead's current timeline,
// restored when the partition is assigned and dropped when it is revoked:
// a process holds the leads of its partitions only. It emits
// behavior.enriched.
//
// A behavior event of a lead waits for classify (with Grace set, at most
// Grace) until classify has applied every lead and consent record that
// reached the broker before the behavior record did (or up to
// ProduceDelay after it), on every partition, with the suppression
// notices they caused delivered and the task's followers holding what
// classify wrote of them (followClassify). That is decided by offsets, not
// by record timestamps: records stamped with their produce time, with the
// event's occurred_at, or some of each, are waited for alike. The lead's
// decisions are then taken as of the event's occurred_at (enrich.Enrich).
// With no grace (zero, the default) it waits as long as classify takes:
// a classify that is down or restoring holds identified behavior back (the
// task blocks, so its memory stays bounded, and fetching stops with it),
// and nothing lands with an attribution that classify's late answer would
// have changed; leadpipe_enrich_waiting_seconds says how long the current
// wait lasts. With a grace, past it the event goes on with what is known,
// counted in leadpipe_enrich_grace_expired_total; while classify stays
// behind, later events do not wait again until it has caught up, so a
// stopped classify costs one grace, not one per event.
type Enrich struct {
	cfg      *pipeline.Config
	keys     *pseudonym.Keyer
	limits   schemas.Limits
	maxLeads int
	grace    time.Duration

	mu    sync.Mutex // guards tasks; Process runs on one goroutine
	tasks map[int]*enrichTask

	// ProduceDelay is how long after a behavior record a lead or consent
	// record sent before it may still reach the broker and count for it
	// (producers batch). A record later than that (a client batching for
	// longer, a retry after an outage) is late: behavior enriched
	// meanwhile keeps what enrich knew (DESIGN.md).
	ProduceDelay time.Duration
	// Signals decides what a behavior event's consent signals allow
	// (enrich.SignalPolicy); NewEnrich sets the default policy.
	Signals *enrich.SignalPolicy

	signals           *prometheus.CounterVec // events by permission, deciding signal and outcome
	unknownCategories prometheus.Counter

	waitingSince time.Time    // start of the current wait for classify; zero when not waiting
	waitingNano  atomic.Int64 // waitingSince in Unix nanoseconds, for the metric; zero when not waiting
	expired      atomic.Int64

	wmu      sync.Mutex
	released map[int]int64 // partition of behavior.raw → the offset below which every record's lead is classified as completely as it will be
}

// enrichTask is what enrich holds of one partition number: the leads of
// its partition of the classification topics, and the followers that follow
// them until the partition is revoked.
type enrichTask struct {
	leads     *enrich.Leads
	followers []*pipeline.Follower
	stop      context.CancelFunc
}

// NewEnrich returns the enrich stage, holding at most maxLeads leads over
// its tasks and waiting at most grace for classify.
func NewEnrich(cfg *pipeline.Config, keys *pseudonym.Keyer, limits schemas.Limits, maxLeads int, grace time.Duration) *Enrich {
	return &Enrich{
		cfg: cfg, keys: keys, limits: limits, maxLeads: maxLeads, grace: grace,
		ProduceDelay:      DefaultProduceDelay,
		Signals:           enrich.DefaultSignalPolicy(0),
		tasks:             map[int]*enrichTask{},
		released:          map[int]int64{},
		signals:           newSignalCounter(),
		unknownCategories: newUnknownCategoriesCounter(),
	}
}

func (s *Enrich) Name() string { return "enrich" }

func (s *Enrich) Topics() []string { return []string{s.cfg.Topic(pipeline.TopicBehaviorRaw)} }

// Collectors are the stage's own metrics (see metrics.go).
func (s *Enrich) Collectors() []prometheus.Collector {
	return append(enrichCollectors(&s.expired, &s.waitingNano, s.Partitions, s.Leads), s.signals, s.unknownCategories)
}

// CoPartitioned: a behavior event and its lead's classifications are keyed
// by the lead id, on the same partition number.
func (s *Enrich) CoPartitioned() []string {
	return []string{s.cfg.Topic(pipeline.TopicBehaviorRaw), s.cfg.Topic(pipeline.TopicLeadsClassified), s.cfg.Topic(pipeline.TopicLeadsQuarantine)}
}

// Start follows classify's progress, for the wait of events whose lead is
// not settled (followClassify).
func (s *Enrich) Start(ctx context.Context) error {
	go s.followClassify(ctx)
	return nil
}

// Assign restores each assigned partition of the classification topics
// into a task of its own, up to the end it has now, and goes on following
// it until Revoke. The leads a process may hold (maxLeads) are shared out
// among its tasks.
func (s *Enrich) Assign(ctx context.Context, partitions []int) error {
	per := max(1, s.maxLeads/max(1, len(partitions)))
	tasks := make([]*enrichTask, len(partitions))
	errc := make(chan error, len(partitions))
	for i, p := range partitions {
		tctx, stop := context.WithCancel(context.Background())
		t := &enrichTask{leads: enrich.NewLeads(per), stop: stop}
		apply := func(m *kafka.Message) { applyClassification(t.leads, m) }
		for _, topic := range []string{pipeline.TopicLeadsClassified, pipeline.TopicLeadsQuarantine} {
			t.followers = append(t.followers, pipeline.NewFollower(s.cfg, s.cfg.Topic(topic), apply).Only(p))
		}
		tasks[i] = t
		go func() {
			// The followers follow the partition in tctx, after the restore.
			errc <- pipeline.StartFollowers(tctx, t.followers...)
		}()
	}
	var err error
	for range partitions {
		select {
		case e := <-errc:
			if e != nil && err == nil {
				err = e
			}
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		for _, t := range tasks {
			t.stop()
		}
		return fmt.Errorf("restore classifications: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range partitions {
		s.tasks[p] = tasks[i]
	}
	return nil
}

// Revoke stops following the partitions now another process's and drops
// their leads.
func (s *Enrich) Revoke(partitions []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range partitions {
		if t := s.tasks[p]; t != nil {
			t.stop()
			delete(s.tasks, p)
		}
	}
}

// Partitions is the number of partitions whose leads the process holds.
func (s *Enrich) Partitions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks)
}

// Leads is the number of leads the process holds, over its tasks.
func (s *Enrich) Leads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.tasks {
		n += t.leads.Len()
	}
	return n
}

// task returns the task of partition p, nil when p is not assigned.
func (s *Enrich) task(p int) *enrichTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tasks[p]
}

// applyClassification keeps a lead's record if it is the current one.
// Tombstones are skipped: the record before them (an erased lead's, or the
// release that left the quarantine) is the current one.
func applyClassification(leads *enrich.Leads, m *kafka.Message) {
	if m.Value == nil || len(m.Key) == 0 {
		return
	}
	var r classify.Record
	if err := json.Unmarshal(m.Value, &r); err != nil || r.LeadKey == "" {
		return // not a classification this version understands; classify wrote it
	}
	if r.Decision == classify.DecisionPurged {
		leads.Forget(string(m.Key), r.AsOf)
		return
	}
	leads.Put(string(m.Key), enrich.Lead{
		Seq: r.Seq, AsOf: r.AsOf, Timeline: r.Timeline, LeadKey: r.LeadKey, KeyVersion: r.KeyVersion,
	})
}

// Process enriches one behavior event.
func (s *Enrich) Process(ctx context.Context, m *kafka.Message, out *pipeline.Outputs) (pipeline.Outcome, error) {
	ev, err := schemas.DecodeBehavior(m.Value, s.limits)
	if err != nil {
		return 0, fmt.Errorf("decode behavior: %w", err)
	}
	t := s.task(m.Partition)
	if t == nil {
		return 0, fmt.Errorf("partition %d of %s is not assigned to this process", m.Partition, m.Topic)
	}
	e, _ := enrich.Enrich(ev, t.leads, s.keys, s.Signals)
	if ev.Lead != "" && e.Decision != classify.DecisionErased && !s.classified(m.Partition, m.Offset) {
		if e, err = s.await(ctx, m, ev, t); err != nil {
			return 0, err
		}
	}
	s.countSignals(&e, ev)
	v, err := json.Marshal(&e)
	if err != nil {
		return 0, fmt.Errorf("encode enriched event: %w", err)
	}
	out.Add(s.cfg.Topic(pipeline.TopicBehaviorEnriched), m.Key, v)
	return pipeline.Produced, nil
}

// countSignals counts what the event's signals allowed (metrics.go).
func (s *Enrich) countSignals(e *enrich.Event, ev *schemas.Behavior) {
	s.signals.WithLabelValues("analytics", e.AnalyticsSignal, outcome(e.Analytics)).Inc()
	s.signals.WithLabelValues("profiling", e.ProfilingSignal, outcome(e.Profiling)).Inc()
	if ev.Consent != nil && len(ev.Consent.Categories) > 0 {
		if n := s.Signals.Decide(ev.Consent).UnknownCategories; n > 0 {
			s.unknownCategories.Add(float64(n))
		}
	}
}

func outcome(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "denied"
}

// await enriches ev once classify has classified everything written before
// the behavior record, on every partition, with the suppression notices it
// caused delivered (followClassify), or the grace is over. A lead's own
// record being as of the event's time is not enough: an objection under
// another lead id with the same address reaches it through the notices,
// from another partition, later.
func (s *Enrich) await(ctx context.Context, m *kafka.Message, ev *schemas.Behavior, t *enrichTask) (enrich.Event, error) {
	if s.waitingSince.IsZero() {
		s.waitingSince = time.Now()
	}
	deadline := s.waitingSince.Add(s.grace)
	for {
		e, _ := enrich.Enrich(ev, t.leads, s.keys, s.Signals)
		if e.Decision == classify.DecisionErased || s.classified(m.Partition, m.Offset) {
			s.waitingSince = time.Time{}
			s.waitingNano.Store(0)
			return e, nil
		}
		s.waitingNano.CompareAndSwap(0, s.waitingSince.UnixNano())
		if s.grace > 0 && !time.Now().Before(deadline) {
			s.expired.Add(1)
			return e, nil
		}
		select {
		case <-ctx.Done():
			return e, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
