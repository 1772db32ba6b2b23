package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
)

// e2eRate is the median end-to-end rate, which the latency scenario
// halves.
var e2eRate float64

// runEndToEnd: events per second from the raw topics to rows in
// ClickHouse through classify, enrich and sink, against ClickHouse's own
// Kafka table engine loading the same raw JSON through a materialized view
// into a MergeTree table, with no classification at all.
func runEndToEnd(ctx context.Context, o *options, r *report) error {
	events, err := corpus(o.leads, true)
	if err != nil {
		return err
	}
	n := len(events)
	rate := comparison{scenario: "end to end", what: "events/s", unit: "raw topics → ClickHouse rows",
		variant: "classify+enrich+sink", baseline: "Kafka engine + MV", goal: "≥ 1.0× the engine", goalRatio: 1.0}
	cpu := comparison{scenario: "end to end", what: "machine CPU-s per million events", unit: "all processes",
		variant: "leadpipe", baseline: "Kafka engine", goal: "≤ 3× the engine", goalRatio: 3, lowerIsBetter: true}
	broker := comparison{scenario: "end to end", what: "Kafka broker CPU-s per million events", unit: "its process",
		variant: "leadpipe", baseline: "Kafka engine", lowerIsBetter: true}
	clickhouse := comparison{scenario: "end to end", what: "ClickHouse CPU-s per million events", unit: "its process",
		variant: "leadpipe", baseline: "Kafka engine", lowerIsBetter: true}
	var abs, self []float64
	for run := range o.runs {
		for i := range 2 {
			engine := (run+i)%2 == 1
			cfg := kafkaConfig(o, "e2e")
			var d time.Duration
			var used cpuClock
			err := withTopics(ctx, &cfg, func() error {
				if err := produce(ctx, &cfg, events); err != nil {
					return err
				}
				var err error
				if engine {
					d, used, err = engineLoad(ctx, o, &cfg, n)
				} else {
					d, used, err = leadpipeLoad(ctx, o, &cfg, n)
				}
				return err
			})
			if err != nil {
				return err
			}
			perM := func(c time.Duration) float64 { return c.Seconds() / (float64(n) / 1e6) }
			if engine {
				rate.bs = append(rate.bs, float64(n)/d.Seconds())
				cpu.bs = append(cpu.bs, perM(used.machine))
				broker.bs = append(broker.bs, perM(used.broker))
				clickhouse.bs = append(clickhouse.bs, perM(used.clickhouse))
			} else {
				broker.vs = append(broker.vs, perM(used.broker))
				clickhouse.vs = append(clickhouse.vs, perM(used.clickhouse))
				rate.vs = append(rate.vs, float64(n)/d.Seconds())
				cpu.vs = append(cpu.vs, perM(used.machine))
				abs = append(abs, float64(n)/d.Seconds())
				self = append(self, perM(used.self))
			}
			log.Printf("  run %d %s: %d events in %s, %.0f events/s", run+1,
				map[bool]string{true: "Kafka engine", false: "leadpipe"}[engine], n, d.Round(time.Millisecond), float64(n)/d.Seconds())
		}
	}
	e2eRate = median(abs)
	met := "no"
	if e2eRate >= 60_000 {
		met = "yes"
	}
	r.add(rate)
	r.figure(figure{scenario: "end to end", what: "leadpipe events/s", unit: "absolute", goal: "≥ 60,000", values: abs, met: met})
	r.add(cpu)
	r.figure(figure{scenario: "end to end", what: "leadpipe process CPU-s per million events", unit: "its own CPU", values: self})
	if median(broker.vs) > 0 && median(clickhouse.vs) > 0 { // the services run on this machine
		r.add(broker)
		r.add(clickhouse)
	}
	return nil
}

