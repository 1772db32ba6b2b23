package adapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// granted is a consent object that allows analytics and profiling: what
// these tests check (the wait for classify, the lead's key) is then decided
// by the lead alone. Without one, the signal policy's default keys nothing.
const granted = `"consent":{"gcm":{"ad_storage":"granted","analytics_storage":"granted","ad_user_data":"granted","ad_personalization":"granted"}}`

func startEnrich(t *testing.T, cfg pipeline.Config) (*adapter.Enrich, func()) {
	t.Helper()
	r := pipeline.NewRunner(cfg, nil, nil)
	stage := adapter.NewEnrich(&cfg, pseudonym.Development(), schemas.DefaultLimits(), 1_000_000, time.Second)
	if err := r.Add(stage, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("enrich: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stage, stop
}

// TestEnrichHoldsTheLeadsOfItsPartitionsOnly: two enrich processes share
// the partitions; each holds the classifications of its own partitions
// (about half the leads), both together hold every lead, and every
// behavior event still meets its lead: all come out keyed.
func TestEnrichHoldsTheLeadsOfItsPartitionsOnly(t *testing.T) {
	if !pipelinetest.Real() {
		t.Skip("needs the real broker's consumer groups (LEADPIPE_TEST_BROKERS); make test starts it")
	}
	cfg := pipelinetest.Kafka(t)
	cfg.Partitions = 4
	cfg.TopicPrefix += "four."
	ctx := context.Background()
	pipelinetest.Topics(t, &cfg)
	const leads = 400
	keys := pseudonym.Development()
	from := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var records, behavior []kafka.Message
	for i := range leads {
		id := fmt.Sprintf("lead-%04d", i)
		rec := classify.Record{
			EventID: "e-" + id, LeadID: id, Decision: classify.DecisionAccepted, Rule: classify.RuleAccepted,
			LeadKey: keys.LeadKey(id), KeyVersion: keys.Version(), Seq: 1, AsOf: from, OccurredAt: from, FirstSeen: from,
			Timeline: []classify.Span{{From: from, Decision: classify.DecisionAccepted, Channel: "direct", Profiling: true}},
		}
		v, err := json.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, kafka.Message{Key: []byte(id), Value: v})
		behavior = append(behavior, kafka.Message{Key: []byte(id), Value: []byte(`{"type":"behavior","event_id":"b-` + id +
			`","occurred_at":"2026-03-01T11:00:00Z","lead_id":"` + id + `","action":"product_view","product":{"id":"p1","category":"toys"},` + granted + `}`)})
	}
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsClassified, records...)

	a, _ := startEnrich(t, cfg)
	pipelinetest.Eventually(t, 60*time.Second, "the first enrich did not take every partition", func() bool {
		return a.Partitions() == cfg.Partitions && a.Leads() == leads
	})
	b, _ := startEnrich(t, cfg)
	pipelinetest.Eventually(t, 90*time.Second, "the partitions were not shared out", func() bool {
		return a.Partitions() > 0 && b.Partitions() > 0 && a.Partitions()+b.Partitions() == cfg.Partitions &&
			a.Leads()+b.Leads() == leads
	})
	if a.Leads() == leads || b.Leads() == leads {
		t.Errorf("a process holds every lead (%d and %d): the leads are not per task", a.Leads(), b.Leads())
	}
	t.Logf("leads held: %d and %d of %d, partitions %d and %d", a.Leads(), b.Leads(), leads, a.Partitions(), b.Partitions())

	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorRaw, behavior...)
	pipelinetest.Eventually(t, 60*time.Second, "enrich did not drain behavior.raw", func() bool {
		ok, err := pipeline.GroupCaughtUp(ctx, &cfg, cfg.Group("enrich"), cfg.Topic(pipeline.TopicBehaviorRaw))
		return err == nil && ok
	})
	keyed := map[string]bool{}
	for p := range cfg.Partitions {
		err := pipeline.ScanPartition(ctx, &cfg, cfg.Topic(pipeline.TopicBehaviorEnriched), p, func(m *kafka.Message) error {
			var e enrich.Event
			if err := json.Unmarshal(m.Value, &e); err != nil {
				return err
			}
			keyed[e.EventID] = e.LeadKey != ""
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	anonymous := 0
	for _, k := range keyed {
		if !k {
			anonymous++
		}
	}
	if len(keyed) != leads || anonymous > 0 {
		t.Errorf("%d enriched events, %d without their lead's key; want %d, all keyed", len(keyed), anonymous, leads)
	}
}

// A lead and its behavior on one partition, and nothing ever written to
// consents.raw or to the other partitions of leads.raw: classify never
// commits on those partitions, and they hold nothing to wait for.
func TestABehaviorEventIsAttributedAtOnceBesidePartitionsNeverWrittenTo(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	keys := pseudonym.Development()
	r := pipeline.NewRunner(cfg, nil, nil)
	if err := r.Add(adapter.NewClassify(&cfg, classify.New(classify.DefaultPolicy(), keys), schemas.DefaultLimits()), nil); err != nil {
		t.Fatal(err)
	}
	const grace = time.Minute
	if err := r.Add(adapter.NewEnrich(&cfg, keys, schemas.DefaultLimits(), 1_000_000, grace), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	now := time.Now()
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, kafka.Message{Key: []byte("lead-0a1"), Time: now, Value: []byte(
		`{"type":"lead","event_id":"lead-a","occurred_at":"2026-03-02T09:00:00Z","lead_id":"lead-0a1",` +
			`"contact":{"email":"giulia.verdi@example.com","country":"IT"},"source":{"kind":"web_form","referrer":"https://www.google.it/"},` +
			`"consents":[{"purpose":"profiling","status":"granted","at":"2026-03-02T09:00:00Z","method":"checkbox","collection_point":"signup-form","text_version":"v3","proof_ref":"proof-a"}]}`)})
	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorRaw, kafka.Message{Key: []byte("lead-0a1"), Time: now.Add(time.Millisecond), Value: []byte(
		`{"type":"behavior","event_id":"beh-1","occurred_at":"2026-03-02T09:10:00Z","lead_id":"lead-0a1","action":"page_view","url":"https://shop.example.com/",` + granted + `}`)})

	// Well inside the grace: an event that waited for it would come later,
	// and without its lead key.
	var got []kafka.Message
	pipelinetest.Eventually(t, grace/3, "the behavior event was not enriched: enrich waits for classify on partitions with nothing to classify", func() bool {
		got = pipelinetest.ReadAll(t, &cfg, pipeline.TopicBehaviorEnriched)
		return len(got) > 0
	})
	var e enrich.Event
	if err := json.Unmarshal(got[0].Value, &e); err != nil {
		t.Fatal(err)
	}
	if want := keys.LeadKey("lead-0a1"); e.LeadKey != want {
		t.Errorf("lead key %q, want %q: the event went on without what classify knew", e.LeadKey, want)
	}
}

// With no grace (the default), a behavior event of a lead waits for as
// long as classify is away, and lands with the lead's attribution once it
// is back: a classify outage no longer lands behavior unattributed for
// good (issue 24). While it waits, leadpipe_enrich_waiting_seconds grows.
func TestWithNoGraceEnrichHoldsBehaviorWhileClassifyIsAway(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	keys := pseudonym.Development()
	run := func(s pipeline.Stage, reg *prometheus.Registry) {
		r := pipeline.NewRunner(cfg, nil, reg)
		if err := r.Add(s, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	reg := prometheus.NewRegistry()
	run(adapter.NewEnrich(&cfg, keys, schemas.DefaultLimits(), 1_000_000, 0), reg)

	now := time.Now()
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, kafka.Message{Key: []byte("lead-0b1"), Time: now, Value: []byte(
		`{"type":"lead","event_id":"lead-b","occurred_at":"2026-03-02T09:00:00Z","lead_id":"lead-0b1",` +
			`"contact":{"email":"paolo.neri@example.com","country":"IT"},"source":{"kind":"web_form","referrer":"https://www.google.it/"},` +
			`"consents":[{"purpose":"profiling","status":"granted","at":"2026-03-02T09:00:00Z","method":"checkbox","collection_point":"signup-form","text_version":"v3","proof_ref":"proof-b"}]}`)})
	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorRaw, kafka.Message{Key: []byte("lead-0b1"), Time: now.Add(time.Millisecond), Value: []byte(
		`{"type":"behavior","event_id":"beh-b","occurred_at":"2026-03-02T09:10:00Z","lead_id":"lead-0b1","action":"page_view","url":"https://shop.example.com/",` + granted + `}`)})

	// Classify is away: nothing lands, and the wait shows.
	pipelinetest.Eventually(t, 30*time.Second, "enrich does not say it waits", func() bool {
		return waitingSeconds(t, reg) >= 2
	})
	if got := pipelinetest.ReadAll(t, &cfg, pipeline.TopicBehaviorEnriched); len(got) != 0 {
		t.Fatalf("%d behavior events enriched while classify was away, want none", len(got))
	}

	run(adapter.NewClassify(&cfg, classify.New(classify.DefaultPolicy(), keys), schemas.DefaultLimits()), prometheus.NewRegistry())
	var got []kafka.Message
	pipelinetest.Eventually(t, 60*time.Second, "the behavior event was not enriched once classify came back", func() bool {
		got = pipelinetest.ReadAll(t, &cfg, pipeline.TopicBehaviorEnriched)
		return len(got) > 0
	})
	var e enrich.Event
	if err := json.Unmarshal(got[0].Value, &e); err != nil {
		t.Fatal(err)
	}
	if want := keys.LeadKey("lead-0b1"); e.LeadKey != want || e.Decision != classify.DecisionAccepted {
		t.Errorf("lead key %q, decision %s; want %q, accepted: the event went on without what classify knew", e.LeadKey, e.Decision, want)
	}
	if w := waitingSeconds(t, reg); w != 0 {
		t.Errorf("leadpipe_enrich_waiting_seconds is %v after the wait, want 0", w)
	}
}

// waitingSeconds reads leadpipe_enrich_waiting_seconds from reg.
func waitingSeconds(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "leadpipe_enrich_waiting_seconds" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no leadpipe_enrich_waiting_seconds")
	return 0
}

// TestABehaviorRecordStampedEarlierThanLeadRecordsInClassifysLagWaitsForThem
// stamps a behavior record with its event's occurred_at, an hour before
// the produce-time stamps of the lead records that classify has not
// reached yet, its own lead's among them. Enrich orders the records by
// their arrival at the broker, not by their stamps: the behavior waits
// for classify and lands with its lead key. (Comparing stamps, as before,
// let it go at once, unattributed: classify's last committed record was
// stamped after it.)
func TestABehaviorRecordStampedEarlierThanLeadRecordsInClassifysLagWaitsForThem(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	keys := pseudonym.Development()
	run := func(s pipeline.Stage) context.CancelFunc {
		r := pipeline.NewRunner(cfg, nil, prometheus.NewRegistry())
		if err := r.Add(s, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		stop := sync.OnceFunc(func() { cancel(); <-done })
		t.Cleanup(stop)
		return stop
	}
	lead := func(id string, at time.Time) kafka.Message {
		return kafka.Message{Key: []byte(id), Time: at, Value: []byte(
			`{"type":"lead","event_id":"ev-` + id + `","occurred_at":"2026-03-02T09:00:00Z","lead_id":"` + id + `",` +
				`"contact":{"email":"` + id + `@example.com","country":"IT"},"source":{"kind":"web_form","referrer":"https://www.google.it/"},` +
				`"consents":[{"purpose":"profiling","status":"granted","at":"2026-03-02T09:00:00Z","method":"checkbox","collection_point":"signup-form","text_version":"v3","proof_ref":"proof-` + id + `"}]}`)}
	}
	run(adapter.NewEnrich(&cfg, keys, schemas.DefaultLimits(), 1_000_000, 0))
	newClassify := func() pipeline.Stage {
		return adapter.NewClassify(&cfg, classify.New(classify.DefaultPolicy(), keys), schemas.DefaultLimits())
	}
	stopClassify := run(newClassify())

	// Classify commits on every partition of leads.raw.
	var warm []kafka.Message
	for i := range 24 {
		warm = append(warm, lead(fmt.Sprintf("lead-w%02d", i), time.Now()))
	}
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, warm...)
	pipelinetest.Eventually(t, 60*time.Second, "classify did not classify the first leads", func() bool {
		return len(pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsClassified)) >= len(warm)
	})
	time.Sleep(time.Second) // its commits
	stopClassify()

	// Classify is behind: the lead, then its behavior stamped an hour
	// before the lead's record.
	now := time.Now()
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, lead("lead-0b1", now))
	pipelinetest.Produce(t, &cfg, pipeline.TopicBehaviorRaw, kafka.Message{Key: []byte("lead-0b1"), Time: now.Add(-time.Hour), Value: []byte(
		`{"type":"behavior","event_id":"beh-b","occurred_at":"2026-03-02T09:10:00Z","lead_id":"lead-0b1","action":"page_view","url":"https://shop.example.com/",` + granted + `}`)})
	time.Sleep(3 * time.Second)
	if got := pipelinetest.ReadAll(t, &cfg, pipeline.TopicBehaviorEnriched); len(got) != 0 {
		t.Fatalf("the behavior event was enriched while its lead record waited for classify: %s", got[0].Value)
	}

	run(newClassify())
	var got []kafka.Message
	pipelinetest.Eventually(t, 60*time.Second, "the behavior event was not enriched once classify came back", func() bool {
		got = pipelinetest.ReadAll(t, &cfg, pipeline.TopicBehaviorEnriched)
		return len(got) > 0
	})
	var e enrich.Event
	if err := json.Unmarshal(got[0].Value, &e); err != nil {
		t.Fatal(err)
	}
	if want := keys.LeadKey("lead-0b1"); e.LeadKey != want || e.Decision != classify.DecisionAccepted {
		t.Errorf("lead key %q, decision %s; want %q, accepted", e.LeadKey, e.Decision, want)
	}
}
