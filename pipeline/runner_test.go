package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
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

const goodLead = `{"type":"lead","event_id":"ev-good","occurred_at":"2026-03-01T10:00:00Z","lead_id":"lead-good",
"contact":{"email":"mario.rossi@example.com","country":"IT"},"source":{"kind":"web_form","referrer":"https://www.google.com/"}}`

// runClassify runs the classify stage until the test ends and returns its runner.
func runClassify(t *testing.T, cfg pipeline.Config) *pipeline.Runner {
	t.Helper()
	r := pipeline.NewRunner(cfg, nil, nil)
	stage := adapter.NewClassify(&cfg, classify.New(classify.DefaultPolicy(), pseudonym.Development()), schemas.DefaultLimits())
	if err := r.Add(stage, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})
	return r
}

// waitDrained waits until classify has consumed and committed its inputs.
func waitDrained(t *testing.T, r *pipeline.Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.WaitDrained(ctx, "classify"); err != nil {
		t.Fatal(err)
	}
}

func TestUndecodableRecordsAreDeadLetteredWithProvenanceWhileTheStageGoesOn(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	bad := []struct{ value, field string }{
		{`{"type":"lead","event_id":"ev-trunc","occurred_at":"2026-03-01T10:00:00Z","lead_id":"lead-x","contact":{"email":"anna.bianchi@exa`, "contact.email"},
		{`{"type":"lead","event_id":"ev-country","occurred_at":"2026-03-01T10:00:00Z","lead_id":"lead-y","contact":{"email":"anna.bianchi@example.com","country":"Italy"}}`, "contact.country"},
		{`{"type":"lead","event_id":"ev-unknown","occurred_at":"2026-03-01T10:00:00Z","lead_id":"lead-z","shoe_size":42}`, "message: unknown field #5"},
	}
	// The bad records come first: the good one behind them must still pass.
	var in []kafka.Message
	for _, b := range bad {
		in = append(in, kafka.Message{Key: []byte("lead-1"), Value: []byte(b.value)})
	}
	in = append(in, kafka.Message{Key: []byte("lead-1"), Value: []byte(goodLead)})
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, in...)

	r := runClassify(t, cfg)
	waitDrained(t, r)
	c := r.Counts("classify")
	// 4 records, and the good lead's notice to its email key.
	if c.Consumed != 5 || c.DeadLettered != 3 || c.Produced+c.Quarantined != 2 {
		t.Errorf("counts = %+v, want 5 consumed: 3 dead-lettered, the lead and its notice classified", c)
	}
	if c.Consumed != c.Produced+c.Quarantined+c.DeadLettered+c.Skipped+c.InFlight {
		t.Errorf("counts %+v break consumed = produced + quarantined + dead-lettered + skipped + in flight", c)
	}

	orig := pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsRaw)
	dlq := pipelinetest.ReadAll(t, &cfg, pipeline.TopicDLQ)
	if len(dlq) != len(bad) {
		t.Fatalf("dead-letter topic holds %d records, want %d", len(dlq), len(bad))
	}
	for i, want := range bad {
		d := dlq[i]
		if string(d.Value) != want.value {
			t.Errorf("dead letter %d: value %q, want the original %q", i, d.Value, want.value)
		}
		if got := pipeline.Header(&d, pipeline.HeaderStage); got != "classify" {
			t.Errorf("dead letter %d: stage header %q, want classify", i, got)
		}
		if got := pipeline.Header(&d, pipeline.HeaderTopic); got != cfg.Topic(pipeline.TopicLeadsRaw) {
			t.Errorf("dead letter %d: topic header %q", i, got)
		}
		reason := pipeline.Header(&d, pipeline.HeaderReason)
		if !strings.Contains(reason, want.field) {
			t.Errorf("dead letter %d: reason %q does not name the field %s", i, reason, want.field)
		}
		if strings.Contains(reason, "anna") || strings.Contains(reason, "Italy") {
			t.Errorf("dead letter %d: reason %q carries the input's data", i, reason)
		}
		p, _ := strconv.Atoi(pipeline.Header(&d, pipeline.HeaderPartition))
		off, _ := strconv.ParseInt(pipeline.Header(&d, pipeline.HeaderOffset), 10, 64)
		found := false
		for _, o := range orig {
			if o.Partition == p && o.Offset == off && string(o.Value) == want.value {
				found = true
			}
		}
		if !found {
			t.Errorf("dead letter %d: partition %d offset %d do not point at the original record", i, p, off)
		}
	}
	classified := pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsClassified)
	if len(classified) != 1 || !strings.Contains(string(classified[0].Value), `"event_id":"ev-good"`) {
		t.Errorf("leads.classified = %d records, want the good lead", len(classified))
	}
	for _, m := range append(classified, pipelinetest.ReadAll(t, &cfg, pipeline.TopicAudit)...) {
		if strings.Contains(string(m.Value), "mario.rossi") {
			t.Errorf("%s carries the lead's email: %s", m.Topic, m.Value)
		}
	}
}

