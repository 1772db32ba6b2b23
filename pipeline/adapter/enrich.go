package adapter

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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

func (s *Enrich) Name() string     { return "enrich" }
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

// classified reports whether the record at offset of partition of
// behavior.raw is released: classify has applied every lead and consent
// record that reached the broker before it, on every partition, delivered
// the notices they caused, and the followers hold what it wrote of them
// (followClassify keeps the released offsets).
func (s *Enrich) classified(partition int, offset int64) bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return offset < s.released[partition]
}

// DefaultProduceDelay is Enrich.ProduceDelay unless set.
const DefaultProduceDelay = 500 * time.Millisecond

// followClassify keeps the released offsets of behavior.raw: per
// partition, the offset below which every record's lead is as classified
// as it will be. Every 20 ms it looks:
//
//  1. It reads the end offsets of behavior.raw: every record below them
//     reached the broker before this moment. It keeps them with the time
//     it read them (a snapshot).
//  2. It reads the classify group's committed offsets on leads.raw and
//     consents.raw, then their end offsets. The latest snapshot read at
//     least ProduceDelay before these ends becomes a candidate, which
//     needs classify's commits to reach these ends: every lead and
//     consent record that reached the broker up to ProduceDelay after the
//     snapshot's behavior records is then classified. Candidates whose
//     commits are reached go on as checkpoints.
//  3. An objection classified by then has written its notice to the email
//     key's partition of leadpipe.suppressions (before its commit); that
//     notice, once classify commits it, has written the notices to the
//     email key's other leads; once those are committed, the leads' new
//     records are on the classification topics. So a checkpoint's offsets
//     are released after classify's commits on leadpipe.suppressions have
//     passed, twice, the ends seen after the step before, and the
//     followers have read the classification topics to the end they had
//     then (advance).
//
// Offsets, not record timestamps, order a behavior record after the lead
// and consent records: how producers stamp their records does not matter
// (before, the timestamps of the last committed records were compared
// with the behavior record's, and a behavior record stamped with an
// occurred_at older than the lead records in classify's lag went ahead of
// them).
func (s *Enrich) followClassify(ctx context.Context) {
	client := s.cfg.Client(5 * time.Second)
	behavior := s.cfg.Topic(pipeline.TopicBehaviorRaw)
	inputs := []string{s.cfg.Topic(pipeline.TopicLeadsRaw), s.cfg.Topic(pipeline.TopicConsentsRaw)}
	var snapshots []snapshot
	var waiting []candidate
	var checkpoints []checkpoint
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if b, err := partitionEnds(ctx, client, behavior); err == nil {
			snapshots = append(snapshots, snapshot{at: time.Now(), ends: b[behavior]})
		}
		parts, err := partitions(ctx, client, inputs...)
		if err != nil {
			continue
		}
		committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.cfg.Group("classify"), Topics: parts})
		if err != nil {
			continue
		}
		looked := time.Now()
		end, err := partitionEnds(ctx, client, inputs...)
		if err != nil {
			continue
		}
		done, err := classifiedUpTo(ctx, client, committed, end)
		if err != nil {
			continue
		}
		// The latest snapshot at least ProduceDelay old becomes a candidate
		// needing the ends just read; the older ones go with it.
		i := 0
		for i < len(snapshots) && !snapshots[i].at.After(looked.Add(-s.ProduceDelay)) {
			i++
		}
		if i > 0 {
			waiting = addCandidate(waiting, candidate{released: snapshots[i-1].ends, need: end})
			snapshots = slices.Delete(snapshots, 0, i)
		}
		if len(snapshots) > maxSnapshots {
			snapshots = slices.Delete(snapshots, 0, len(snapshots)-maxSnapshots)
		}
		supCommitted, supEnds, err := s.suppressionOffsets(ctx, client)
		if err != nil {
			continue
		}
		for len(waiting) > 0 && reachedAll(done, waiting[0].need) {
			checkpoints = addCheckpoint(checkpoints, waiting[0].released, supEnds)
			waiting = waiting[1:]
		}
		var published map[int]int64
		checkpoints, published = advance(checkpoints, supCommitted, supEnds,
			func() map[string]map[int]int64 { return s.classificationEnds(ctx, client) }, s.followersHave)
		if published != nil {
			s.wmu.Lock()
			for p, o := range published {
				s.released[p] = max(s.released[p], o)
			}
			s.wmu.Unlock()
		}
	}
}

// snapshot is the end offsets of behavior.raw (partition → end) at a time.
type snapshot struct {
	at   time.Time
	ends map[int]int64
}

// candidate is a snapshot's offsets waiting for classify's commits on its
// inputs to reach need (topic → partition → end offset).
type candidate struct {
	released map[int]int64
	need     map[string]map[int]int64
}

// maxSnapshots bounds the snapshots kept while ProduceDelay passes (at a
// look per 20 ms, 500 ms holds 25).
const maxSnapshots = 1024