// leadpipeLoad runs every stage in this process until the corpus of n
// events has landed and is committed.
func leadpipeLoad(ctx context.Context, o *options, cfg *pipeline.Config, n int) (time.Duration, cpuClock, error) {
	db := "leadpipe_bench_e2e"
	conn, err := openClickHouse(ctx, o, db)
	if err != nil {
		return 0, cpuClock{}, err
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	x, err := startRunner(ctx, cfg, all(addClassify(cfg), addEnrich(cfg), addSink(cfg, conn, db)))
	if err != nil {
		return 0, cpuClock{}, err
	}
	defer x.stop()
	// Start the clock at the first record any stage consumes.
	var t0 time.Time
	for t0.IsZero() {
		for _, st := range []string{"classify", "enrich"} {
			if x.r.Counts(st).Consumed > 0 {
				t0 = time.Now()
			}
		}
		if ctx.Err() != nil {
			return 0, cpuClock{}, ctx.Err()
		}
		time.Sleep(time.Millisecond)
	}
	c0 := readCPU()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := x.r.WaitDrained(dctx); err != nil {
		return 0, cpuClock{}, err
	}
	d, used := time.Since(t0), readCPU().sub(c0)
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".behavior_events").Scan(&rows); err != nil || rows == 0 {
		return 0, cpuClock{}, fmt.Errorf("behavior_events holds %d rows after the drain (%v)", rows, err)
	}
	return d, used, nil
}

// engineLoad loads the raw topics with ClickHouse's Kafka engine and a
// materialized view, and returns once all n events are rows.
func engineLoad(ctx context.Context, o *options, cfg *pipeline.Config, n int) (time.Duration, cpuClock, error) {
	db := "leadpipe_bench_engine"
	conn, err := openClickHouse(ctx, o, db)
	if err != nil {
		return 0, cpuClock{}, err
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	topics := []string{cfg.Topic(pipeline.TopicLeadsRaw), cfg.Topic(pipeline.TopicConsentsRaw), cfg.Topic(pipeline.TopicBehaviorRaw)}
	group := cfg.GroupPrefix + "engine"
	// The engine's group starts at the latest offset when it has none
	// committed: commit the beginning first.
	req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for _, t := range topics {
		for p := range cfg.Partitions {
			req.Topics[t] = append(req.Topics[t], kafka.OffsetCommit{Partition: p, Offset: 0})
		}
	}
	client := cfg.Client(10 * time.Second)
	resp, err := client.OffsetCommit(ctx, req)
	if err != nil {
		return 0, cpuClock{}, fmt.Errorf("commit the engine's start offsets: %w", err)
	}
	for t, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return 0, cpuClock{}, fmt.Errorf("commit the engine's start offset of %s[%d]: %w", t, p.Partition, p.Error)
			}
		}
	}
	cols := "type String, event_id String, occurred_at String, lead_id String, anonymous_id String, action String"
	for _, q := range []string{
		"CREATE TABLE " + db + ".raw_events (" + cols + ") ENGINE = MergeTree() ORDER BY event_id",
		fmt.Sprintf("CREATE TABLE %s.raw_kafka (%s) ENGINE = Kafka SETTINGS kafka_broker_list = '%s', kafka_topic_list = '%s', "+
			"kafka_group_name = '%s', kafka_format = 'JSONEachRow', kafka_num_consumers = 1",
			db, cols, cfg.Brokers[0], strings.Join(topics, ","), group),
	} {
		if err := conn.Exec(ctx, q); err != nil {
			return 0, cpuClock{}, fmt.Errorf("%s: %w", q, err)
		}
	}
	defer conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+db+".raw_kafka")
	c0, t0 := readCPU(), time.Now()
	if err := conn.Exec(ctx, "CREATE MATERIALIZED VIEW "+db+".raw_mv TO "+db+".raw_events AS SELECT * FROM "+db+".raw_kafka"); err != nil {
		return 0, cpuClock{}, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var rows uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".raw_events").Scan(&rows); err != nil {
			return 0, cpuClock{}, err
		}
		if rows >= uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			return 0, cpuClock{}, fmt.Errorf("the Kafka engine loaded %d of %d events", rows, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(t0), readCPU().sub(c0), nil
}
