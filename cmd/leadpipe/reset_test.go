package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// TestFaultsOn20000LeadsLandWhatACleanRunLands runs issue 24's faults on
// 20,000 leads and 12 partitions (about 26,000 behavior records a
// partition, further than the 20,000 offsets a restarted sink reads back,
// so a copy is found only by the flush's lookup in ClickHouse; the fault
// probe counted engagement_daily twice). A clean run lands the workload
// first; after each fault, every table and aggregate the marketers read
// is what the clean run landed, decisions holds one row per event id, and
// leadpipe check reports nothing:
//   - enrich's group reset to the earliest offset after a full drain (an
//     operator reprocessing: enrich and the sink stopped, the group
//     deleted, both started again), then the sink's group likewise;
//   - the same workload produced on topics and a database of their own
//     with each record stamped with its event's occurred_at rather than
//     the time it was produced;
//   - the same, produced with produce-time stamps, with classify killed
//     with SIGKILL under load and started again after its session timeout;
//     with the only classify process stopped (SIGSTOP) for 60 s under load,
//     while enrich holds identified behavior back; and with one of two
//     classify processes killed and started again.
func TestFaultsOn20000LeadsLandWhatACleanRunLands(t *testing.T) {
	wl := workload.DefaultConfig()
	wl.Seed, wl.Leads, wl.BehaviorPerLead = 3, 20_000, 16
	events, err := workload.All(wl)
	if err != nil {
		t.Fatal(err)
	}
	// Erasures left out, as in the chaos workload: they are the replay
	// test's, and here the view is compared between two landings.
	events = slices.DeleteFunc(events, func(e workload.Event) bool {
		var v struct {
			Action string `json:"action"`
		}
		return e.Kind == workload.KindConsent && json.Unmarshal(e.Value, &v) == nil && v.Action == "erase"
	})
	cfg, conn := testRunConfig(t)
	onPartitions(t, cfg, 12)
	db := cfg.ch.Database
	k := &cfg.kafka

	c := newChaos(t, cfg)
	procs := map[string]*chaosProc{}
	for _, s := range stageNames {
		procs[s] = c.start(s)
	}
	produceChunks(t, k, events, 12, 0, nil)
	c.drain(10 * time.Minute)
	want := marketerView(t, conn, db)
	decisions := pipelinetest.Strings(t, conn, "SELECT toString(count()) FROM "+db+".decisions")
	checkNoDrift(t, cfg)
	perPartition := pipelinetest.Strings(t, conn, "SELECT toString(min(c)) FROM (SELECT count() AS c FROM "+db+".behavior_events GROUP BY _partition)")
	t.Logf("%d events landed; behavior rows on the smallest partition: %v", len(events), perPartition)
	// What marketers read is what the clean run landed, and decisions
	// holds one row per event id (checkNoDrift). Its row count is compared
	// only where classify does not run again: an objection's notice that
	// reaches another lead with the same address before that lead's own
	// event, in one run, and after it, in another, makes a reclassification
	// row in the second only (the lead's final decision is the same), and
	// when notices cross partitions depends on the processes' timing.
	same := func(t *testing.T, conn driver.Conn, db string) {
		t.Helper()
		sameView(t, marketerView(t, conn, db), want)
	}
	sameDecisions := func(t *testing.T) {
		t.Helper()
		if got := pipelinetest.Strings(t, conn, "SELECT toString(count()) FROM "+db+".decisions"); !slices.Equal(got, decisions) {
			t.Errorf("%v decisions rows, %v before", got, decisions)
		}
	}

	for _, reset := range [][]string{{"enrich", "sink"}, {"sink"}} {
		t.Run(reset[0]+" group reset to the start", func(t *testing.T) {
			group := k.Group(reset[0])
			for _, s := range reset {
				procs[s].stop(t)
				c.procs[s] = nil
			}
			deleteGroup(t, k, group) // nothing committed: the stage starts from the earliest offset
			for _, s := range reset {
				procs[s] = c.start(s)
			}
			c.drain(10 * time.Minute)
			same(t, conn, db)
			sameDecisions(t)
			checkNoDrift(t, cfg)
		})
	}

	t.Run("records stamped with occurred_at", func(t *testing.T) {
		cfg, conn := testRunConfig(t)
		onPartitions(t, cfg, 12)
		c := newChaos(t, cfg)
		for _, s := range stageNames {
			c.start(s)
		}
		for _, chunk := range split(events, 12) {
			ordered := leadsFirst(chunk)
			msgs := workloadMessages(ordered)
			for i := range msgs {
				msgs[i].Time = ordered[i].Time
			}
			pipelinetest.ProduceEach(t, &cfg.kafka, msgs...)
		}
		c.drain(10 * time.Minute)
		same(t, conn, cfg.ch.Database)
		checkNoDrift(t, cfg)
	})

	t.Run("classify killed and back after its session timeout", func(t *testing.T) {
		cfg, conn := testRunConfig(t)
		onPartitions(t, cfg, 12)
		c := newChaos(t, cfg)
		classifier := c.start("classify")
		c.start("enrich")
		c.start("sink")
		produceChunks(t, &cfg.kafka, events, 12, 300*time.Millisecond, func(i int) {
			if i != 4 {
				return
			}
			classifier.cmd.Process.Signal(syscall.SIGKILL)
			classifier.wait(t, 30*time.Second)
			c.procs["classify"] = nil
			time.Sleep(8 * time.Second) // past the 6 s session: the group has no member left
			classifier = c.start("classify")
			t.Log("classify killed, and started again 8 s later")
		})
		c.drain(10 * time.Minute)
		same(t, conn, cfg.ch.Database)
		checkNoDrift(t, cfg)
	})

	t.Run("the only classify stopped for 60 s under load", func(t *testing.T) {
		cfg, conn := testRunConfig(t)
		onPartitions(t, cfg, 12)
		c := newChaos(t, cfg)
		classifier := c.start("classify")
		enricher := c.start("enrich")
		c.start("sink")
		var waited float64
		produceChunks(t, &cfg.kafka, events, 12, 300*time.Millisecond, func(i int) {
			if i != 3 {
				return
			}
			classifier.cmd.Process.Signal(syscall.SIGSTOP)
			stopped := time.Now()
			for time.Since(stopped) < 60*time.Second {
				waited = max(waited, metric(enricher.metrics, "leadpipe_enrich_waiting_seconds"))
				time.Sleep(time.Second)
			}
			classifier.cmd.Process.Signal(syscall.SIGCONT)
			t.Log("classify stopped for 60 s, then resumed")
		})
		if waited < 30 {
			t.Errorf("enrich waited at most %.0f s for the stopped classify: it did not hold the behavior back", waited)
		}
		c.drain(10 * time.Minute)
		same(t, conn, cfg.ch.Database)
		checkNoDrift(t, cfg)
	})

	t.Run("one of two classify processes killed", func(t *testing.T) {
		cfg, conn := testRunConfig(t)
		onPartitions(t, cfg, 12)
		c := newChaos(t, cfg)
		victim := c.start("classify")
		c.start("classify")
		c.start("enrich")
		c.start("sink")
		produceChunks(t, &cfg.kafka, events, 12, 300*time.Millisecond, func(i int) {
			if i == 4 {
				victim = c.restart(victim) // SIGKILL, then a new process
				t.Log("one classify process killed and started again")
			}
		})
		c.drain(10 * time.Minute)
		same(t, conn, cfg.ch.Database)
		checkNoDrift(t, cfg) // decisions: one row per event id (issue 24: 421 landed twice)
	})
}

// deleteGroup deletes a consumer group whose members have left: what
// `kafka-consumer-groups --delete` does, and, for a stage that starts from
// the earliest offset without a commit, a reset to the start.
func deleteGroup(t *testing.T, k *pipeline.Config, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pipelinetest.Eventually(t, 30*time.Second, "the group "+group+" could not be deleted", func() bool {
		resp, err := k.Client(10*time.Second).DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
		return err == nil && resp.Errors[group] == nil
	})
}

// onPartitions moves cfg to topics of its own with n partitions each,
// created now and deleted when the test ends.
func onPartitions(t *testing.T, cfg *runConfig, n int) {
	t.Helper()
	cfg.kafka.TopicPrefix, cfg.kafka.Partitions = fmt.Sprintf("%sp%d.", cfg.kafka.TopicPrefix, n), n
	pipelinetest.Topics(t, &cfg.kafka)
}