// addCandidate appends c to the candidates waiting for classify; a full
// list has its last candidate replaced by c, which needs more: coarser,
// never wrong.
func addCandidate(waiting []candidate, c candidate) []candidate {
	if n := len(waiting); n == maxCheckpoints {
		waiting[n-1] = c
		return waiting
	}
	return append(waiting, c)
}

// partitions returns the partition ids of each topic.
func partitions(ctx context.Context, client *kafka.Client, topics ...string) (map[string][]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != len(topics) {
		return nil, fmt.Errorf("metadata names %d of %d topics", len(md.Topics), len(topics))
	}
	parts := map[string][]int{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, t.Error
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	return parts, nil
}

// partitionEnds returns the end offset of every partition of each topic
// (topic → partition → end).
func partitionEnds(ctx context.Context, client *kafka.Client, topics ...string) (map[string]map[int]int64, error) {
	parts, err := partitions(ctx, client, topics...)
	if err != nil {
		return nil, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for t, ps := range parts {
		for _, p := range ps {
			req.Topics[t] = append(req.Topics[t], kafka.LastOffsetOf(p))
		}
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int]int64{}
	for t, ps := range resp.Topics {
		out[t] = map[int]int64{}
		for _, po := range ps {
			if po.Error != nil {
				return nil, po.Error
			}
			out[t][po.Partition] = po.LastOffset
		}
	}
	return out, nil
}

// classifiedUpTo returns, per input partition, the offset below which
// classify has classified every record: its committed offset, or, on a
// partition where it has committed nothing, the first offset kept (a
// partition never written to, or emptied by retention, is classified
// though classify never committed on it; before, such a partition held
// every identified behavior event back).
func classifiedUpTo(ctx context.Context, client *kafka.Client, committed *kafka.OffsetFetchResponse, end map[string]map[int]int64) (map[string]map[int]int64, error) {
	flat := map[string]int64{}
	for t, ps := range end {
		for p, e := range ps {
			flat[t+"/"+strconv.Itoa(p)] = e
		}
	}
	start, err := neverCommittedStarts(ctx, client, committed, flat)
	if err != nil {
		return nil, err
	}
	done := map[string]map[int]int64{}
	for t, ps := range committed.Topics {
		done[t] = map[int]int64{}
		for _, c := range ps {
			done[t][c.Partition] = max(c.CommittedOffset, start[t+"/"+strconv.Itoa(c.Partition)])
		}
	}
	return done, nil
}

// reachedAll reports whether done is at or past need on every partition of
// every topic (a partition with nothing in it needs nothing).
func reachedAll(done, need map[string]map[int]int64) bool {
	for t, ps := range need {
		if !reached(done[t], ps) {
			return false
		}
	}
	return true
}

// neverCommittedStarts returns the first offset kept of every partition
// (keyed "topic/partition", as end) on which classify has committed
// nothing while it has been written to: such a partition is classified if
// retention has emptied it. Other partitions are not asked for (zero).
func neverCommittedStarts(ctx context.Context, client *kafka.Client, committed *kafka.OffsetFetchResponse, end map[string]int64) (map[string]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for t, ps := range committed.Topics {
		for _, c := range ps {
			if c.CommittedOffset < 0 && end[t+"/"+strconv.Itoa(c.Partition)] > 0 {
				req.Topics[t] = append(req.Topics[t], kafka.FirstOffsetOf(c.Partition))
			}
		}
	}
	start := map[string]int64{}
	if len(req.Topics) == 0 {
		return start, nil
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	for t, ps := range resp.Topics {
		for _, po := range ps {
			if po.Error != nil {
				return nil, po.Error
			}
			start[t+"/"+strconv.Itoa(po.Partition)] = po.FirstOffset
		}
	}
	return start, nil
}

// addCheckpoint appends a checkpoint for the offsets released (partition
// of behavior.raw → offset), whose first step waits for classify's commits
// on leadpipe.suppressions to reach supEnds. Offsets no further on any
// partition than the last checkpoint's add nothing; a full list has its
// last checkpoint replaced by the later one, from its first step: coarser,
// never wrong.
func addCheckpoint(checkpoints []checkpoint, released, supEnds map[int]int64) []checkpoint {
	n := len(checkpoints)
	switch {
	case n > 0 && !beyond(released, checkpoints[n-1].released):
		return checkpoints
	case n == maxCheckpoints:
		checkpoints[n-1] = checkpoint{released: released, need: supEnds}
		return checkpoints
	default:
		return append(checkpoints, checkpoint{released: released, need: supEnds})
	}
}

// beyond reports whether a is further than b on some partition.
func beyond(a, b map[int]int64) bool {
	for p, o := range a {
		if o > b[p] {
			return true
		}
	}
	return false
}

// advance moves every checkpoint through as many notice hops as one look's
// commits on leadpipe.suppressions (committed, read before ends) allow, and
// returns the checkpoints left and the offsets now released (nil when
// none).
//
// A step's need is the ends read after the commits that passed the step
// before; commits already past those ends in the same look pass the next
// step too (the notices of the next hop were written before the commits
// that were read). Every checkpoint moves in every look, not only the
// oldest: checkpoints begun a look apart then pass each hop together, and
// the release trails classify by the hops, not by one hop per checkpoint.
// Once through both hops, a checkpoint takes the ends of the classification
// topics of that look (classificationEnds, read at most once per look), and
// it is released when the followers have read to them (followersHave).
// Checkpoints are released oldest first.
func advance(checkpoints []checkpoint, committed, ends map[int]int64,
	classificationEnds func() map[string]map[int]int64, followersHave func(map[string]map[int]int64) bool) ([]checkpoint, map[int]int64) {
	var look map[string]map[int]int64
	for i := range checkpoints {
		c := &checkpoints[i]
		for c.step < 2 && reached(committed, c.need) {
			c.step++
			c.need = ends
		}
		if c.step == 2 && !complete(c.ends) {
			// The ends seen once step 2 is reached; read again when a look
			// failed (the broker away).
			if look == nil {
				look = classificationEnds()
			}
			c.ends = look
		}
	}
	var released map[int]int64
	for len(checkpoints) > 0 && checkpoints[0].step == 2 && followersHave(checkpoints[0].ends) {
		released = checkpoints[0].released
		checkpoints = checkpoints[1:]
	}
	return checkpoints, released
}

// maxCheckpoints bounds the candidates waiting for classify, and the
// checkpoints in flight through the notice hops.
const maxCheckpoints = 64

// checkpoint is a candidate's offsets on their way through the notice
// hops: step 0 waits for the notices the objections wrote, step 1 for those
// the email keys wrote, step 2 for the followers to read the leads'
// records.
type checkpoint struct {
	released map[int]int64 // behavior.raw: partition → offset
	step     int
	need     map[int]int64            // leadpipe.suppressions: the ends classify's commits must reach
	ends     map[string]map[int]int64 // classification topic → partition → end offset, at step 2
}

// suppressionOffsets are classify's committed offsets and the end offsets
// of leadpipe.suppressions, per partition, the ends read after the commits.
func (s *Enrich) suppressionOffsets(ctx context.Context, client *kafka.Client) (committed, ends map[int]int64, err error) {
	topic := s.cfg.Topic(pipeline.TopicSuppressions)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, nil, fmt.Errorf("metadata of %s: %v", topic, err)
	}
	var parts []int
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	c, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.cfg.Group("classify"), Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, nil, err
	}
	e, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, err
	}
	committed, ends = map[int]int64{}, map[int]int64{}
	for _, p := range c.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, p := range e.Topics[topic] {
		if p.Error != nil {
			return nil, nil, p.Error
		}
		ends[p.Partition] = p.LastOffset
	}
	return committed, ends, nil
}

