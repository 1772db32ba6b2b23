package pipeline

import (
	"context"
	"fmt"
	"time"
)

// WaitDrained returns once every stage has consumed and committed every
// record of its input topics, or ctx ends. Stages are checked in the order
// they were added, upstream first, so a downstream stage is only judged
// once everything upstream has been written. It suits a finite input
// produced beforehand (the demo, tests, benchmarks).
func (r *Runner) WaitDrained(ctx context.Context) error {
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
