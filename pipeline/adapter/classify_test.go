package adapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// leadOnPartition returns a lead id that the producer puts on partition p.
func leadOnPartition(t *testing.T, prefix string, p, partitions int) string {
	t.Helper()
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	for i := range 1000 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(id)}, parts...) == p {
			return id
		}
	}
	t.Fatalf("no lead id for partition %d", p)
	return ""
}

func startClassify(t *testing.T, cfg pipeline.Config) (*pipeline.Runner, *adapter.Classify, func()) {
	t.Helper()
	r := pipeline.NewRunner(cfg, nil, nil)
	e := classify.New(classify.DefaultPolicy(), pseudonym.Development())
	stage := adapter.NewClassify(&cfg, e, schemas.DefaultLimits())
	if err := r.Add(stage, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("classify: %v", err)
		}
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(stop) })
	return r, stage, func() { once.Do(stop) }
}

func lead(id, event, email string) kafka.Message {
	return kafka.Message{Key: []byte(id), Value: []byte(`{"type":"lead","event_id":"` + event + `","occurred_at":"2026-03-01T10:00:00Z","lead_id":"` + id +
		`","contact":{"email":"` + email + `","country":"IT"},"source":{"kind":"web_form"}}`)}
}

// drained waits until the classify group has committed the end of all its
// inputs, twice in a row: notices a batch sent are on their topic before
// the batch is committed.
func drained(t *testing.T, cfg *pipeline.Config) {
	t.Helper()
	topics := []string{cfg.Topic(pipeline.TopicLeadsRaw), cfg.Topic(pipeline.TopicConsentsRaw), cfg.Topic(pipeline.TopicSuppressions)}
	n := 0
	pipelinetest.Eventually(t, 60*time.Second, "classify did not drain its inputs", func() bool {
		ok, err := pipeline.GroupCaughtUp(context.Background(), cfg, cfg.Group("classify"), topics...)
		if err != nil || !ok {
			n = 0
			return false
		}
		n++
		return n == 2
	})
}

// lastRecord returns the record of the lead with the highest seq on
// leads.classified and leads.quarantine.
func lastRecord(t *testing.T, cfg *pipeline.Config, leadID string) classify.Record {
	t.Helper()
	var last classify.Record
	for _, m := range append(pipelinetest.ReadAll(t, cfg, pipeline.TopicLeadsClassified), pipelinetest.ReadAll(t, cfg, pipeline.TopicLeadsQuarantine)...) {
		var r classify.Record
		if string(m.Key) != leadID || m.Value == nil || json.Unmarshal(m.Value, &r) != nil {
			continue
		}
		if r.Seq > last.Seq {
			last = r
		}
	}
	return last
}

// TestAnObjectionReachesALeadOfTheSameEmailOwnedByAnotherProcess is the
// re-keyed suppression: two classify processes share the partitions; a
// lead accepted in one, an objection under the same email taken by the
// other; the notices through leadpipe.suppressions suppress the first.
func TestAnObjectionReachesALeadOfTheSameEmailOwnedByAnotherProcess(t *testing.T) {
	if !pipelinetest.Real() {
		// On kfake, under the load of the other tests, a member of the
		// group was seen holding a partition it never read for over 20 s;
		// the test is about a real broker's groups. make test sets it.
		t.Skip("needs the real broker's consumer groups (LEADPIPE_TEST_BROKERS); make test starts it")
	}
	cfg := pipelinetest.Kafka(t)
	cfg.Partitions = 2 // created by pipelinetest with 3; use topics of our own
	cfg.TopicPrefix += "two."
	ctx := context.Background()
	pipelinetest.Topics(t, &cfg)
	objector := leadOnPartition(t, "lead-a", 0, 2)
	accepted := leadOnPartition(t, "lead-b", 1, 2)

	a, sa, _ := startClassify(t, cfg)
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, lead(objector, "ev-1", "giulia@example.com"))
	pipelinetest.Eventually(t, 60*time.Second, "the first process did not start", func() bool { return a.Counts("classify").Consumed >= 1 })
	b, sb, _ := startClassify(t, cfg)
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	pipelinetest.Eventually(t, 60*time.Second, "the two processes did not share the partitions", func() bool {
		resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{cfg.Group("classify")}})
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" || len(resp.Groups[0].Members) != 2 {
			return false
		}
		for _, m := range resp.Groups[0].Members {
			if len(m.MemberAssignments.Topics) == 0 {
				return false
			}
		}
		return true
	})
	// The same person under another lead id, on the other partition: accepted.
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, lead(accepted, "ev-2", "Giulia@Example.com"))
	drained(t, &cfg)
	if r := lastRecord(t, &cfg, accepted); r.Decision != classify.DecisionAccepted {
		t.Fatalf("the second lead is %s before the objection, want accepted", r.Decision)
	}
	// The objection, on the first lead's partition.
	pipelinetest.Produce(t, &cfg, pipeline.TopicConsentsRaw, kafka.Message{Key: []byte(objector), Value: []byte(
		`{"type":"consent","event_id":"ev-3","occurred_at":"2026-03-02T10:00:00Z","lead_id":"` + objector + `","purpose":"all","action":"object"}`)})
	drained(t, &cfg)
	if a.Counts("classify").Consumed == 0 || b.Counts("classify").Consumed == 0 {
		t.Fatalf("one process consumed everything (%d, %d): the test proves nothing", a.Counts("classify").Consumed, b.Counts("classify").Consumed)
	}
	if sa.StateKeys() == 0 || sb.StateKeys() == 0 {
		t.Errorf("state keys %d and %d: each process should hold its partitions' leads", sa.StateKeys(), sb.StateKeys())
	}
	// The notices take two hops through leadpipe.suppressions after the
	// objection; drained says when, and a short wait covers a late look.
	var r classify.Record
	ok := false
	for deadline := time.Now().Add(20 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r = lastRecord(t, &cfg, accepted)
		ok = r.Decision == classify.DecisionSuppressed
	}
	if !ok || r.Reason != classify.ReasonObjection || r.EventID != "ev-3" {
		t.Errorf("the lead of the same email ends %s (%s) by %s, want suppressed for objection ev-3", r.Decision, r.Reason, r.EventID)
	}
	// The re-classification is on the audit trail too.
	found := false
	for _, m := range pipelinetest.ReadAll(t, &cfg, pipeline.TopicAudit) {
		var a classify.Audit
		if json.Unmarshal(m.Value, &a) == nil && a.EventType == classify.EventTypeReclassification &&
			a.LeadKey == r.LeadKey && a.Decision == classify.DecisionSuppressed {
			found = true
		}
	}
	if !found {
		t.Error("no audit record of the lead's re-classification")
	}
}