// reached reports whether committed is at or past need on every partition
// (a partition with nothing in it needs no commit).
func reached(committed, need map[int]int64) bool {
	for p, n := range need {
		if n > 0 && committed[p] < n {
			return false
		}
	}
	return true
}

// classificationEnds are the end offsets of the classification topics on
// this process's partitions.
func (s *Enrich) classificationEnds(ctx context.Context, client *kafka.Client) map[string]map[int]int64 {
	s.mu.Lock()
	var reqs []kafka.OffsetRequest
	for p := range s.tasks {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	s.mu.Unlock()
	out := map[string]map[int]int64{}
	for _, topic := range s.classificationTopics() {
		out[topic] = map[int]int64{}
		resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
		if err != nil {
			out[topic] = nil // unknown: followersHave waits for the next look
			continue
		}
		for _, po := range resp.Topics[topic] {
			out[topic][po.Partition] = po.LastOffset
		}
	}
	return out
}

// complete reports whether ends holds the end offsets of every
// classification topic.
func complete(ends map[string]map[int]int64) bool {
	if len(ends) == 0 {
		return false
	}
	for _, e := range ends {
		if e == nil {
			return false
		}
	}
	return true
}

// followersHave reports whether this process's followers have read the
// classification topics up to ends.
func (s *Enrich) followersHave(ends map[string]map[int]int64) bool {
	if !complete(ends) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, t := range s.tasks {
		for _, tb := range t.followers {
			if end, ok := ends[tb.Topic()][p]; ok && tb.Applied(p) < end {
				return false
			}
		}
	}
	return true
}

// classificationTopics are the topics a task's followers follow.
func (s *Enrich) classificationTopics() []string {
	return []string{s.cfg.Topic(pipeline.TopicLeadsClassified), s.cfg.Topic(pipeline.TopicLeadsQuarantine)}
}
