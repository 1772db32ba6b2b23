package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
)

// kafkaConfig is the runtime configuration every variant uses: the
// defaults of `leadpipe run` (acks=all, no compression) on topics of a
// fresh prefix.
func kafkaConfig(o *options, tag string) pipeline.Config {
	cfg := pipeline.DefaultConfig()
	cfg.Brokers = o.brokers
	var b [3]byte
	rand.Read(b[:])
	id := "bench-" + tag + "-" + hex.EncodeToString(b[:])
	cfg.TopicPrefix = id + "."
	cfg.GroupPrefix = id + "-"
	cfg.Partitions = o.partitions
	if batchAge > 0 {
		cfg.BatchAge = batchAge
	}
	return cfg
}

// withTopics creates cfg's topics, calls fn, and deletes them.
func withTopics(ctx context.Context, cfg *pipeline.Config, fn func() error) error {
	if _, err := pipeline.CreateTopics(ctx, cfg); err != nil {
		return err
	}
	defer deleteTopics(cfg)
	return fn()
}

func deleteTopics(cfg *pipeline.Config) {
	if err := pipeline.DeleteTopics(context.Background(), cfg); err != nil {
		log.Printf("  %v", err)
	}
}

var (
	corpusMu sync.Mutex
	corpora  = map[string][]workload.Event{}
)

// corpus returns the workload of leads leads, without malformed events
// (ClickHouse 18.16's Kafka engine cannot skip a broken message, and every
// variant must read the same bytes), and with behavior when withBehavior.
func corpus(leads int, withBehavior bool) ([]workload.Event, error) {
	key := fmt.Sprint(leads, withBehavior, noSignals)
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if c, ok := corpora[key]; ok {
		return c, nil
	}
	wl := workload.DefaultConfig()
	wl.Leads, wl.MalformedRate, wl.NoSignals = leads, 0, noSignals
	if !withBehavior {
		wl.BehaviorPerLead = 0
	}
	c, err := workload.All(wl)
	if err != nil {
		return nil, err
	}
	corpora[key] = c
	return c, nil
}

// produce writes events to their raw topics with the runtime's producer.
func produce(ctx context.Context, cfg *pipeline.Config, events []workload.Event) error {
	w := pipeline.NewWriter(cfg)
	defer w.Close()
	const chunk = 5000
	batch := make([]kafka.Message, 0, chunk)
	for i, e := range events {
		batch = append(batch, kafka.Message{Topic: cfg.Topic(e.Topic), Key: e.Key, Value: e.Value})
		if len(batch) == chunk || i == len(events)-1 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				return fmt.Errorf("produce: %w", err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

// cpuClock reads CPU time: this process's, the Kafka broker's and the
// ClickHouse server's (when they run on this machine), and the whole
// machine's.
type cpuClock struct {
	self, broker, clickhouse, machine time.Duration
}

func readCPU() cpuClock {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	broker, clickhouse := serviceCPU()
	return cpuClock{self: self, broker: broker, clickhouse: clickhouse, machine: machineCPU()}
}

// serviceCPU sums the CPU time of this machine's Kafka brokers (a java
// process running kafka.Kafka) and of its ClickHouse servers other than
// the local cluster's (scripts/cluster-up.sh), from /proc.
func serviceCPU() (broker, clickhouse time.Duration) {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		var into *time.Duration
		switch c := string(cmd); {
		case strings.Contains(c, "kafka.Kafka"):
			into = &broker
		case strings.HasPrefix(c, "clickhouse-server") && !strings.Contains(c, "/cluster/"):
			into = &clickhouse
		default:
			continue
		}
		*into += processCPU(d.Name())
	}
	return broker, clickhouse
}

// processCPU is the user and system time of process pid, from
// /proc/pid/stat.
func processCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted are those after it, utime and stime the 12th and 13th.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
}

// machineCPU is the busy time of every core since boot, from /proc/stat.
func machineCPU() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, f := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(f, 10, 64)
		busy += n
	}
	return time.Duration(busy) * (time.Second / 100) // USER_HZ
}

func (c cpuClock) sub(d cpuClock) cpuClock {
	return cpuClock{c.self - d.self, c.broker - d.broker, c.clickhouse - d.clickhouse, c.machine - d.machine}
}

// firstConsumed waits until the runner's stage has consumed a record and
// returns that moment: group joins are left out of the timings.
func firstConsumed(ctx context.Context, r *pipeline.Runner, stage string) (time.Time, int64, error) {
	for {
		if c := r.Counts(stage).Consumed; c > 0 {
			return time.Now(), c, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

// repoFile resolves a path of the repository from the working directory.
func repoFile(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	wd, _ := os.Getwd()
	return filepath.Join(wd, p)
}
