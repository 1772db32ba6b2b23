package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// watchStall says when the stage stalls in generation gen: it holds
// partitions with records it has not committed, and has committed nothing
// for Config.StallAfter. It logs it once (and once when the stage moves
// again), sets leadpipe_stage_stalled, and the stage reports not ready
// (/readyz 503) while it lasts. A stage with nothing left to consume is
// idle, not stalled. It returns when ctx ends (the generation's end).
//
// A group stuck with every partition assigned and nothing consumed for
// 78 s, with enrich waiting on it, logged nothing after "assigned"
// (issue 24): this is what makes such a stall visible.
func (s *stageRun) watchStall(ctx context.Context, gen *kafka.Generation, log *slog.Logger) {
	cfg := &s.r.cfg
	tick := time.NewTicker(max(cfg.StallAfter/4, 100*time.Millisecond))
	defer tick.Stop()
	defer s.counters.stalled.Store(false)
	flushes, since := s.counters.flushes.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if f := s.counters.flushes.Load(); f != flushes {
			flushes, since = f, time.Now()
			if s.counters.stalled.Swap(false) {
				log.Info("committing again after a stall", "generation", gen.ID)
			}
			continue
		}
		still := time.Since(since)
		if still < cfg.StallAfter {
			continue
		}
		lag, err := assignedLag(ctx, cfg, cfg.Group(s.stage.Name()), gen.Assignments)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("reading the assigned partitions' lag failed", "err", err)
			}
		case lag == 0:
			since = time.Now() // idle: nothing to consume
			if s.counters.stalled.Swap(false) {
				log.Info("no longer stalled: nothing left to consume", "generation", gen.ID)
			}
		case !s.counters.stalled.Swap(true):
			log.Warn("stalled: records are left on the assigned partitions and nothing was committed",
				"lag", lag, "for", still.Round(time.Second), "generation", gen.ID)
		}
	}
}

// assignedLag returns how many records of the assigned partitions group
// has not committed: each partition's end less its committed offset (its
// first offset when nothing is committed).
func assignedLag(ctx context.Context, cfg *Config, group string, assignments map[string][]kafka.PartitionAssignment) (int64, error) {
	client := cfg.Client(10 * time.Second)
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	parts := map[string][]int{}
	for topic, as := range assignments {
		for _, a := range as {
			req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(a.ID), kafka.LastOffsetOf(a.ID))
			parts[topic] = append(parts[topic], a.ID)
		}
	}
	ends, err := endOffsets(ctx, client, req)
	if err != nil {
		return 0, err
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	done := map[string]map[int]int64{}
	for t, ps := range committed.Topics {
		done[t] = map[int]int64{}
		for _, p := range ps {
			done[t][p.Partition] = p.CommittedOffset
		}
	}
	var lag int64
	for t, ps := range ends {
		for _, p := range ps {
			at, ok := done[t][p.Partition]
			if !ok || at < p.FirstOffset {
				at = p.FirstOffset
			}
			lag += max(0, p.LastOffset-at)
		}
	}
	return lag, nil
}
