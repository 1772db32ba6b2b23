package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// WaitDrained returns once every stage (or the stages named) has consumed
// and committed every record of its input topics, or ctx ends. Stages are
// checked in the order they were added, upstream first, so a downstream
// stage is only judged once everything upstream has been written; a
// stage's own notices (classify's) are among its inputs. It suits a finite
// input produced beforehand (the demo, tests, benchmarks).
func (r *Runner) WaitDrained(ctx context.Context, stages ...string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the input was not drained in time: %w", ctx.Err())
		case <-tick.C:
		}
		done := true
		for _, s := range r.stages {
			if len(stages) > 0 && !slices.Contains(stages, s.stage.Name()) {
				continue
			}
			want, err := TopicRecords(ctx, &r.cfg, s.stage.Topics()...)
			if err != nil {
				return err
			}
			c := s.counters.snapshot()
			if c.Consumed < want || c.InFlight > 0 {
				done = false
				break
			}
		}
		if done {
			return nil
		}
	}
}

// GroupCaughtUp reports whether consumer group has committed, on every
// partition of topics (full names), the end offset, and the ends did not
// move while it looked.
func GroupCaughtUp(ctx context.Context, cfg *Config, group string, topics ...string) (bool, error) {
	client := cfg.Client(10 * time.Second)
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
	// The ends again: a batch that produced (a notice to the group's own
	// input) and committed between the first look and the commits would
	// otherwise pass for caught up.
	again, err := client.ListOffsets(ctx, req)
	if err != nil {
		return false, err
	}
	first := map[string]map[int]int64{}
	for t, ps := range ends.Topics {
		first[t] = map[int]int64{}
		for _, p := range ps {
			first[t][p.Partition] = p.LastOffset
		}
	}
	for t, ps := range again.Topics {
		for _, p := range ps {
			if first[t][p.Partition] != p.LastOffset {
				return false, nil
			}
		}
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
