package adapter

import (
	"context"
	"fmt"
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
// A behavior event at time t whose lead classify has not applied up to t
// yet waits for classify (with Grace set, at most Grace): until the lead's record is as of
// t or later, or until classify has committed, on the lead's partition,
// every lead and consent event written before the behavior record (by
// record timestamp) and the task's followers have read what it wrote (the
// lead is then as final as it will be). With no grace (zero, the default)
// it waits as long as classify takes: a classify that is down or
// restoring holds identified behavior back (the task blocks, so its
// memory stays bounded, and fetching stops with it), and nothing lands
// with an attribution that classify's late answer would have changed;
// leadpipe_enrich_waiting_seconds says how long the current wait lasts.
// With a grace, past it the event goes on with what is known, counted in
// leadpipe_enrich_grace_expired_total; while classify stays behind, later
// events do not wait again until it has caught up, so a stopped classify
// costs one grace, not one per event.
type Enrich struct {
	cfg      *pipeline.Config
	keys     *pseudonym.Keyer
	limits   schemas.Limits
	maxLeads int
	grace    time.Duration

	mu    sync.Mutex // guards tasks; Process runs on one goroutine
	tasks map[int]*enrichTask

	// ProduceDelay is how long after its timestamp a lead or consent
	// record may reach the broker (partitionWatermark). A record later
	// than that (a client batching for longer, a retry after an outage) is
	// late: behavior enriched meanwhile keeps what enrich knew (DESIGN.md).
	ProduceDelay time.Duration

	waitingSince time.Time    // start of the current wait for classify; zero when not waiting
	waitingNano  atomic.Int64 // waitingSince in Unix nanoseconds, for the metric; zero when not waiting
	expired      atomic.Int64

	wmu       sync.Mutex
	watermark time.Time // classify classified every record up to this timestamp, on every partition, notices delivered
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
		ProduceDelay: DefaultProduceDelay,
		tasks:        map[int]*enrichTask{},
	}
}

func (s *Enrich) Name() string     { return "enrich" }
func (s *Enrich) Topics() []string { return []string{s.cfg.Topic(pipeline.TopicBehaviorRaw)} }

// Collectors are the stage's own metrics (see metrics.go).
func (s *Enrich) Collectors() []prometheus.Collector {
	return enrichCollectors(&s.expired, &s.waitingNano, s.Partitions, s.Leads)
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
	e, _ := enrich.Enrich(ev, t.leads, s.keys)
	if ev.Lead != "" && e.Decision != classify.DecisionErased && !s.classified(m.Time) {
		if e, err = s.await(ctx, m, ev, t); err != nil {
			return 0, err
		}
	}
	v, err := json.Marshal(&e)
	if err != nil {
		return 0, fmt.Errorf("encode enriched event: %w", err)
	}
	out.Add(s.cfg.Topic(pipeline.TopicBehaviorEnriched), m.Key, v)
	return pipeline.Produced, nil
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
		e, _ := enrich.Enrich(ev, t.leads, s.keys)
		if e.Decision == classify.DecisionErased || s.classified(m.Time) {
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

// classified reports whether classify has classified every lead and
// consent event whose timestamp is not after ts, on every partition, and
// delivered the notices they caused, and the followers hold what it wrote
// of them (followClassify keeps the watermark).
func (s *Enrich) classified(ts time.Time) bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return !s.watermark.IsZero() && !ts.After(s.watermark)
}

// DefaultProduceDelay is Enrich.ProduceDelay unless set.
const DefaultProduceDelay = 500 * time.Millisecond

// partitionWatermark is the time up to which classify has classified
// every record of one input partition, given its committed offset, the
// offsets its records span when the commits were read (start, the first
// one kept, and end; observed), and the timestamp of the last committed
// record (lastCommitted; zero if unknown).
//
// A record may reach the broker up to delay after its timestamp, so a
// record stamped before another can follow it on the partition. A
// partition read to its end is classified up to when it was looked at,
// less delay: every record stamped before that was there. So is one that
// holds no record, never written to or emptied by retention, though
// classify never committed on it (before, such a partition held the
// watermark at zero, and every identified behavior event waited for the
// grace and then went on unattributed). One read to an offset is
// classified up to the timestamp of the last record committed, less
// delay: a record stamped earlier than that by more than delay would have
// reached the broker before it. (Without the delay in that case, as
// before, a record up to delay late was waited for only on a partition
// read to its end: under load, behavior went ahead of it.)
func partitionWatermark(committed, start, end int64, observed, lastCommitted time.Time, delay time.Duration) time.Time {
	switch {
	case max(committed, start) >= end:
		return observed.Add(-delay)
	case committed <= 0 || lastCommitted.IsZero():
		return time.Time{}
	default:
		return lastCommitted.Add(-delay)
	}
}

// followClassify keeps classify's watermark: the timestamp up to which
// every record of leads.raw and consents.raw, on every partition, is
// classified, the suppression notices that caused delivered, and the
// outputs read by the followers. Every 20 ms it reads the classify group's
// committed offsets and the timestamp of the last committed record of
// each input partition; the lowest is the candidate W. An objection
// classified by then has written its notice to the email key's partition
// of leadpipe.suppressions (before its commit); that notice, once
// classify commits it, has written the notices to the email key's other
// leads; once those are committed, the leads' new records are on the
// classification topics. So W is published after classify's commits on
// leadpipe.suppressions have passed, twice, the ends seen after the step
// before, and the followers have read the classification topics to the
// end they had then.
func (s *Enrich) followClassify(ctx context.Context) {
	client := s.cfg.Client(5 * time.Second)
	inputs := []string{s.cfg.Topic(pipeline.TopicLeadsRaw), s.cfg.Topic(pipeline.TopicConsentsRaw)}
	var checkpoints []checkpoint
	lastTime := map[string]time.Time{} // "topic/partition/offset" → that record's timestamp
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: inputs})
		if err != nil || len(md.Topics) != 2 {
			continue
		}
		parts := map[string][]int{}
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], p.ID)
				req.Topics[t.Name] = append(req.Topics[t.Name], kafka.LastOffsetOf(p.ID))
			}
		}
		observed := time.Now()
		committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.cfg.Group("classify"), Topics: parts})
		if err != nil {
			continue
		}
		ends, err := client.ListOffsets(ctx, req)
		if err != nil {
			continue
		}
		end := map[string]int64{}
		for t, ps := range ends.Topics {
			for _, po := range ps {
				end[t+"/"+strconv.Itoa(po.Partition)] = po.LastOffset
			}
		}
		start, err := neverCommittedStarts(ctx, client, committed, end)
		if err != nil {
			continue
		}
		ws := map[int]time.Time{}
		for t, ps := range committed.Topics {
			for _, c := range ps {
				id := t + "/" + strconv.Itoa(c.Partition)
				e := end[id]
				var at time.Time
				if c.CommittedOffset > 0 && c.CommittedOffset < e {
					key := id + "/" + strconv.FormatInt(c.CommittedOffset-1, 10)
					var ok bool
					if at, ok = lastTime[key]; !ok {
						at = recordTime(ctx, client, t, c.Partition, c.CommittedOffset-1)
						if len(lastTime) > 4096 {
							clear(lastTime)
						}
						lastTime[key] = at
					}
				}
				w := partitionWatermark(c.CommittedOffset, start[id], e, observed, at, s.ProduceDelay)
				if cur, ok := ws[c.Partition]; !ok || w.Before(cur) {
					ws[c.Partition] = w
				}
			}
		}
		if len(ws) == 0 {
			continue
		}
		var w time.Time
		first := true
		for _, pw := range ws {
			if first || pw.Before(w) {
				w, first = pw, false
			}
		}
		supCommitted, supEnds, err := s.suppressionOffsets(ctx, client)
		if err != nil {
			continue
		}
		checkpoints = addCheckpoint(checkpoints, w, supEnds)
		var published time.Time
		checkpoints, published = advance(checkpoints, supCommitted, supEnds,
			func() map[string]map[int]int64 { return s.classificationEnds(ctx, client) }, s.followersHave)
		if !published.IsZero() {
			s.wmu.Lock()
			if published.After(s.watermark) {
				s.watermark = published
			}
			s.wmu.Unlock()
		}
	}
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

