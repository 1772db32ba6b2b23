package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/classify"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the leadpipe command once for the tests that run it as a
// process of its own, to kill it.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leadpipe-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "leadpipe")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build leadpipe: %v", buildErr)
	}
	return binPath
}

// stageProcess is `leadpipe run` in a process of its own.
type stageProcess struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

func startProcess(t *testing.T, cfg *runConfig, crash string, args ...string) *stageProcess {
	t.Helper()
	k := &cfg.kafka
	full := append([]string{"run", "--dev-key", "--metrics-addr", "",
		"--brokers", strings.Join(k.Brokers, ","), "--topic-prefix", k.TopicPrefix, "--group-prefix", k.GroupPrefix,
		"--batch-records", strconv.Itoa(k.BatchRecords), "--batch-age", "20ms", "--session-timeout", "6s", "--erasure-every", "0",
		"--clickhouse", cfg.ch.Addr, "--clickhouse-db", cfg.ch.Database, "--clickhouse-cluster", cfg.ch.Cluster}, args...)
	p := &stageProcess{cmd: exec.Command(binary(t), full...), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "LEADPIPE_TEST_CRASH="+crash)
	// A test binary that panics (its timeout) runs no cleanup: the stage
	// dies with it rather than consuming on, beside the next run.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		err := <-p.done
		if t.Failed() {
			t.Logf("the log of %s (%v):\n%s", strings.Join(args, " "), err, tail(p.stderr.String(), 80))
		}
	})
	return p
}

// wait returns the exit code of the process, failing the test after timeout.
func (p *stageProcess) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		t.Fatalf("leadpipe did not exit within %s; its log:\n%s", timeout, p.stderr.String())
	}
	return -1
}

// stop sends SIGTERM and expects a clean exit.
func (p *stageProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("leadpipe exited %d after SIGTERM; its log:\n%s", code, p.stderr.String())
	}
}

// produceWorkloadEvents writes a small well-formed workload and returns its events.
func produceWorkloadEvents(t *testing.T, k *pipeline.Config, leads int, behavior float64) []workload.Event {
	t.Helper()
	wl := workload.DefaultConfig()
	wl.Leads, wl.BehaviorPerLead, wl.MalformedRate = leads, behavior, 0
	events, err := workload.All(wl)
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.ProduceEach(t, k, workloadMessages(events)...)
	return events
}

// workloadMessages are events as records for ProduceEach: each names its
// topic, keyed, with the producer's own timestamp.
func workloadMessages(events []workload.Event) []kafka.Message {
	msgs := make([]kafka.Message, len(events))
	for i, e := range events {
		msgs[i] = kafka.Message{Topic: e.Topic, Key: e.Key, Value: e.Value}
	}
	return msgs
}

func eventIDs(t *testing.T, msgs []kafka.Message) map[string]int {
	ids := map[string]int{}
	for _, m := range msgs {
		var v struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		ids[v.EventID]++
	}
	return ids
}

func TestClassifyKilledBetweenProduceAndCommitLosesNoRecordOnRestart(t *testing.T) {
	cfg := defaultRunConfig()
	cfg.kafka = pipelinetest.Kafka(t)
	cfg.kafka.BatchRecords = 20
	k := &cfg.kafka
	events := produceWorkloadEvents(t, k, 150, 0)
	want := map[string]bool{}
	for _, e := range events {
		if e.Topic != workload.TopicBehavior {
			want[eventIDFrom(t, e.Value)] = true
		}
	}

	// The first process dies right after the 3rd batch's outputs are
	// written, before that batch's offsets are committed.
	first := startProcess(t, &cfg, "produce:3", "classify")
	if code := first.wait(t, 90*time.Second); code != 86 {
		t.Fatalf("the first process exited %d, want the crash point's 86; its log:\n%s", code, first.stderr.String())
	}
	before := eventIDs(t, pipelinetest.ReadAll(t, k, pipeline.TopicAudit))
	if len(before) == 0 || len(before) >= len(want) {
		t.Fatalf("before the restart %d of %d events were audited; the crash came at the wrong time", len(before), len(want))
	}

	second := startProcess(t, &cfg, "", "classify")
	var after map[string]int
	pipelinetest.Eventually(t, 90*time.Second, "the restarted stage did not audit every event", func() bool {
		after = eventIDs(t, pipelinetest.ReadAll(t, k, pipeline.TopicAudit))
		return len(after) >= len(want)
	})
	second.stop(t)

	for id := range want {
		if after[id] == 0 {
			t.Errorf("event %s was lost", id)
		}
	}
	replayed := 0
	for _, n := range after {
		replayed += n - 1
	}
	if replayed == 0 {
		t.Errorf("no event was processed twice: the crash did not leave produced but uncommitted records")
	}
	classified := len(pipelinetest.ReadAll(t, k, pipeline.TopicLeadsClassified)) + len(pipelinetest.ReadAll(t, k, pipeline.TopicLeadsQuarantine))
	if classified == 0 {
		t.Errorf("nothing reached leads.classified or leads.quarantine")
	}
	t.Logf("%d events, %d audited twice after the crash (at-least-once)", len(want), replayed)
}