// waitCopied waits until r has consumed and committed its input, then
// checks that want records were copied to behavior.enriched.
func waitCopied(ctx context.Context, t *testing.T, r *pipeline.Runner, cfg *pipeline.Config, want int) {
	t.Helper()
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := r.WaitDrained(dctx); err != nil {
		t.Fatal(err)
	}
	if got := len(pipelinetest.ReadAll(t, cfg, pipeline.TopicBehaviorEnriched)); got != want {
		t.Errorf("copied %d records, want %d", got, want)
	}
}

func TestABatchOfOutputsOverTheBrokersMessageLimitLands(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	cfg.BatchRecords = 3000
	cfg.BatchAge = time.Second
	value := []byte(strings.Repeat("x", 2000))
	in := make([]kafka.Message, 3000)
	for i := range in {
		in[i] = kafka.Message{Key: []byte(strconv.Itoa(i % 7)), Value: value}
	}
	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorRaw, in...)
	// 6 MB of outputs in one batch, most of it on few partitions: more than
	// the 1 MiB a broker takes in one record batch by default.
	r := pipeline.NewRunner(cfg, nil, nil)
	r.Add(pipeline.NewPassthroughStage("copy", []string{cfg.Topic(pipeline.TopicBehaviorRaw)}, cfg.Topic(pipeline.TopicBehaviorEnriched)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitCopied(ctx, t, r, &cfg, len(in))
}

func TestADuplicateEventWritesOnlyItsAuditAndAReusedEventIDIsDeadLettered(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	reused := strings.Replace(goodLead, `"country":"IT"`, `"country":"FR"`, 1)
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw,
		kafka.Message{Key: []byte("lead-good"), Value: []byte(goodLead)},
		kafka.Message{Key: []byte("lead-good"), Value: []byte(goodLead)}, // a client retry
		kafka.Message{Key: []byte("lead-good"), Value: []byte(reused)},   // the same event id, other content
	)
	r := runClassify(t, cfg)
	waitDrained(t, r)
	if c := r.Counts("classify"); c.DeadLettered != 1 || c.Produced != 3 {
		t.Errorf("counts = %+v, want 3 produced (the event, its duplicate, its notice to its email key) and 1 dead-lettered", c)
	}
	if got := pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsClassified); len(got) != 1 {
		t.Errorf("leads.classified holds %d records, want 1: a duplicate emits no classification", len(got))
	}
	audit := pipelinetest.ReadAll(t, &cfg, pipeline.TopicAudit)
	if len(audit) != 2 || !strings.Contains(string(audit[1].Value), `"decision":"duplicate"`) {
		t.Errorf("audit records %d, the second %s; want 2, the second a duplicate", len(audit), audit[len(audit)-1].Value)
	}
	dlq := pipelinetest.ReadAll(t, &cfg, pipeline.TopicDLQ)
	if len(dlq) != 1 {
		t.Fatalf("dead-letter topic holds %d records, want 1", len(dlq))
	}
	if reason := pipeline.Header(&dlq[0], pipeline.HeaderReason); !strings.HasPrefix(reason, "event_id_reused: event_id") {
		t.Errorf("dead-letter reason %q, want event_id_reused naming event_id", reason)
	}
	if string(dlq[0].Value) != reused {
		t.Error("the dead letter is not the reused event as sent")
	}
}

