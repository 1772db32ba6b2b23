package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
)

// runLatency: p50 and p99 from produce to row in ClickHouse, at half the
// sustainable end-to-end rate, for lead, consent and behavior events.
func runLatency(ctx context.Context, o *options, r *report) error {
	rate := e2eRate / 2
	if o.latencyRate > 0 {
		rate = o.latencyRate
	} else if rate == 0 {
		rate = 10_000
		r.note("latency: the end-to-end scenario did not run, so the rate is a fixed 10,000 events/s")
	}
	events, err := corpus(o.leads, true)
	if err != nil {
		return err
	}
	const warm = 2000
	paced := events[warm:]
	if max := int(rate * 10); len(paced) > max { // at most 10 s of load
		paced = paced[:max]
	}
	p50 := figure{scenario: "latency", what: "p50 produce → row", unit: fmt.Sprintf("ms at %.0f events/s", rate)}
	p99 := figure{scenario: "latency", what: "p99 produce → row", unit: fmt.Sprintf("ms at %.0f events/s", rate), goal: "< 2,000 ms"}
	for run := range o.runs {
		cfg := kafkaConfig(o, "latency")
		var lat []float64
		err := withTopics(ctx, &cfg, func() error {
			db := "leadpipe_bench_latency"
			conn, err := openClickHouse(ctx, o, db)
			if err != nil {
				return err
			}
			defer conn.Close()
			defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			x, err := startRunner(ctx, &cfg, all(addClassify(&cfg), addEnrich(&cfg), addSink(&cfg, conn, db)))
			if err != nil {
				return err
			}
			defer x.stop()
			// Warm up: the groups join and the first records land.
			if err := produce(ctx, &cfg, events[:warm]); err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err = x.r.WaitDrained(wctx)
			cancel()
			if err != nil {
				return err
			}
			lat, err = measureLatency(ctx, &cfg, conn, db, paced, rate)
			return err
		})
		if err != nil {
			return err
		}
		p50.values = append(p50.values, percentile(lat, 0.50))
		p99.values = append(p99.values, percentile(lat, 0.99))
		log.Printf("  run %d: %d events at %.0f/s, p50 %.0f ms, p99 %.0f ms", run+1, len(lat), rate, percentile(lat, 0.5), percentile(lat, 0.99))
	}
	p99.met = "yes"
	if median(p99.values) >= 2000 {
		p99.met = "no"
	}
	r.figure(p50)
	r.figure(p99)
	r.note("latency: rows are found by polling ClickHouse every 20 ms, which adds up to 20 ms plus a query to every figure")
	return nil
}

// measureLatency produces events at rate and returns, for every one, the
// milliseconds from just before its produce call until a poll found its
// row in ClickHouse.
func measureLatency(ctx context.Context, cfg *pipeline.Config, conn driver.Conn, db string, events []workload.Event, rate float64) ([]float64, error) {
	var mu sync.Mutex
	sent := make(map[string]time.Time, len(events))
	ids := make([]string, len(events))
	for i, e := range events {
		var v struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(e.Value, &v)
		ids[i] = v.EventID
	}
	var lat []float64
	found := map[string]bool{}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollDone := make(chan error, 1)
	go func() {
		// Per table and partition, the highest offset seen: each poll
		// reads only the rows that landed since.
		last := map[string][]int64{}
		for _, t := range []string{"behavior_events", "classifications"} {
			last[t] = make([]int64, cfg.Partitions)
			for p := range last[t] {
				last[t][p] = -1
			}
		}
		for {
			for table, offs := range last {
				var cond []string
				for p, off := range offs {
					cond = append(cond, fmt.Sprintf("(_partition = %d AND _offset > %d)", p, off))
				}
				rows, err := conn.Query(pollCtx, "SELECT event_id, _partition, _offset FROM "+db+"."+table+" WHERE "+strings.Join(cond, " OR "))
				if err != nil {
					if pollCtx.Err() != nil {
						pollDone <- nil
					} else {
						pollDone <- err
					}
					return
				}
				now := time.Now()
				mu.Lock()
				for rows.Next() {
					var id string
					var p int32
					var off int64
					if err := rows.Scan(&id, &p, &off); err != nil {
						continue
					}
					if int(p) < len(offs) && off > offs[p] {
						offs[p] = off
					}
					if t, ok := sent[id]; ok && !found[id] {
						found[id] = true
						lat = append(lat, float64(now.Sub(t).Microseconds())/1000)
					}
				}
				mu.Unlock()
				rows.Close()
			}
			select {
			case <-pollCtx.Done():
				pollDone <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	w := pipeline.NewWriter(cfg)
	defer w.Close()
	start := time.Now()
	for i := 0; i < len(events); {
		due := min(len(events), int(rate*time.Since(start).Seconds())+1)
		if due <= i {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		batch := make([]kafka.Message, 0, due-i)
		now := time.Now()
		mu.Lock()
		for j := i; j < due; j++ {
			batch = append(batch, kafka.Message{Topic: cfg.Topic(events[j].Topic), Key: events[j].Key, Value: events[j].Value})
			sent[ids[j]] = now
		}
		mu.Unlock()
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return nil, err
		}
		i = due
	}
	// Wait for the rows: every event lands as a behavior or classification
	// row, except consents for leads never seen (they only reach decisions).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(found)
		mu.Unlock()
		if n >= len(events)*95/100 {
			time.Sleep(2 * time.Second) // the last stragglers
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopPoll()
	if err := <-pollDone; err != nil && ctx.Err() == nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < len(events)/2 {
		return nil, fmt.Errorf("only %d of %d events reached ClickHouse", len(lat), len(events))
	}
	return lat, nil
}
