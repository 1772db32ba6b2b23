package adapter_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// A grant ignored for its method is counted by method, the policy's name
// of it or "other", and a replayed event (a duplicate) is not counted again.
func TestClassifyCountsGrantsIgnoredForTheirMethodByMethod(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	stage := adapter.NewClassify(&cfg, classify.New(classify.DefaultPolicy(), pseudonym.Development()), schemas.DefaultLimits())
	if err := stage.Assign(context.Background(), []int{0}); err != nil {
		t.Fatal(err)
	}
	lead := `{"type":"lead","event_id":"m-1","occurred_at":"2026-03-02T09:00:00Z","lead_id":"lead-m","contact":{"email":"m@example.com"},"source":{"kind":"web_form"},"consents":[` +
		`{"purpose":"email_marketing","status":"granted","at":"2026-03-02T09:00:00Z","method":"Pre-Ticked","collection_point":"f","text_version":"v1"},` +
		`{"purpose":"profiling","status":"granted","at":"2026-03-02T09:00:00Z","method":"cmp","collection_point":"f","text_version":"v1"},` +
		`{"purpose":"sms_marketing","status":"granted","at":"2026-03-02T09:00:00Z","method":"whatever a form says","collection_point":"f","text_version":"v1"},` +
		`{"purpose":"phone_marketing","status":"granted","at":"2026-03-02T09:00:00Z","method":"preference_center","collection_point":"f","text_version":"v1"},` +
		`{"purpose":"third_party_sharing","status":"granted","at":"2026-03-02T09:00:00Z","method":"cmp","collection_point":"f"}]}`
	for range 2 { // the second is a duplicate
		m := &kafka.Message{Topic: cfg.Topic(pipeline.TopicLeadsRaw), Partition: 0, Key: []byte("lead-m"), Value: []byte(lead)}
		if _, err := stage.Process(context.Background(), m, &pipeline.Outputs{}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(stage.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "leadpipe_classify_ignored_grants_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	// preference_center counts; the grant without text_version is ignored
	// for want of proof, not for its method.
	want := map[string]float64{"pre_ticked": 1, "other": 2}
	if len(got) != len(want) || got["pre_ticked"] != 1 || got["other"] != 2 {
		t.Errorf("leadpipe_classify_ignored_grants_total = %v, want %v", got, want)
	}
}