// TestARecordTooLargeToCopyIsDeadLetteredAsAReference: a record of about a
// megabyte (under the broker's limit, over what a dead-letter copy may
// take) is dead-lettered as a reference, with its coordinates, size and
// SHA-256 and without its value, and the partition goes on.
func TestARecordTooLargeToCopyIsDeadLetteredAsAReference(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	huge := []byte(`{"type":"lead","event_id":"ev-huge","occurred_at":"2026-03-01T10:00:00Z","lead_id":"lead-1","source":{"url":"https://x.example/?q=` +
		strings.Repeat("a", 1_000_000) + `"}}`)
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.Topic(pipeline.TopicLeadsRaw), Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchBytes: 2 << 20, BatchTimeout: time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("lead-1"), Value: huge}, kafka.Message{Key: []byte("lead-1"), Value: []byte(goodLead)}); err != nil {
		t.Fatal(err)
	}

	r := runClassify(t, cfg)
	waitDrained(t, r)
	if c := r.Counts("classify"); c.DeadLettered != 1 {
		t.Errorf("counts = %+v, want the huge record dead-lettered", c)
	}
	dlq := pipelinetest.ReadAll(t, &cfg, pipeline.TopicDLQ)
	if len(dlq) != 1 {
		t.Fatalf("dead-letter topic holds %d records, want 1", len(dlq))
	}
	d := dlq[0]
	sum := sha256.Sum256(huge)
	if d.Value != nil || d.Key != nil || pipeline.Header(&d, pipeline.HeaderOmitted) != "true" ||
		pipeline.Header(&d, pipeline.HeaderSize) != strconv.Itoa(len(huge)+len("lead-1")) ||
		pipeline.Header(&d, pipeline.HeaderSHA256) != hex.EncodeToString(sum[:]) ||
		pipeline.Header(&d, pipeline.HeaderTopic) != cfg.Topic(pipeline.TopicLeadsRaw) || pipeline.Header(&d, pipeline.HeaderReason) == "" {
		t.Errorf("dead letter: value %d bytes, headers %v; want a reference: omitted, size, sha256, topic and reason", len(d.Value), d.Headers)
	}
	if classified := pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsClassified); len(classified) != 1 {
		t.Errorf("leads.classified = %d records, want the good lead behind the huge one", len(classified))
	}
}

// TestReadyOnlyWithPartitionsToConsume: a stage reports ready once the
// group gave it partitions; of two processes on one partition, the one
// without it is not ready, and it becomes ready when the other leaves.
func TestReadyOnlyWithPartitionsToConsume(t *testing.T) {
	if !pipelinetest.Real() {
		t.Skip("needs the real broker's consumer groups (LEADPIPE_TEST_BROKERS); make test starts it")
	}
	cfg := pipelinetest.Kafka(t)
	cfg.Partitions = 1
	cfg.TopicPrefix += "one."
	pipelinetest.Topics(t, &cfg)
	start := func() (*pipeline.Runner, func()) {
		r := pipeline.NewRunner(cfg, nil, nil)
		if err := r.Add(adapter.NewClassify(&cfg, classify.New(classify.DefaultPolicy(), pseudonym.Development()), schemas.DefaultLimits()), nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				<-done
			}
		}
		t.Cleanup(stop)
		return r, stop
	}
	a, stopA := start()
	if a.Ready() {
		t.Error("ready before the group assigned anything")
	}
	pipelinetest.Eventually(t, 60*time.Second, "the only process never got ready", a.Ready)
	b, _ := start()
	pipelinetest.Eventually(t, 60*time.Second, "not exactly one of two processes on one partition is ready", func() bool {
		return a.Ready() != b.Ready()
	})
	// Past the second member's join (a generation without partitions
	// comes a second or more later), never both: between generations
	// neither is.
	for range 80 {
		if a.Ready() && b.Ready() {
			t.Fatal("both processes report ready; only the one with the partition may")
		}
		time.Sleep(100 * time.Millisecond)
	}
	pipelinetest.Eventually(t, 60*time.Second, "not exactly one of two processes on one partition is ready", func() bool {
		return a.Ready() != b.Ready()
	})
	if a.Ready() {
		stopA()
		pipelinetest.Eventually(t, 60*time.Second, "the other process did not get ready once the first left", b.Ready)
	}
}

