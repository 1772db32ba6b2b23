package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
)

// comparison is one line of the results: a variant against its baseline.
type comparison struct {
	scenario, what, unit string
	variant, baseline    string
	vs, bs               []float64 // per run
	goal                 string
	goalRatio            float64 // the ratio variant/baseline must reach (0: none)
	lowerIsBetter        bool
}

// figure is a single measured number with no baseline.
type figure struct {
	scenario, what, unit, goal string
	values                     []float64
	met                        string // "yes", "no" or ""
}

type report struct {
	o        *options
	started  time.Time
	machine  string
	services string
	rows     []comparison
	figures  []figure
	failures []string
	notes    []string
}

func newReport(o *options) *report {
	r := &report{o: o, started: time.Now()}
	r.machine = machineLine()
	ch := "ClickHouse at " + o.clickhouse
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := analytics.DefaultConfig()
	cfg.Addr = o.clickhouse
	if conn, err := analytics.Open(ctx, cfg); err == nil {
		var v string
		if conn.QueryRow(ctx, "SELECT version()").Scan(&v) == nil {
			ch = "ClickHouse " + v
		}
		conn.Close()
	}
	r.services = fmt.Sprintf("Apache Kafka (KRaft, single node) at %s; %s; all on this machine", strings.Join(o.brokers, ","), ch)
	return r
}

func (r *report) add(c comparison) { r.rows = append(r.rows, c) }
func (r *report) figure(f figure)  { r.figures = append(r.figures, f) }
func (r *report) note(s string)    { r.notes = append(r.notes, s) }
func (r *report) fail(s string, err error) {
	r.failures = append(r.failures, fmt.Sprintf("%s: %v", s, err))
}

func machineLine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	return fmt.Sprintf("%d cores (%s)%s, %s %s/%s", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

const (
	markStart = "<!-- harness:start -->"
	markEnd   = "<!-- harness:end -->"
)

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("%s\n## Through Kafka and ClickHouse\n\n", markStart)
	w("Written by `make bench` (`go run ./bench/harness`) on %s, in %s.\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.started).Round(time.Second))
	w("- Machine: %s. The broker, ClickHouse and leadpipe share it.\n", r.machine)
	w("- Services: %s.\n", r.services)
	w("- Settings, the same for every variant: %d partitions per topic, producer acks=all, no compression, "+
		"consumer batches of `leadpipe run`'s defaults (2,000 records / 50 ms; the sink 50,000 rows / 1 s), "+
		"ClickHouse 18.16 has no `async_insert` (so none is used), `stream_flush_interval_ms` = 1000 for the Kafka engine "+
		"(deploy/clickhouse/users.xml), as the sink's 1 s batch age.\n", r.o.partitions)
	w("- Workload: `bench/workload`, seed 1, no malformed events (18.16's Kafka engine cannot skip one): "+
		"classify uses the lead and consent events of %d leads (5 × --leads); the reader the behavior events, "+
		"the sink writer the behavior rows, end to end and latency every event of %d leads (about 22 events per lead).\n", 5*r.o.leads, r.o.leads)
	w("- Each figure is the median of %d runs, variant and baseline interleaved. Classify, end-to-end and latency runs "+
		"each get topics of their own; the reader's runs share one set (a fresh consumer group per leadpipe run); "+
		"the sink writer gets a fresh table per run. leadpipe's timings start at the first record consumed (group joins "+
		"left out); kcat's at its start, the Kafka engine's at the creation of its materialized view; the sink writer's "+
		"and clickhouse-client's cover the inserts only.\n\n", r.o.runs)
	w("| scenario | measure | leadpipe | baseline | ratio | goal | met |\n|---|---|---:|---:|---:|---|---|\n")
	for _, c := range r.rows {
		v, bl := median(c.vs), median(c.bs)
		ratio := 0.0
		if bl > 0 {
			ratio = v / bl
		}
		met := ""
		if c.goalRatio > 0 {
			met = "yes"
			if (!c.lowerIsBetter && ratio < c.goalRatio) || (c.lowerIsBetter && ratio > c.goalRatio) {
				met = "no"
			}
		}
		w("| %s | %s (%s) | %s: %s | %s: %s | %.2f | %s | %s |\n", c.scenario, c.what, c.unit,
			c.variant, num(v), c.baseline, num(bl), ratio, c.goal, met)
	}
	for _, f := range r.figures {
		w("| %s | %s (%s) | %s | | | %s | %s |\n", f.scenario, f.what, f.unit, num(median(f.values)), f.goal, f.met)
	}
	w("\nEvery run (leadpipe / baseline):\n\n")
	for _, c := range r.rows {
		w("- %s, %s: %s / %s\n", c.scenario, c.what, nums(c.vs), nums(c.bs))
	}
	for _, f := range r.figures {
		w("- %s, %s: %s\n", f.scenario, f.what, nums(f.values))
	}
	if len(r.notes) > 0 {
		w("\nNotes:\n\n")
		for _, n := range r.notes {
			w("- %s\n", n)
		}
	}
	if len(r.failures) > 0 {
		w("\nFailed scenarios:\n\n")
		for _, f := range r.failures {
			w("- %s\n", f)
		}
	}
	w("%s\n", markEnd)
	return b.String()
}

func num(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.3f", x)
}

func nums(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = num(x)
	}
	return strings.Join(s, ", ")
}

// write replaces the harness section of path (or the "## Through Kafka
// and ClickHouse" section, or appends) with text.
func (r *report) write(path, text string) error {
	path = repoFile(path)
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	switch i, j := strings.Index(s, markStart), strings.Index(s, markEnd); {
	case i >= 0 && j > i:
		s = s[:i] + text + s[j+len(markEnd)+1:]
	case strings.Contains(s, "## Through Kafka and ClickHouse"):
		i := strings.Index(s, "## Through Kafka and ClickHouse")
		rest := s[i+2:]
		end := len(s)
		if k := strings.Index(rest, "\n## "); k >= 0 {
			end = i + 2 + k + 1
		}
		s = s[:i] + text + s[end:]
	default:
		s = strings.TrimRight(s, "\n") + "\n\n" + text
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
