// Command soak runs leadpipe for a long time at a steady rate and samples
// what must stay flat: the memory of each stage's process, the lag of each
// stage's consumer group, and the counts of its records.
//
// It builds the leadpipe command, starts classify, enrich and the sink as
// three `leadpipe run` processes against a real broker and ClickHouse (make
// services), and produces a fixed population of leads round after round
// (each round a new seed, so new event ids, a day later than the last). It
// writes a sample every --sample to soak.csv, plots them to soak.png, and at
// the end stops the load, waits for the stages to drain and reconciles: every
// stage's records add up, every raw record was consumed once, and every
// behavior record enrich produced is one row in ClickHouse.
//
//	make soak                          # an hour at 10,000 events/s
//	make soak SOAK_DURATION=10m        # shorter
//
// The result worth keeping goes into RELIABILITY.md by hand.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	brokers    string
	clickhouse string
	duration   time.Duration
	rate       float64
	leads      int
	partitions int
	sample     time.Duration
	out        string
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "127.0.0.1:19092", "Kafka brokers, comma separated")
	flag.StringVar(&o.clickhouse, "clickhouse", "127.0.0.1:19000", "ClickHouse native address")
	flag.DurationVar(&o.duration, "duration", time.Hour, "how long to produce")
	flag.Float64Var(&o.rate, "rate", 10000, "events produced per second (a little over half of what the three processes sustained on 2 cores, erasures included: RELIABILITY.md)")
	flag.IntVar(&o.leads, "leads", 20000, "leads of the population produced again every round (bounds the state)")
	flag.IntVar(&o.partitions, "partitions", 4, "partitions of every topic")
	flag.DurationVar(&o.sample, "sample", 10*time.Second, "time between samples")
	flag.StringVar(&o.out, "out", "bench/out/soak", "directory for soak.csv, soak.png and the stages' logs")
	replot := flag.Bool("replot", false, "only draw soak.png again from the soak.csv in --out")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *replot {
		if err := drawPlot(filepath.Join(o.out, "soak.csv"), filepath.Join(o.out, "soak.png")); err != nil {
			log.Fatalf("soak: %v", err)
		}
		return
	}
	if err := run(ctx, &o); err != nil {
		// Whatever ended the run, the samples so far are drawn.
		if perr := drawPlot(filepath.Join(o.out, "soak.csv"), filepath.Join(o.out, "soak.png")); perr != nil {
			log.Printf("soak: plot: %v", perr)
		}
		log.Fatalf("soak: %v", err)
	}
}

func run(ctx context.Context, o *options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(o.out, "leadpipe")
	log.Printf("building %s", bin)
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/leadpipe").CombinedOutput(); err != nil {
		return fmt.Errorf("build leadpipe: %v\n%s", err, out)
	}
	var b [3]byte
	rand.Read(b[:])
	id := "soak-" + hex.EncodeToString(b[:])
	s := &soak{o: o, bin: bin, prefix: id + ".", groups: id + "-", db: strings.ReplaceAll(id, "-", "_")}
	conn := []string{"--brokers", o.brokers, "--topic-prefix", s.prefix}
	if err := s.leadpipe(ctx, append([]string{"topics", "--partitions", strconv.Itoa(o.partitions)}, conn...)...); err != nil {
		return err
	}
	defer s.dropTopics()
	if err := s.leadpipe(ctx, "migrate", "--clickhouse", o.clickhouse, "--clickhouse-db", s.db); err != nil {
		return err
	}
	defer s.dropDatabase()
	for _, stage := range stages {
		if err := s.start(stage); err != nil {
			return err
		}
	}
	defer s.stopAll()

	w, err := newSampler(s)
	if err != nil {
		return err
	}
	defer w.close()
	log.Printf("producing %.0f events/s for %s on %s (topics %s*, database %s)", o.rate, o.duration, o.brokers, s.prefix, s.db)
	loadCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	loadDone := make(chan error, 1)
	go func() { loadDone <- s.produce(loadCtx) }()
	tick := time.NewTicker(o.sample)
	defer tick.Stop()
	for producing := true; producing; {
		select {
		case err := <-loadDone:
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				return err
			}
			producing = false
		case <-tick.C:
			if err := w.sample(ctx); err != nil {
				return err
			}
		}
		if err := s.exited(); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	log.Printf("load done: %d events produced; waiting for the stages to drain", s.produced.Load())
	drainCtx, cancelDrain := context.WithTimeout(ctx, 10*time.Minute)
	defer cancelDrain()
	for {
		if err := w.sample(drainCtx); err != nil {
			return fmt.Errorf("draining: %w", err)
		}
		if w.last.drained() {
			break
		}
		select {
		case <-drainCtx.Done():
			return errors.New("the stages did not drain within 10 minutes of the end of the load")
		case <-time.After(o.sample):
		}
	}
	rec, err := s.reconcile(ctx, w)
	if err != nil {
		return err
	}
	w.close()
	if err := drawPlot(filepath.Join(o.out, "soak.csv"), filepath.Join(o.out, "soak.png")); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	fmt.Print(w.summary(rec))
	if !rec.ok() {
		return errors.New("the counts do not reconcile (see above)")
	}
	return nil
}