// TestAStageWhoseDeadLetterTopicIsGoneStopsRatherThanDropping: with the
// dead-letter topic deleted, a stage that must dead-letter a record keeps
// retrying its flush, commits nothing and reports not ready; once the topic
// is back, the record is dead-lettered and the records behind it pass.
func TestAStageWhoseDeadLetterTopicIsGoneStopsRatherThanDropping(t *testing.T) {
	if !pipelinetest.Real() {
		t.Skip("needs the real broker (LEADPIPE_TEST_BROKERS); make test starts it")
	}
	cfg := pipelinetest.Kafka(t)
	ctx := context.Background()
	r := runClassify(t, cfg)
	pipelinetest.Eventually(t, 60*time.Second, "classify never got ready", r.Ready)
	client := cfg.Client(10 * time.Second)
	if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{cfg.Topic(pipeline.TopicDLQ)}}); err != nil {
		t.Fatal(err)
	}
	pipelinetest.Eventually(t, 30*time.Second, "the dead-letter topic is still there", func() bool {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topic(pipeline.TopicDLQ)}})
		return err == nil && len(md.Topics) == 1 && md.Topics[0].Error != nil
	})
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw,
		kafka.Message{Key: []byte("lead-1"), Value: []byte(`{"type":"lead","event_id":"bad","occurred_at":"2026-03-01T10:00:00Z","lead_id":"lead-1","contact":{"country":"Italy"}}`)},
		kafka.Message{Key: []byte("lead-1"), Value: []byte(goodLead)})
	// Not ready once a flush has failed: the records were processed and
	// their writing tried (a wait for a condition, not for a time, so that
	// the checks below come after the attempt).
	pipelinetest.Eventually(t, 30*time.Second, "still ready with the dead-letter topic gone: no flush failed", func() bool { return !r.Ready() })
	if c := r.Counts("classify"); c.DeadLettered != 0 || c.Produced != 0 {
		t.Errorf("counts %+v with the dead-letter topic gone: something was counted as written", c)
	}
	if ok, err := pipeline.GroupCaughtUp(ctx, &cfg, cfg.Group("classify"), cfg.Topic(pipeline.TopicLeadsRaw)); err != nil || ok {
		t.Errorf("the group committed past the record it could not dead-letter (caught up %v, %v)", ok, err)
	}

	if _, err := pipeline.CreateTopics(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, r)
	if dlq := pipelinetest.ReadAll(t, &cfg, pipeline.TopicDLQ); len(dlq) != 1 {
		t.Errorf("dead-letter topic holds %d records, want the bad one", len(dlq))
	}
	if classified := pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsClassified); len(classified) != 1 {
		t.Errorf("leads.classified = %d records, want the good lead", len(classified))
	}
}

// slowStage copies records as PassthroughStage does, taking its time over
// each, as enrich does when it waits for classify.
type slowStage struct {
	*pipeline.PassthroughStage
	per time.Duration
}

func (s slowStage) Process(ctx context.Context, m *kafka.Message, out *pipeline.Outputs) (pipeline.Outcome, error) {
	time.Sleep(s.per)
	return s.PassthroughStage.Process(ctx, m, out)
}

