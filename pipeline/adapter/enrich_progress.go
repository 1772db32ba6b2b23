package adapter

// This file holds how enrich follows classify's progress: which
// behavior records are released because classify has applied every lead
// and consent record that reached the broker before them, the notices
// they caused delivered and read (Enrich.followClassify). enrich.go holds
// the stage itself.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	// the hot paths' codec, chosen in bench/RESULTS.md

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
)

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
