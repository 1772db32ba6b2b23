package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
)

// outcomes are the outcomes of leadpipe_records_total, in the CSV's order.
var outcomes = []string{"produced", "quarantined", "dead_lettered", "skipped"}

// stageSample is what one sample holds of one stage.
type stageSample struct {
	rssMiB   float64
	consumed int64
	outcome  map[string]int64
	inFlight int64
	lag      int64 // end offsets minus the group's commits, over its input topics
	commits  int64 // sum of the group's committed offsets
}

type sample struct {
	at       time.Duration
	produced int64
	stages   []stageSample
	rows     uint64 // behavior_events rows
}

// drained reports whether every stage has committed everything.
func (x *sample) drained() bool {
	for _, st := range x.stages {
		if st.lag != 0 || st.inFlight != 0 {
			return false
		}
	}
	return true
}

type sampler struct {
	s       *soak
	start   time.Time
	f       *os.File
	w       *csv.Writer
	conn    clickhouse.Conn
	client  *kafka.Client
	topics  map[string][]int // every topic of the run and its partitions
	last    *sample
	maxRSS  []float64
	firstOK []float64 // RSS after the first tenth of the run, to compare the end with
}

func newSampler(s *soak) (*sampler, error) {
	f, err := os.Create(filepath.Join(s.o.out, "soak.csv"))
	if err != nil {
		return nil, err
	}
	conn, err := s.clickhouse()
	if err != nil {
		return nil, err
	}
	cfg := s.config()
	w := &sampler{s: s, start: time.Now(), f: f, w: csv.NewWriter(f), conn: conn, client: cfg.Client(10 * time.Second),
		topics: map[string][]int{}, maxRSS: make([]float64, len(stages))}
	for _, t := range pipeline.AllTopics {
		for p := range s.o.partitions {
			w.topics[cfg.Topic(t.Name)] = append(w.topics[cfg.Topic(t.Name)], p)
		}
	}
	head := []string{"seconds", "produced", "behavior_rows"}
	for _, st := range stages {
		head = append(head, st+"_rss_mib", st+"_lag", st+"_consumed")
		for _, o := range outcomes {
			head = append(head, st+"_"+o)
		}
	}
	return w, w.w.Write(head)
}

func (w *sampler) close() {
	w.w.Flush()
	w.f.Close()
	w.conn.Close()
}

// sample reads every stage's memory, metrics and lag, and the rows landed,
// and appends them to the CSV.
func (w *sampler) sample(ctx context.Context) error {
	x := &sample{at: time.Since(w.start), produced: w.s.produced.Load()}
	ends, err := w.ends(ctx)
	if err != nil {
		return err
	}
	for i, p := range w.s.procs {
		st := stageSample{outcome: map[string]int64{}}
		st.rssMiB = rss(p.cmd.Process.Pid)
		if err := scrape(p.metrics, &st); err != nil {
			return fmt.Errorf("metrics of %s: %w", p.stage, err)
		}
		if st.lag, st.commits, err = w.lag(ctx, w.s.groups+p.stage, ends); err != nil {
			return fmt.Errorf("lag of %s: %w", p.stage, err)
		}
		w.maxRSS[i] = max(w.maxRSS[i], st.rssMiB)
		x.stages = append(x.stages, st)
	}
	if err := w.conn.QueryRow(ctx, "SELECT count() FROM "+w.s.db+".behavior_events").Scan(&x.rows); err != nil {
		return fmt.Errorf("count behavior rows: %w", err)
	}
	if w.firstOK == nil && x.at >= w.s.o.duration/10 {
		for _, st := range x.stages {
			w.firstOK = append(w.firstOK, st.rssMiB)
		}
	}
	w.last = x
	row := []string{strconv.FormatFloat(x.at.Seconds(), 'f', 0, 64), strconv.FormatInt(x.produced, 10), strconv.FormatUint(x.rows, 10)}
	for _, st := range x.stages {
		row = append(row, strconv.FormatFloat(st.rssMiB, 'f', 1, 64), strconv.FormatInt(st.lag, 10), strconv.FormatInt(st.consumed, 10))
		for _, o := range outcomes {
			row = append(row, strconv.FormatInt(st.outcome[o], 10))
		}
	}
	if err := w.w.Write(row); err != nil {
		return err
	}
	w.w.Flush()
	return w.w.Error()
}

// ends are the end offsets of every topic of the run.
func (w *sampler) ends(ctx context.Context) (map[string]map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for t, ps := range w.topics {
		for _, p := range ps {
			req.Topics[t] = append(req.Topics[t], kafka.LastOffsetOf(p))
		}
	}
	resp, err := w.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int]int64{}
	for t, ps := range resp.Topics {
		out[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return nil, p.Error
			}
			out[t][p.Partition] = p.LastOffset
		}
	}
	return out, nil
}

// lag is the sum over the partitions the group has committed on of the end
// offset minus the commit, and the sum of the commits.
func (w *sampler) lag(ctx context.Context, group string, ends map[string]map[int]int64) (lag, commits int64, err error) {
	resp, err := w.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: w.topics})
	if err != nil {
		return 0, 0, err
	}
	if resp.Error != nil {
		return 0, 0, resp.Error
	}
	for t, ps := range resp.Topics {
		for _, p := range ps {
			if p.CommittedOffset < 0 {
				continue
			}
			lag += ends[t][p.Partition] - p.CommittedOffset
			commits += p.CommittedOffset
		}
	}
	return lag, commits, nil
}

// rss is the resident memory of a process in MiB, from /proc.
func rss(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// scrape reads the runtime's record counters from a stage's /metrics.
func scrape(addr string, st *stageSample) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "leadpipe_records_consumed_total{"):
			st.consumed = int64(v)
		case strings.HasPrefix(name, "leadpipe_records_in_flight{"):
			st.inFlight = int64(v)
		case strings.HasPrefix(name, "leadpipe_records_total{"):
			for _, o := range outcomes {
				if strings.Contains(name, `outcome="`+o+`"`) {
					st.outcome[o] = int64(v)
				}
			}
		}
	}
	return sc.Err()
}
