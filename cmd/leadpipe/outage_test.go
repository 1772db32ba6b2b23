package main

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

func TestClickHouseDownUnderLoadLosesNothingAndKeepsMemoryBounded(t *testing.T) {
	cfg, conn := testRunConfig(t)
	proxy := pipelinetest.NewProxy(t, cfg.ch.Addr)
	cfg.ch.Addr = proxy.Addr()
	cfg.sinkRows = 1000
	k := &cfg.kafka
	db := cfg.ch.Database
	ctx := context.Background()
	runner := startStages(t, cfg, stageNames...)

	wl := workload.DefaultConfig()
	wl.Leads, wl.BehaviorPerLead = 400, 20
	events, err := workload.All(wl)
	if err != nil {
		t.Fatal(err)
	}
	// Produce in chunks over about 4 s, so that the outage falls in the
	// middle of the load.
	var produced sync.WaitGroup
	produced.Add(1)
	go func() {
		defer produced.Done()
		const chunks = 20
		for i := range chunks {
			pipelinetest.ProduceEach(t, k, workloadMessages(events[i*len(events)/chunks:(i+1)*len(events)/chunks])...)
			time.Sleep(200 * time.Millisecond)
		}
	}()

	time.Sleep(time.Second)
	proxy.SetDown(true)
	t.Log("ClickHouse cut off")
	pipelinetest.Eventually(t, 20*time.Second, "the pipeline still reports ready with ClickHouse down", func() bool { return !runner.Ready() })
	var maxInFlight int64
	var maxHeap uint64
	sinkConsumed := runner.Counts("sink").Consumed
	for range 50 { // 5 s of outage, sampled
		if c := runner.Counts("sink"); c.InFlight > maxInFlight {
			maxInFlight = c.InFlight
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		maxHeap = max(maxHeap, ms.HeapAlloc)
		time.Sleep(100 * time.Millisecond)
	}
	stalled := runner.Counts("sink").Consumed - sinkConsumed
	proxy.SetDown(false)
	t.Log("ClickHouse back")
	produced.Wait()

	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if err := waitDrained(wctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	if !runner.Ready() {
		t.Error("the pipeline does not report ready after ClickHouse came back")
	}
	// While ClickHouse was down the sink held at most one batch.
	if maxInFlight > int64(cfg.sinkRows)+1 {
		t.Errorf("the sink held %d records in flight during the outage, more than one batch of %d", maxInFlight, cfg.sinkRows)
	}
	if stalled > int64(cfg.sinkRows)+1 {
		t.Errorf("the sink consumed %d records during the outage: it did not stop consuming", stalled)
	}
	if maxHeap > 512<<20 {
		t.Errorf("the heap reached %d MiB during the outage", maxHeap>>20)
	}

	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	records := func(topics ...string) uint64 {
		var full []string
		for _, tp := range topics {
			full = append(full, k.Topic(tp))
		}
		n, err := pipeline.TopicRecords(ctx, k, full...)
		if err != nil {
			t.Fatal(err)
		}
		return uint64(n)
	}
	enriched := records(pipeline.TopicBehaviorEnriched)
	for q, want := range map[string]uint64{
		"SELECT count() FROM " + db + ".behavior_events":           enriched,
		"SELECT sumMerge(events) FROM " + db + ".engagement_daily": enriched,
		"SELECT count() FROM " + db + ".decisions":                 uint64(len(eventIDs(t, pipelinetest.ReadAll(t, k, pipeline.TopicAudit)))),
		"SELECT count() FROM " + db + ".classifications": uint64(landable(pipelinetest.ReadAll(t, k, pipeline.TopicLeadsClassified),
			pipelinetest.ReadAll(t, k, pipeline.TopicLeadsQuarantine))),
	} {
		if got := count(q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	t.Logf("%d events; during 5 s of outage the sink held at most %d records in flight, consumed %d, heap peaked at %d MiB",
		len(events), maxInFlight, stalled, maxHeap>>20)
	checkNoDrift(t, cfg)
}