func eventIDFrom(t *testing.T, v []byte) string {
	var e struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		t.Fatal(err)
	}
	return e.EventID
}

func TestSinkKilledBetweenInsertAndCommitLandsEveryRowOnce(t *testing.T) {
	cfg, conn := testRunConfig(t)
	sinkKilledBetweenInsertAndCommit(t, cfg, conn)
}

// sinkKilledBetweenInsertAndCommit runs a sink that crashes right after
// its second batch's inserts, before their commit, then another, and
// checks that every row landed once, the aggregates with them.
func sinkKilledBetweenInsertAndCommit(t *testing.T, cfg *runConfig, conn driver.Conn) {
	k := &cfg.kafka
	db := cfg.ch.Database
	ctx := context.Background()
	produceWorkloadEvents(t, k, 120, 6)

	// classify and enrich run in the test; the sink runs in processes of its own.
	upstream := startStages(t, cfg, "classify", "enrich")
	dctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := upstream.WaitDrained(dctx); err != nil {
		t.Fatal(err)
	}
	enriched := len(pipelinetest.ReadAll(t, k, pipeline.TopicBehaviorEnriched))
	// The sink adds its erasure receipts to leadpipe.audit and lands them
	// too: decisions holds every audit event id once.
	audit := func() int { return len(eventIDs(t, pipelinetest.ReadAll(t, k, pipeline.TopicAudit))) }
	classified := pipelinetest.ReadAll(t, k, pipeline.TopicLeadsClassified)
	quarantined := pipelinetest.ReadAll(t, k, pipeline.TopicLeadsQuarantine)

	first := startProcess(t, cfg, "insert:2", "--sink-batch-rows", "150", "--sink-batch-age", "5s", "sink")
	if code := first.wait(t, 90*time.Second); code != 86 {
		t.Fatalf("the first sink exited %d, want the crash point's 86; its log:\n%s", code, first.stderr.String())
	}
	second := startProcess(t, cfg, "", "--sink-batch-rows", "150", "--sink-batch-age", "100ms", "sink")
	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	pipelinetest.Eventually(t, 90*time.Second, "the restarted sink did not land everything", func() bool {
		return count("SELECT count() FROM "+db+".behavior_events") >= uint64(enriched) &&
			count("SELECT count() FROM "+db+".decisions") >= uint64(audit()) &&
			count("SELECT count() FROM "+db+".classifications") >= uint64(landable(classified, quarantined))
	})
	time.Sleep(500 * time.Millisecond) // a doubled batch would land now
	second.stop(t)

	// The leads in quarantine now: those whose last record (the highest
	// seq, on either topic) is quarantined.
	last := map[string]classify.Record{}
	for _, m := range append(classified, quarantined...) {
		var r classify.Record
		if m.Value == nil || json.Unmarshal(m.Value, &r) != nil {
			continue
		}
		if cur, ok := last[r.LeadKey]; !ok || r.Seq > cur.Seq {
			last[r.LeadKey] = r
		}
	}
	nQuarantined := 0
	for _, r := range last {
		if r.Decision == classify.DecisionQuarantined {
			nQuarantined++
		}
	}
	// Read as the marketer queries read: no FINAL on the event tables, the
	// aggregates merged.
	for q, want := range map[string]uint64{
		"SELECT count() FROM " + db + ".behavior_events":                                 uint64(enriched),
		"SELECT toUInt64(count() - uniqExact(event_id)) FROM " + db + ".behavior_events": 0,
		"SELECT count() FROM " + db + ".decisions":                                       uint64(audit()),
		"SELECT count() FROM " + db + ".classifications":                                 uint64(landable(classified, quarantined)),
		"SELECT sumMerge(events) FROM " + db + ".engagement_daily":                       uint64(enriched),
		"SELECT toUInt64(sum(leads)) FROM " + db + ".quarantine_daily":                   uint64(nQuarantined),
		"SELECT toUInt64(sum(events)) FROM " + db + ".category_affinity":                 count("SELECT count() FROM " + db + ".behavior_events WHERE lead_key != '' AND category != ''"),
	} {
		if got := count(q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	checkNoDrift(t, cfg)
}

// landable counts the records of the classification topics that leave a
// row in classifications: not tombstones, and not of a lead erased since
// (its rows are deleted).
func landable(topics ...[]kafka.Message) int {
	erased := map[string]bool{}
	var recs []classify.Record
	for _, ms := range topics {
		for _, m := range ms {
			var r classify.Record
			if m.Value == nil || json.Unmarshal(m.Value, &r) != nil {
				continue
			}
			erased[r.LeadKey] = erased[r.LeadKey] || r.Decision == classify.DecisionErased
			recs = append(recs, r)
		}
	}
	n := 0
	for _, r := range recs {
		if !erased[r.LeadKey] {
			n++
		}
	}
	return n
}
