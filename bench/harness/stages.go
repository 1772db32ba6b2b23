package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/wire"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// running is a runner of stages in this process.
type running struct {
	r      *pipeline.Runner
	cancel context.CancelFunc
	done   chan error
}

// startRunner builds a runner with the stages add adds and runs it.
func startRunner(ctx context.Context, cfg *pipeline.Config, add func(r *pipeline.Runner) error) (*running, error) {
	r := pipeline.NewRunner(*cfg, nil, nil)
	if err := add(r); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	x := &running{r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { x.done <- r.Run(rctx) }()
	return x, nil
}

func (x *running) stop() error {
	x.cancel()
	err := <-x.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// The stages as `leadpipe run` builds them, with its defaults (wire).
func addClassify(cfg *pipeline.Config) func(*pipeline.Runner) error {
	return func(r *pipeline.Runner) error { return wire.Add(r, cfg, settings(nil), "classify") }
}

func addEnrich(cfg *pipeline.Config) func(*pipeline.Runner) error {
	return func(r *pipeline.Runner) error { return wire.Add(r, cfg, settings(nil), "enrich") }
}

func addSink(cfg *pipeline.Config, conn driver.Conn, db string) func(*pipeline.Runner) error {
	return func(r *pipeline.Runner) error {
		return wire.Add(r, cfg, settings(analytics.NewWriter(conn, db)), "sink")
	}
}

// produceDelay, when set (--enrich-produce-delay), replaces wire's
// default for enrich; batchAge (--batch-age), the Kafka stages' default
// batch age; sinkBatchAge (--sink-batch-age), the sink's.
var produceDelay, batchAge, sinkBatchAge time.Duration

// noSignals (--signals=false) leaves the visitors' consent signals out of
// the workload and runs enrich with a signal policy whose unknown allows
// analytics and profiling: the pipeline as before issue 26, to measure
// what the signals cost.
var noSignals bool

// permissive is the default signal policy with unknown allowing both.
func permissive() *enrich.SignalPolicy {
	def := string(enrich.DefaultSignalPolicyYAML())
	y := strings.Replace(def, "unknown:\n  analytics: false\n  profiling: false", "unknown:\n  analytics: true\n  profiling: true", 1)
	if y == def {
		panic("the default signal policy's unknown block is not as the harness expects")
	}
	f, err := os.CreateTemp("", "signals-*.yaml")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(y); err != nil {
		panic(err)
	}
	f.Close()
	p, err := enrich.LoadSignalPolicy(f.Name(), 0)
	if err != nil {
		panic(err)
	}
	return p
}

// settings are wire's defaults with the development key.
func settings(w *analytics.Writer) wire.Settings {
	s := wire.Defaults()
	s.Keys, s.Writer = pseudonym.Development(), w
	if produceDelay > 0 {
		s.EnrichProduceDelay = produceDelay
	}
	if sinkBatchAge > 0 {
		s.Sink.BatchAge = sinkBatchAge
	}
	if noSignals {
		s.Signals = permissive()
	}
	return s
}

func all(fns ...func(*pipeline.Runner) error) func(*pipeline.Runner) error {
	return func(r *pipeline.Runner) error {
		for _, f := range fns {
			if err := f(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// openClickHouse opens a connection and a fresh, migrated database.
func openClickHouse(ctx context.Context, o *options, db string) (driver.Conn, error) {
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database = o.clickhouse, db
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{db, db + "_marketing"} {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if _, err := analytics.Migrate(ctx, conn, db, db+"_marketing", ""); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}
