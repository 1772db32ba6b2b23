package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"
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
