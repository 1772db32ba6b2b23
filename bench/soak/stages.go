package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
)

// stages run as one process each, in this order.
var stages = []string{"classify", "enrich", "sink"}

// soak is one run: its topics, database and stage processes.
type soak struct {
	o        *options
	bin      string
	prefix   string // topic prefix
	groups   string // group prefix
	db       string
	procs    []*proc
	produced atomic.Int64
}

// proc is one `leadpipe run STAGE` process.
type proc struct {
	stage   string
	cmd     *exec.Cmd
	metrics string // address of its /metrics
	log     *os.File
	done    chan struct{}
	err     error
}

// leadpipe runs a leadpipe command to its end.
func (s *soak) leadpipe(ctx context.Context, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("leadpipe %s: %v\n%s", args[0], err, out.String())
	}
	return nil
}

func (s *soak) config() pipeline.Config {
	cfg := pipeline.DefaultConfig()
	cfg.Brokers = strings.Split(s.o.brokers, ",")
	cfg.TopicPrefix, cfg.GroupPrefix, cfg.Partitions = s.prefix, s.groups, s.o.partitions
	return cfg
}

// start starts `leadpipe run STAGE` with its log in the output directory.
func (s *soak) start(stage string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(s.o.out, stage+".log"))
	if err != nil {
		return err
	}
	p := &proc{stage: stage, metrics: addr, log: f, done: make(chan struct{})}
	p.cmd = exec.Command(s.bin, "run", "--dev-key", "--brokers", s.o.brokers, "--topic-prefix", s.prefix,
		"--group-prefix", s.groups, "--metrics-addr", addr, "--clickhouse", s.o.clickhouse, "--clickhouse-db", s.db, stage)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", stage, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.procs = append(s.procs, p)
	log.Printf("started %s (pid %d, metrics on %s)", stage, p.cmd.Process.Pid, addr)
	return nil
}

// exited returns an error when a stage's process ended by itself.
func (s *soak) exited() error {
	for _, p := range s.procs {
		select {
		case <-p.done:
			return fmt.Errorf("leadpipe run %s exited (%v); its log is %s", p.stage, p.err, p.log.Name())
		default:
		}
	}
	return nil
}

func (s *soak) stopAll() {
	for _, p := range s.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			p.cmd.Process.Kill()
			<-p.done
		}
		p.log.Close()
	}
}

func (s *soak) dropTopics() {
	cfg := s.config()
	var names []string
	for _, t := range pipeline.AllTopics {
		names = append(names, cfg.Topic(t.Name))
	}
	cfg.Client(30*time.Second).DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: names})
}

func (s *soak) dropDatabase() {
	conn, err := s.clickhouse()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+s.db)
}

func (s *soak) clickhouse() (clickhouse.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{Addr: []string{s.o.clickhouse}, DialTimeout: 10 * time.Second})
}

// produce writes the population's events at the rate until ctx ends, round
// after round: round r has seed r+1 (new event ids) and lasts a day, r days
// after the first.
func (s *soak) produce(ctx context.Context) error {
	cfg := s.config()
	w := pipeline.NewWriter(&cfg)
	defer w.Close()
	start := time.Now()
	batch := make([]kafka.Message, 0, 1000)
	flush := func() error {
		sent := s.produced.Load() + int64(len(batch))
		if wait := time.Duration(float64(sent)/s.o.rate*float64(time.Second)) - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		// Not ctx: a batch begun is written whole, so that the count of
		// what was produced stays exact when the load's time is up.
		if err := w.WriteMessages(context.Background(), batch...); err != nil {
			return err
		}
		s.produced.Add(int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	days := int(workload.Latest.Sub(workload.DefaultConfig().Start)/(24*time.Hour)) - 1
	for round := 0; ; round++ {
		wl := workload.DefaultConfig()
		wl.Seed, wl.Leads, wl.Span = uint64(round+1), s.o.leads, 24*time.Hour
		wl.Start = wl.Start.Add(time.Duration(round%days) * 24 * time.Hour)
		err := workload.Generate(wl, func(e workload.Event) error {
			batch = append(batch, kafka.Message{Topic: cfg.Topic(e.Topic), Key: e.Key, Value: e.Value})
			if len(batch) == cap(batch) {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
