package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/leadpipe/leadpipe/pipeline"
)

// runClassify: consume → classify → produce through Kafka, against the
// same runtime copying the records without classifying them.
func runClassify(ctx context.Context, o *options, r *report) error {
	events, err := corpus(o.leads*5, false)
	if err != nil {
		return err
	}
	c := comparison{scenario: "classify stage through Kafka", what: "events/s", unit: "lead and consent events",
		variant: "classify", baseline: "passthrough", goal: "≥ 0.6× passthrough", goalRatio: 0.6}
	for run := range o.runs {
		for i := range 2 {
			passthrough := (run+i)%2 == 1 // alternate which goes first
			cfg := kafkaConfig(o, "classify")
			var rate float64
			err := withTopics(ctx, &cfg, func() error {
				if err := produce(ctx, &cfg, events); err != nil {
					return err
				}
				add := addClassify(&cfg)
				name := "classify"
				if passthrough {
					name = "passthrough"
					add = func(rn *pipeline.Runner) error {
						return rn.Add(pipeline.NewPassthroughStage(name,
							[]string{cfg.Topic(pipeline.TopicLeadsRaw), cfg.Topic(pipeline.TopicConsentsRaw)},
							cfg.Topic(pipeline.TopicLeadsClassified)), nil)
					}
				}
				rate, err = drainRate(ctx, &cfg, add, name, len(events))
				return err
			})
			if err != nil {
				return err
			}
			if passthrough {
				c.bs = append(c.bs, rate)
			} else {
				c.vs = append(c.vs, rate)
			}
			log.Printf("  run %d %s: %.0f events/s", run+1, map[bool]string{true: "passthrough", false: "classify"}[passthrough], rate)
		}
	}
	r.add(c)
	return nil
}

// drainRate runs the stages add adds until stage has consumed n records
// and everything is committed, and returns records per second from the
// first record consumed.
func drainRate(ctx context.Context, cfg *pipeline.Config, add func(*pipeline.Runner) error, stage string, n int) (float64, error) {
	x, err := startRunner(ctx, cfg, add)
	if err != nil {
		return 0, err
	}
	defer x.stop()
	t0, c0, err := firstConsumed(ctx, x.r, stage)
	if err != nil {
		return 0, err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := x.r.WaitDrained(dctx); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if got := x.r.Counts(stage).Consumed; got < int64(n) {
		return 0, fmt.Errorf("%s consumed %d of %d records", stage, got, n)
	}
	return float64(int64(n)-c0) / d.Seconds(), nil
}