// addCheckpoint appends a checkpoint for the candidate watermark w, whose
// first step waits for classify's commits on leadpipe.suppressions to reach
// supEnds. A candidate no later than the last checkpoint's adds nothing; a
// full list has its last checkpoint replaced by the later one, from its
// first step: coarser, never wrong.
func addCheckpoint(checkpoints []checkpoint, w time.Time, supEnds map[int]int64) []checkpoint {
	n := len(checkpoints)
	switch {
	case n > 0 && !w.After(checkpoints[n-1].w):
		return checkpoints
	case n == maxCheckpoints:
		checkpoints[n-1] = checkpoint{w: w, need: supEnds}
		return checkpoints
	default:
		return append(checkpoints, checkpoint{w: w, need: supEnds})
	}
}

// advance moves every checkpoint through as many notice hops as one look's
// commits on leadpipe.suppressions (committed, read before ends) allow, and
// returns the checkpoints left and the latest watermark now published (zero
// when none).
//
// A step's need is the ends read after the commits that passed the step
// before; commits already past those ends in the same look pass the next
// step too (the notices of the next hop were written before the commits
// that were read). Every checkpoint moves in every look, not only the
// oldest: checkpoints begun a look apart then pass each hop together, and
// the watermark trails classify by the hops, not by one hop per checkpoint.
// Once through both hops, a checkpoint takes the ends of the classification
// topics of that look (classificationEnds, read at most once per look), and
// it is published when the followers have read to them (followersHave).
// The watermark only grows: checkpoints are published oldest first.
func advance(checkpoints []checkpoint, committed, ends map[int]int64,
	classificationEnds func() map[string]map[int]int64, followersHave func(map[string]map[int]int64) bool) ([]checkpoint, time.Time) {
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
	var published time.Time
	for len(checkpoints) > 0 && checkpoints[0].step == 2 && followersHave(checkpoints[0].ends) {
		published = checkpoints[0].w
		checkpoints = checkpoints[1:]
	}
	return checkpoints, published
}

// maxCheckpoints bounds the watermarks in flight through the notice hops.
const maxCheckpoints = 64

// checkpoint is a candidate watermark on its way through the notice hops:
// step 0 waits for the notices the objections wrote, step 1 for those the
// email keys wrote, step 2 for the followers to read the leads' records.
type checkpoint struct {
	w    time.Time
	step int
	need map[int]int64            // leadpipe.suppressions: the ends classify's commits must reach
	ends map[string]map[int]int64 // classification topic → partition → end offset, at step 2
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

// recordTime is the timestamp of the record at offset of topic[partition];
// zero when it cannot be read.
func recordTime(ctx context.Context, client *kafka.Client, topic string, partition int, offset int64) time.Time {
	resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: offset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	if err != nil || resp.Error != nil || resp.Records == nil {
		return time.Time{}
	}
	for {
		r, err := resp.Records.ReadRecord()
		if err != nil {
			return time.Time{}
		}
		if r.Offset == offset {
			return r.Time
		}
		if r.Offset > offset {
			return time.Time{}
		}
	}
}
