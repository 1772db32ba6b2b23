package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
	"github.com/leadpipe/leadpipe/stages/sink"
)

// behaviorColumns are the columns of behavior_events, as the writer names them.
const behaviorColumns = "event_id, occurred_at, action, channel, decision, lead_key, key_version, visitor_key, product_id, category, value, currency, _topic, _partition, _offset"

// runSink: rows per second of the sink's ClickHouse writer (one INSERT of
// up to 50,000 rows at a time, as the sink batches), against
// clickhouse-client inserting the same rows in Native format.
func runSink(ctx context.Context, o *options, r *report) error {
	if _, err := exec.LookPath("clickhouse-client"); err != nil {
		return fmt.Errorf("clickhouse-client is not installed: %w", err)
	}
	rows, err := behaviorRows(o)
	if err != nil {
		return err
	}
	const db = "leadpipe_bench_sink"
	conn, err := openClickHouse(ctx, o, db)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	w := analytics.NewWriter(conn, db)
	host, port, _ := strings.Cut(o.clickhouse, ":")
	native := filepath.Join(os.TempDir(), "leadpipe-bench-rows.native")
	defer os.Remove(native)

	// A table like behavior_events with no materialized view reading it.
	fresh := func() error {
		if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+db+".target"); err != nil {
			return err
		}
		return conn.Exec(ctx, "CREATE TABLE "+db+".target AS "+db+".behavior_events")
	}
	count := func() (uint64, error) {
		var n uint64
		return n, conn.QueryRow(ctx, "SELECT count() FROM "+db+".target").Scan(&n)
	}
	c := comparison{scenario: "ClickHouse sink writer", what: "rows/s", unit: "behavior_events rows",
		variant: "analytics.Insert", baseline: "clickhouse-client Native", goal: "≥ 0.8× clickhouse-client", goalRatio: 0.8}
	for run := range o.runs {
		for i := range 2 {
			if err := fresh(); err != nil {
				return err
			}
			var d time.Duration
			client := (run+i)%2 == 1 && fileExists(native)
			if client {
				f, err := os.Open(native)
				if err != nil {
					return err
				}
				cmd := exec.CommandContext(ctx, "clickhouse-client", "--host", host, "--port", port,
					"--query", "INSERT INTO "+db+".target ("+behaviorColumns+") FORMAT Native")
				cmd.Stdin = f
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				start := time.Now()
				err = cmd.Run()
				d = time.Since(start)
				f.Close()
				if err != nil {
					return fmt.Errorf("clickhouse-client: %v: %s", err, stderr.String())
				}
			} else {
				start := time.Now()
				for from := 0; from < len(rows); from += 50_000 {
					if err := analytics.Insert(ctx, w, "target", rows[from:min(from+50_000, len(rows))]); err != nil {
						return err
					}
				}
				d = time.Since(start)
			}
			if n, err := count(); err != nil || n != uint64(len(rows)) {
				return fmt.Errorf("target holds %d rows, want %d (%v)", n, len(rows), err)
			}
			rate := float64(len(rows)) / d.Seconds()
			if client {
				c.bs = append(c.bs, rate)
			} else {
				c.vs = append(c.vs, rate)
				if !fileExists(native) { // the baseline's input: the very rows the writer inserted
					if err := exportNative(ctx, host, port, "SELECT "+behaviorColumns+" FROM "+db+".target FORMAT Native", native); err != nil {
						return err
					}
				}
			}
			log.Printf("  run %d %s: %.0f rows/s", run+1, map[bool]string{true: "clickhouse-client", false: "writer"}[client], rate)
		}
	}
	if len(c.bs) < len(c.vs) { // the first baseline run came before the export existed
		r.note("sink: the first run of the writer also made the Native file, so clickhouse-client has one run fewer")
	}
	r.add(c)
	return nil
}

func exportNative(ctx context.Context, host, port, query, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "clickhouse-client", "--host", host, "--port", port, "--query", query)
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("export Native rows: %v: %s", err, stderr.String())
	}
	return nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// behaviorRows enriches the behavior events of the corpus of o.leads as
// the enrich stage would (unknown leads: anonymous) and maps them to rows
// as the sink does.
func behaviorRows(o *options) ([]analytics.BehaviorRow, error) {
	events, err := corpus(o.leads, true)
	if err != nil {
		return nil, err
	}
	leads := enrich.NewLeads(1)
	keys := pseudonym.Development()
	var rows []analytics.BehaviorRow
	for i, e := range events {
		if e.Topic != workload.TopicBehavior {
			continue
		}
		ev, err := schemas.DecodeBehavior(e.Value, schemas.DefaultLimits())
		if err != nil {
			return nil, err
		}
		en, _ := enrich.Enrich(ev, leads, keys, enrich.DefaultSignalPolicy(0))
		rows = append(rows, sink.Behavior(&en, analytics.Origin{Topic: "behavior.enriched", Partition: int32(i % 4), Offset: int64(i)}))
	}
	return rows, nil
}