// TestAStopInTheMiddleOfABatchsWritesCommitsNoLaterBatchBeforeIt stops
// classify (SIGTERM's cancellation) just as a batch flushed in the
// background begins to write its outputs, while the next batch is being
// processed. The interrupted batch is written before the next one is
// committed: every lead event below the committed offset has its record on
// leads.classified and its state on the changelog, which the partition's
// next owner restores. (A commit covers every offset before it: committing
// the next batch first would skip the interrupted one's state for good.)
func TestAStopInTheMiddleOfABatchsWritesCommitsNoLaterBatchBeforeIt(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	cfg.Partitions, cfg.BatchRecords = 1, 20
	cfg.TopicPrefix += "one."
	// No grace: the stop cuts the write under way off at once, as when a
	// write outlasts --flush-grace.
	cfg.FlushGrace = 0
	ctx := context.Background()
	pipelinetest.Topics(t, &cfg)
	var leads []kafka.Message
	for i := range 300 {
		id := fmt.Sprintf("lead-%03d", i)
		leads = append(leads, lead(id, "ev-"+id, id+"@example.com"))
	}
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, leads...)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var fired sync.Once
	pipeline.CrashPoint = func(point string) {
		if point == "write" {
			fired.Do(stop)
		}
	}
	t.Cleanup(func() { pipeline.CrashPoint = nil })
	r := pipeline.NewRunner(cfg, nil, nil)
	if err := r.Add(adapter.NewClassify(&cfg, classify.New(classify.DefaultPolicy(), pseudonym.Development()), schemas.DefaultLimits()), nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(runCtx); err != nil {
		t.Fatal(err)
	}
	pipeline.CrashPoint = nil

	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	raw := cfg.Topic(pipeline.TopicLeadsRaw)
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.Group("classify"), Topics: map[string][]int{raw: {0}}})
	if err != nil {
		t.Fatal(err)
	}
	committed := resp.Topics[raw][0].CommittedOffset
	if committed <= int64(cfg.BatchRecords) {
		t.Fatalf("committed offset %d: the stop came before a second batch was processed", committed)
	}
	st := classify.NewState()
	if err := pipeline.ScanPartition(ctx, &cfg, cfg.Topic(pipeline.TopicState), 0, func(m *kafka.Message) error {
		return st.Restore(string(m.Key), m.Value)
	}); err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for _, m := range pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsClassified) {
		written[string(m.Key)] = true
	}
	missing := 0
	for _, m := range leads[:committed] {
		id := string(m.Key)
		if _, ok := st.Encode("lead:" + pseudonym.Development().LeadKey(id)); !ok || !written[id] {
			if missing++; missing == 1 {
				t.Errorf("%s, below the committed offset %d: state restored %v, record written %v", id, committed, ok, written[id])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d lead events below the committed offset are lost to the next owner", missing, committed)
	}
}
