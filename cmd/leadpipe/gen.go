package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/pflag"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
)

const genSynopsis = `Usage: leadpipe gen [flags]

Generates a seeded, deterministic workload of lead, consent and behavior
events (the same seed gives the same bytes) and writes it to the raw topics
(--to kafka) or to stdout as JSONL (--to stdout, one event per line).

leadpipe classify reads lead and consent events only: leave behavior and
malformed events out to try it.

Example:
  leadpipe gen --leads 100 --behavior-per-lead 0 --malformed-rate 0 --to stdout | leadpipe classify --dev-key`

type genFlags struct {
	wl workload.Config
}

func (g *genFlags) register(fs *pflag.FlagSet) {
	fs.Uint64Var(&g.wl.Seed, "seed", g.wl.Seed, "seed of the workload")
	fs.IntVar(&g.wl.Leads, "leads", g.wl.Leads, "distinct leads")
	fs.Float64Var(&g.wl.BehaviorPerLead, "behavior-per-lead", g.wl.BehaviorPerLead, "mean behavior events per lead")
	fs.Float64Var(&g.wl.MalformedRate, "malformed-rate", g.wl.MalformedRate, "fraction of deliberately malformed events")
}

func cmdGen(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	g := genFlags{wl: workload.DefaultConfig()}
	kcfg := pipeline.DefaultConfig()
	fs := newFlagSet("gen", genSynopsis, stdout, stderr)
	g.register(fs)
	to := fs.String("to", "stdout", "where to write: stdout (JSONL) or kafka (the raw topics at --brokers)")
	kcfg.RegisterConnFlags(fs)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := g.wl.Validate(); err != nil {
		fmt.Fprintf(stderr, "leadpipe gen: %v\n", err)
		return 2
	}
	var err error
	var n int
	switch *to {
	case "stdout":
		w := bufio.NewWriterSize(stdout, 1<<20)
		err = workload.Generate(g.wl, func(e workload.Event) error {
			n++
			w.Write(e.Value)
			return w.WriteByte('\n')
		})
		if err == nil {
			err = w.Flush()
		}
	case "kafka":
		if err = kcfg.Validate(); err == nil {
			n, err = produceWorkload(ctx, &kcfg, g.wl)
		}
	default:
		fmt.Fprintf(stderr, "leadpipe gen: --to %q: write stdout or kafka\n", *to)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe gen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "leadpipe gen: wrote %d events\n", n)
	return 0
}

// produceWorkload writes the workload to the raw topics, keyed by lead id,
// in batches, and returns how many events it wrote.
func produceWorkload(ctx context.Context, cfg *pipeline.Config, wl workload.Config) (int, error) {
	w := pipeline.NewWriter(cfg)
	defer w.Close()
	const batchSize = 5000
	batch := make([]kafka.Message, 0, batchSize)
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err := workload.Generate(wl, func(e workload.Event) error {
		batch = append(batch, kafka.Message{Topic: cfg.Topic(e.Topic), Key: e.Key, Value: e.Value, Time: e.Time})
		if len(batch) == batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return n, err
}
