package main

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
)

// runReader: leadpipe's reader (the runtime's consumer group, fetch loop
// and commits, with a stage that does nothing) draining a topic, against
// kcat draining it.
func runReader(ctx context.Context, o *options, r *report) error {
	if _, err := exec.LookPath("kcat"); err != nil {
		return fmt.Errorf("kcat is not installed (apt-get install kcat): %w", err)
	}
	events, err := corpus(o.leads, true)
	if err != nil {
		return err
	}
	var behavior []workload.Event
	for _, e := range events {
		if e.Topic == workload.TopicBehavior {
			behavior = append(behavior, e)
		}
	}
	c := comparison{scenario: "Kafka client ceiling", what: "records/s", unit: "behavior.raw drained",
		variant: "leadpipe reader", baseline: "kcat -C -e", goal: "≥ 0.8× kcat", goalRatio: 0.8}
	cfg := kafkaConfig(o, "reader")
	err = withTopics(ctx, &cfg, func() error {
		if err := produce(ctx, &cfg, behavior); err != nil {
			return err
		}
		topic := cfg.Topic(pipeline.TopicBehaviorRaw)
		for run := range o.runs {
			for i := range 2 {
				var rate float64
				var err error
				if (run+i)%2 == 0 {
					rcfg := cfg
					rcfg.GroupPrefix = fmt.Sprintf("%sr%d-", cfg.GroupPrefix, run)
					rate, err = drainRate(ctx, &rcfg, func(rn *pipeline.Runner) error {
						return rn.Add(pipeline.NewPassthroughStage("reader", []string{topic}, ""), nil)
					}, "reader", len(behavior))
					if err != nil {
						return err
					}
					c.vs = append(c.vs, rate)
				} else {
					if rate, err = kcatDrain(ctx, o, topic, len(behavior)); err != nil {
						return err
					}
					c.bs = append(c.bs, rate)
				}
				log.Printf("  run %d: %.0f records/s", run+1, rate)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.add(c)
	return nil
}

// kcatDrain reads topic from the beginning to its end with kcat and
// returns records per second, counting the records it printed.
func kcatDrain(ctx context.Context, o *options, topic string, n int) (float64, error) {
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-q", "-e", "-o", "beginning", "-f", "%o\n",
		"-b", strings.Join(o.brokers, ","), "-t", topic)
	start := time.Now()
	out, err := cmd.Output()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("kcat: %w", err)
	}
	if got := strings.Count(string(out), "\n"); got != n {
		return 0, fmt.Errorf("kcat read %d of %d records", got, n)
	}
	return float64(n) / d.Seconds(), nil
}
