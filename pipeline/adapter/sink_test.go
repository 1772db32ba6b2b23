package adapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/enrich"
)

// TestAReplayUpstreamCountsOnceAcrossASinkRestart: enrich's records land;
// the sink stops; enrich replays them (the same event ids at new offsets,
// as after a crash between produce and commit); a new sink, which landed
// none of the first copies, lands none of the second: behavior_events and
// engagement_daily count every event once.
func TestAReplayUpstreamCountsOnceAcrossASinkRestart(t *testing.T) {
	replayCountsOnce(t, 0)
}

// TestAReplayFarUpstreamCountsOnce: the same, with 25,000 other records on
// every partition between the originals and their copies, further than the
// 20,000 offsets a sink reads back when it meets a partition and than its
// memory of ids (the operator's reset of enrich's group to the start, after
// a day of traffic). The sink finds the copies in ClickHouse by their event
// time and id.
func TestAReplayFarUpstreamCountsOnce(t *testing.T) {
	replayCountsOnce(t, 25_000)
}

// replayCountsOnce lands 300 behavior events, then gap records per
// partition, then the 300 again under new offsets, and checks that every
// table and aggregate counts the 300 once and the copies are skipped.
func replayCountsOnce(t *testing.T, gap int) {
	cfg := pipelinetest.Kafka(t)
	if gap > 0 {
		// One partition of its own, and the default batches rather than the
		// tests' small ones: the gap is 25,000 records, not 75,000 in 1,500
		// flushes.
		cfg.TopicPrefix, cfg.Partitions, cfg.BatchRecords = cfg.TopicPrefix+"p1.", 1, pipeline.DefaultConfig().BatchRecords
		pipelinetest.Topics(t, &cfg)
	}
	chCfg, conn := pipelinetest.ClickHouse(t)
	const n = 300
	from := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var events []kafka.Message
	for i := range n {
		e := enrich.Event{
			EventID: fmt.Sprintf("b-%04d", i), OccurredAt: from.Add(time.Duration(i) * time.Minute), Action: "product_view",
			Channel: "direct", Decision: "anonymous", KeyVersion: "dev", VisitorKey: fmt.Sprintf("v%03d", i%50),
		}
		v, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, kafka.Message{Key: []byte(fmt.Sprintf("anon-%03d", i%50)), Value: v})
	}
	var last *pipeline.Runner
	runSink := func() func() {
		r := pipeline.NewRunner(cfg, nil, nil)
		last = r
		if err := r.Add(adapter.NewSink(&cfg, analytics.NewWriter(conn, chCfg.Database)), &pipeline.StageOptions{BatchAge: 100 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		pipelinetest.Eventually(t, 60*time.Second, "the sink did not drain behavior.enriched", func() bool {
			ok, err := pipeline.GroupCaughtUp(context.Background(), &cfg, cfg.Group("sink"), cfg.Topic(pipeline.TopicBehaviorEnriched))
			return err == nil && ok
		})
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sink: %v", err)
			}
		}
	}
	count := func(q string) uint64 {
		t.Helper()
		var v uint64
		if err := conn.QueryRow(context.Background(), q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	db := chCfg.Database

	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorEnriched, events...)
	stop := runSink()
	stop()
	if got := count("SELECT count() FROM " + db + ".behavior_events"); got != n {
		t.Fatalf("%d rows after the first landing, want %d", got, n)
	}
	if gap > 0 {
		other := from.AddDate(0, 1, 0)
		var filler []kafka.Message
		for i := range gap * cfg.Partitions {
			e := enrich.Event{EventID: fmt.Sprintf("f-%06d", i), OccurredAt: other.Add(time.Duration(i) * time.Second), Action: "page_view",
				Channel: "direct", Decision: "anonymous", KeyVersion: "dev", VisitorKey: "f"}
			v, err := json.Marshal(&e)
			if err != nil {
				t.Fatal(err)
			}
			filler = append(filler, kafka.Message{Key: []byte(e.EventID), Value: v})
		}
		pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorEnriched, filler...)
		stop = runSink()
		stop()
	}
	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorEnriched, events...) // the replay
	stop = runSink()
	stop()
	if got := count("SELECT count() FROM " + db + ".behavior_events WHERE toYYYYMM(occurred_at) = 202603"); got != n {
		t.Errorf("%d rows in behavior_events after the replay, want %d: the new sink landed copies", got, n)
	}
	if got := count("SELECT sumMerge(events) FROM " + db + ".engagement_daily WHERE toYYYYMM(day) = 202603"); got != n {
		t.Errorf("engagement_daily counts %d events, want %d", got, n)
	}
	if c := last.Counts("sink"); c.Skipped != n || c.Produced != 0 || c.Consumed != c.Skipped+c.Produced+c.InFlight {
		t.Errorf("the second sink's counts %+v: want the %d copies skipped, nothing produced", c, n)
	}
}
