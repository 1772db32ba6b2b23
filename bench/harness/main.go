// Command harness measures leadpipe through the real Kafka broker and
// ClickHouse, each figure side by side with a baseline that does less, run
// interleaved, and rewrites the harness section of bench/RESULTS.md.
//
//	go run ./bench/harness --brokers 127.0.0.1:19092 --clickhouse 127.0.0.1:19000
//
// `make bench` starts the services as the tests do and runs it. Every run
// gets topics of its own (a fresh prefix), deleted afterwards.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

type options struct {
	brokers    []string
	clickhouse string
	cluster    []string
	runs       int
	leads      int
	partitions int
	// latencyRate fixes the latency scenario's rate; zero takes half the
	// end-to-end scenario's.
	latencyRate float64
	out         string
	only        map[string]bool
}

func main() {
	var o options
	brokers := flag.String("brokers", "127.0.0.1:19092", "Kafka brokers, comma separated")
	flag.StringVar(&o.clickhouse, "clickhouse", "127.0.0.1:19000", "ClickHouse native address")
	cluster := flag.String("cluster", "127.0.0.1:19201,127.0.0.1:19202,127.0.0.1:19203", "the local ClickHouse cluster's nodes (scripts/cluster-up.sh): shard 1's two replicas, then shard 2")
	flag.IntVar(&o.runs, "runs", 5, "runs of each variant; each figure is their median")
	flag.IntVar(&o.leads, "leads", 8000, "leads of the workload (about 22 events each)")
	flag.IntVar(&o.partitions, "partitions", 4, "partitions of every topic, for every variant")
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "results file whose harness section is rewritten ('' prints only)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.DurationVar(&batchAge, "batch-age", 0, "the Kafka stages' --batch-age (default: leadpipe's)")
	flag.DurationVar(&produceDelay, "enrich-produce-delay", 0, "enrich's --enrich-produce-delay (default: leadpipe's)")
	flag.DurationVar(&sinkBatchAge, "sink-batch-age", 0, "the sink's --sink-batch-age (default: leadpipe's)")
	flag.BoolVar(&noSignals, "no-signals", false, "behavior without the visitors' consent signals, enrich's unknown allowing analytics and profiling: the pipeline as before issue 26")
	flag.Float64Var(&o.latencyRate, "latency-rate", 0, "events/s of the latency scenario (default: half the end-to-end rate measured before it, else 10,000)")
	only := flag.String("only", "", "comma-separated scenarios to run: e2e, latency, classify, reader, sink, scaling, cluster, intake (default all)")
	flag.Parse()
	o.brokers = strings.Split(*brokers, ",")
	o.cluster = strings.Split(*cluster, ",")
	if *only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			o.only[s] = true
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.SetFlags(log.Ltime)
	if err := run(ctx, &o); err != nil {
		log.Printf("harness: %v", err)
		stop()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// scenario is one comparison: a variant and its baseline.
type scenario struct {
	name string
	run  func(ctx context.Context, o *options, r *report) error
}

var scenarios = []scenario{
	{"classify", runClassify},
	{"reader", runReader},
	{"sink", runSink},
	{"e2e", runEndToEnd},
	{"latency", runLatency},
	{"scaling", runScaling},
	{"cluster", runCluster},
	{"intake", runIntake},
}

func run(ctx context.Context, o *options) error {
	r := newReport(o)
	for _, s := range scenarios {
		if o.only != nil && !o.only[s.name] {
			continue
		}
		log.Printf("scenario %s", s.name)
		start := time.Now()
		if err := s.run(ctx, o, r); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			r.fail(s.name, err)
			log.Printf("scenario %s failed: %v", s.name, err)
			continue
		}
		log.Printf("scenario %s done in %s", s.name, time.Since(start).Round(time.Second))
	}
	text := r.markdown()
	fmt.Print(text)
	if o.out == "" {
		return nil
	}
	return r.write(o.out, text)
}
