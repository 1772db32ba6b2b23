package main

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-faster/city"

	"github.com/leadpipe/leadpipe/analytics"
)

// runCluster: rows per second of the sink's writer on the local ClickHouse
// cluster (scripts/cluster-up.sh), inserting through the Distributed
// behavior_events with insert_distributed_sync, as the sink does, against
// inserting the same rows straight into each shard's local table, split by
// the sharding key in the client, both shards at once: what a sink writing
// to the shards itself would do. The materialized views of
// behavior_events_local run in both. When the cluster does not answer, it
// starts it (scripts/cluster-up.sh) and stops it after: the scenario runs
// last, and the other scenarios run without its servers beside them (they
// cost the latency scenario about a tenth).
func runCluster(ctx context.Context, o *options, r *report) error {
	if len(o.cluster) != 3 {
		return fmt.Errorf("--cluster names %d nodes, want 3 (shard 1's two replicas, then shard 2)", len(o.cluster))
	}
	if !answers(ctx, o.cluster[0]) {
		log.Printf("  starting the local cluster (scripts/cluster-up.sh), stopped after the scenario")
		if out, err := exec.CommandContext(ctx, "scripts/cluster-up.sh").CombinedOutput(); err != nil {
			return fmt.Errorf("scripts/cluster-up.sh: %v\n%s", err, out)
		}
		defer func() {
			if out, err := exec.Command("scripts/cluster-down.sh").CombinedOutput(); err != nil {
				log.Printf("scripts/cluster-down.sh: %v\n%s", err, out)
			}
		}()
	}
	rows, err := behaviorRows(o)
	if err != nil {
		return err
	}
	const db = "leadpipe_bench_cluster"
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database, cfg.Marketing, cfg.Cluster = o.cluster[0], db, db+"_marketing", "leadpipe"
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	drop := func() {
		for _, name := range []string{db, cfg.Marketing} {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" ON CLUSTER leadpipe")
		}
	}
	drop()
	defer drop()
	if _, err := analytics.Migrate(ctx, conn, db, cfg.Marketing, cfg.Cluster); err != nil {
		return err
	}
	dist := analytics.NewConfigWriter(conn, cfg)
	// One writer per shard on its local table: shard 1's first replica, shard 2.
	var shards [2]*analytics.Writer
	for i, addr := range []string{o.cluster[0], o.cluster[2]} {
		c := cfg
		c.Addr, c.Cluster = addr, ""
		sc, err := analytics.Open(ctx, c)
		if err != nil {
			return err
		}
		defer sc.Close()
		shards[i] = analytics.NewWriter(sc, db)
	}

	c := comparison{scenario: "ClickHouse cluster writer", what: "rows/s", unit: "behavior_events rows, 2 shards",
		variant: "through Distributed", baseline: "each shard's local table", goal: "", goalRatio: 0}
	landed := 0
	for run := range o.runs {
		for i := range 2 {
			direct := (run+i)%2 == 1
			// Event ids and offsets of their own per run: a replicated
			// table drops a block it has seen, and behavior_events
			// (ReplacingMergeTree) collapses rows of one event id as it
			// merges, which would make the count below wrong.
			batch := make([]analytics.BehaviorRow, len(rows))
			for j, row := range rows {
				row.EventID += "-" + strconv.Itoa(2*run+i)
				row.Offset = int64((2*run+i)*len(rows) + j)
				batch[j] = row
			}
			start := time.Now()
			if direct {
				err = insertByShard(ctx, shards, batch)
			} else {
				err = insertChunks(ctx, dist, batch)
			}
			if err != nil {
				return err
			}
			d := time.Since(start)
			landed += len(batch)
			if n, err := countAll(ctx, conn, db+".behavior_events"); err != nil || n != uint64(landed) {
				return fmt.Errorf("behavior_events holds %d rows across the shards, want %d (%v)", n, landed, err)
			}
			rate := float64(len(batch)) / d.Seconds()
			if direct {
				c.bs = append(c.bs, rate)
			} else {
				c.vs = append(c.vs, rate)
			}
			log.Printf("  run %d %s: %.0f rows/s", run+1, map[bool]string{true: "local tables", false: "Distributed"}[direct], rate)
		}
	}
	r.add(c)
	return nil
}

// insertChunks inserts rows with w, 50,000 at a time, as the sink batches.
func insertChunks(ctx context.Context, w *analytics.Writer, rows []analytics.BehaviorRow) error {
	for from := 0; from < len(rows); from += 50_000 {
		if err := analytics.Insert(ctx, w, analytics.TableBehavior, rows[from:min(from+50_000, len(rows))]); err != nil {
			return err
		}
	}
	return nil
}

// insertByShard splits rows by the sharding key of behavior_events
// (cityHash64 of the lead key, or of the visitor key when anonymous,
// modulo the two shards of weight 1) and inserts each part into its
// shard's local table, both at once.
func insertByShard(ctx context.Context, shards [2]*analytics.Writer, rows []analytics.BehaviorRow) error {
	var parts [2][]analytics.BehaviorRow
	for _, row := range rows {
		key := row.LeadKey
		if key == "" {
			key = row.VisitorKey
		}
		s := city.CH64([]byte(key)) % 2
		parts[s] = append(parts[s], row)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range shards {
		wg.Go(func() {
			for from := 0; from < len(parts[i]); from += 50_000 {
				if errs[i] = analytics.Insert(ctx, shards[i], analytics.TableBehavior+"_local", parts[i][from:min(from+50_000, len(parts[i]))]); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if errs[0] != nil {
		return errs[0]
	}
	return errs[1]
}

// answers reports whether the ClickHouse at addr answers.
func answers(ctx context.Context, addr string) bool {
	cfg := analytics.DefaultConfig()
	cfg.Addr = addr
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func countAll(ctx context.Context, conn driver.Conn, table string) (uint64, error) {
	var n uint64
	return n, conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&n)
}
