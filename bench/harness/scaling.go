package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
)

// runScaling: classify, then enrich, in two processes of one consumer
// group (two runners in this process: two members, each with its own
// tasks), against one, on the same events, produced once every member has
// its partitions. The ratio is what a second process buys on this machine;
// DESIGN.md sizes a cluster from it.
func runScaling(ctx context.Context, o *options, r *report) error {
	events, err := corpus(o.leads*2, true)
	if err != nil {
		return err
	}
	var leadsAndConsents, behavior []workload.Event
	for _, e := range events {
		if e.Topic == workload.TopicBehavior {
			behavior = append(behavior, e)
		} else {
			leadsAndConsents = append(leadsAndConsents, e)
		}
	}
	for _, stage := range []string{"classify", "enrich"} {
		c := comparison{scenario: stage + " scaling", what: "events/s", unit: stage + "'s input events, 12 partitions",
			variant: "2 processes", baseline: "1 process"}
		for run := range o.runs {
			for i := range 2 {
				procs := 1 + (run+i)%2 // alternate which goes first
				cfg := kafkaConfig(o, "scale")
				cfg.Partitions = 12
				var rate float64
				err := withTopics(ctx, &cfg, func() error {
					in := leadsAndConsents
					add := addClassify(&cfg)
					if stage == "enrich" {
						// enrich needs its leads classified: classify runs
						// first, alone, and is not timed.
						if err := produce(ctx, &cfg, leadsAndConsents); err != nil {
							return err
						}
						if _, err := drainRate(ctx, &cfg, addClassify(&cfg), "classify", len(leadsAndConsents)); err != nil {
							return err
						}
						in, add = behavior, addEnrich(&cfg)
					}
					var err error
					rate, err = scaledRate(ctx, &cfg, add, stage, procs, in)
					return err
				})
				if err != nil {
					return err
				}
				if procs == 2 {
					c.vs = append(c.vs, rate)
				} else {
					c.bs = append(c.bs, rate)
				}
				log.Printf("  run %d %s, %d process(es): %.0f events/s", run+1, stage, procs, rate)
			}
		}
		r.add(c)
	}
	return nil
}

// scaledRate starts procs runners of one stage in one group, waits until
// the group has given every one of them partitions (no rebalance during
// the timing), produces in, and returns records per second from the first
// record consumed by any of them until the group has committed them all.
func scaledRate(ctx context.Context, cfg *pipeline.Config, add func(*pipeline.Runner) error, stage string, procs int, in []workload.Event) (float64, error) {
	var xs []*running
	for range procs {
		x, err := startRunner(ctx, cfg, add)
		if err != nil {
			return 0, err
		}
		defer x.stop()
		xs = append(xs, x)
	}
	settle := time.Now().Add(2 * time.Minute)
	for ready := 0; ready < procs; {
		ready = 0
		for _, x := range xs {
			if x.r.Ready() {
				ready++
			}
		}
		if time.Now().After(settle) {
			return 0, fmt.Errorf("%d of %d %s processes got partitions in 2 minutes", ready, procs, stage)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	time.Sleep(2 * time.Second) // past the group's last rebalance of the joins
	if err := produce(ctx, cfg, in); err != nil {
		return 0, err
	}
	n := len(in)
	var t0 time.Time
	for t0.IsZero() {
		for _, x := range xs {
			if x.r.Counts(stage).Consumed > 0 {
				t0 = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	// The group has committed the end of every input, twice in a row (a
	// runner's WaitDrained counts its own records only).
	topics := []string{cfg.Topic(pipeline.TopicLeadsRaw), cfg.Topic(pipeline.TopicConsentsRaw), cfg.Topic(pipeline.TopicSuppressions)}
	if stage == "enrich" {
		topics = []string{cfg.Topic(pipeline.TopicBehaviorRaw)}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for streak := 0; streak < 2; {
		ok, err := pipeline.GroupCaughtUp(ctx, cfg, cfg.Group(stage), topics...)
		if err != nil {
			return 0, err
		}
		if ok {
			streak++
		} else {
			streak = 0
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not drain in 5 minutes", stage)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	d := time.Since(t0)
	var consumed int64
	for _, x := range xs {
		consumed += x.r.Counts(stage).Consumed
	}
	if consumed < int64(n) && stage == "enrich" {
		return 0, fmt.Errorf("%s consumed %d of %d records", stage, consumed, n)
	}
	return float64(n) / d.Seconds(), nil
}