func TestAStageSlowOverEachRecordFlushesAtTheBatchAgeNotWhenItsInputIsDone(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	cfg.BatchAge = 50 * time.Millisecond
	in := make([]kafka.Message, 100)
	for i := range in {
		in[i] = kafka.Message{Key: []byte("one key, one partition"), Value: []byte(strconv.Itoa(i))}
	}
	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorRaw, in...)
	r := pipeline.NewRunner(cfg, nil, nil)
	stage := slowStage{pipeline.NewPassthroughStage("slow", []string{cfg.Topic(pipeline.TopicBehaviorRaw)}, cfg.Topic(pipeline.TopicBehaviorEnriched)), 20 * time.Millisecond}
	if err := r.Add(stage, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// 100 records of 20 ms each take 2 s. A batch is cut at 50 ms, with
	// two or three records in it, and its flush takes a few tens of ms: the
	// first outputs are produced a few records in, not once a pause in the
	// input (a fetch) or the end of it lets the loop look at the clock.
	var c pipeline.Counts
	pipelinetest.Eventually(t, 60*time.Second, "nothing produced", func() bool {
		c = r.Counts("slow")
		return c.Produced > 0
	})
	if c.Consumed >= 20 {
		t.Errorf("the first outputs were produced after %d records were consumed (%v of processing), with a batch age of %v",
			c.Consumed, time.Duration(c.Consumed)*stage.per, cfg.BatchAge)
	}
	waitCopied(ctx, t, r, &cfg, len(in))
}

func TestATaskDoesNotWaitForAnInputThatIsEmptyOnTheBroker(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	// consents.raw and the suppressions topic hold nothing. Known to be at
	// their end from the start of the generation, they hold no task: with
	// their ends unknown until a record of theirs is fetched (never), the
	// lead would wait the whole max-idle.
	cfg.MaxIdle = time.Minute
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, kafka.Message{Key: []byte("lead-good"), Value: []byte(goodLead)})
	start := time.Now()
	r := runClassify(t, cfg)
	pipelinetest.Eventually(t, 30*time.Second, "the lead is not classified", func() bool {
		return r.Counts("classify").Produced+r.Counts("classify").Quarantined > 0
	})
	if d := time.Since(start); d >= cfg.MaxIdle/2 {
		t.Errorf("the lead was classified after %v, with a max-idle of %v", d, cfg.MaxIdle)
	}
}

// slowFlusher consumes without outputs of its own to Kafka and flushes
// like the sink: its Flush takes a while, as an INSERT does, and gives up
// when its context ends, leaving the outcome unknown.
type slowFlusher struct {
	*pipeline.PassthroughStage
	inFlush              chan struct{}
	flushed, interrupted atomic.Int32
}

func (s *slowFlusher) Flush(ctx context.Context, _ *pipeline.Outputs) error {
	select {
	case s.inFlush <- struct{}{}:
	default:
	}
	select {
	case <-time.After(500 * time.Millisecond):
		s.flushed.Add(1)
		return nil
	case <-ctx.Done():
		s.interrupted.Add(1)
		return ctx.Err()
	}
}

func TestAFlushUnderWayWhenTheStageStopsIsFinishedNotCutOff(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	in := make([]kafka.Message, 50)
	for i := range in {
		in[i] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
	}
	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorEnriched, in...)
	r := pipeline.NewRunner(cfg, nil, nil)
	stage := &slowFlusher{PassthroughStage: pipeline.NewPassthroughStage("slow-sink", []string{cfg.Topic(pipeline.TopicBehaviorEnriched)}, ""),
		inFlush: make(chan struct{}, 1)}
	if err := r.Add(stage, &pipeline.StageOptions{BatchAge: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-stage.inFlush:
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("no flush began")
	}
	cancel() // SIGTERM in the middle of an INSERT
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := stage.interrupted.Load(); n > 0 {
		t.Errorf("%d flushes were cut off by the stop: an INSERT cut off has an unknown outcome, and the batch's retry may land it twice", n)
	}
	if stage.flushed.Load() == 0 {
		t.Error("the flush under way did not finish")
	}
	if c := r.Counts("slow-sink"); c.Consumed == 0 || c.InFlight != 0 || c.Produced != c.Consumed {
		t.Errorf("counts %+v after the stop: every record consumed should be flushed and counted", c)
	}
}
