package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/classify"
)

// subjectArgs are the flags leadpipe lead and erase need for the test's
// topics and database.
func subjectArgs(cfg *runConfig) []string {
	return []string{"--brokers", strings.Join(cfg.kafka.Brokers, ","), "--topic-prefix", cfg.kafka.TopicPrefix,
		"--clickhouse", cfg.ch.Addr, "--clickhouse-db", cfg.ch.Database, "--clickhouse-user", cfg.ch.User,
		"--dev-key"}
}

// runCmd runs a subcommand and returns its exit status, stdout and stderr.
func runCmd(t *testing.T, fn func(context.Context, []string, io.Reader, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := fn(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// lookUp runs leadpipe lead and decodes its report.
func lookUp(t *testing.T, cfg *runConfig, args ...string) subjectReport {
	t.Helper()
	code, out, errs := runCmd(t, cmdLead, append(subjectArgs(cfg), args...)...)
	if code != 0 {
		t.Fatalf("leadpipe lead %v: exit %d: %s", args, code, errs)
	}
	var r subjectReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("leadpipe lead %v: output is not a report: %v\n%s", args, err, out)
	}
	for _, pii := range []string{"anna", "Anna", "Rossi", "+39", "555 0101"} {
		if strings.Contains(out, pii) {
			t.Errorf("leadpipe lead %v prints %q: classify and ClickHouse hold no such thing", args, pii)
		}
	}
	return r
}

// leadIDs are the lead ids of a report.
func (r subjectReport) leadIDs() []string {
	var ids []string
	for _, l := range r.Leads {
		ids = append(ids, l.LeadID)
	}
	return ids
}

// TestLeadAndEraseAnswerADataSubjectOnTheRealServices: leadpipe lead finds
// a person by lead id, email (in any of its forms) or phone, and prints
// their classify state, audit trail and ClickHouse rows; leadpipe erase
// --wait erases one of the leads and prints the verified receipt; the
// person's other lead is suppressed, and the erased lead's rows are gone.
func TestLeadAndEraseAnswerADataSubjectOnTheRealServices(t *testing.T) {
	cfg, _ := testRunConfig(t)
	if len(cfg.kafka.Brokers) == 0 || !strings.Contains(cfg.kafka.Brokers[0], ":") {
		t.Fatal("no broker")
	}
	runner := startStages(t, cfg, stageNames...)
	k := &cfg.kafka
	grant := `{"purpose":"%s","status":"granted","at":"2026-11-02T09:00:00Z","method":"checkbox","collection_point":"signup","text_version":"v3","proof_ref":"prf-%s"}`
	consents := func(id string, purposes ...string) string {
		var cs []string
		for _, p := range purposes {
			cs = append(cs, strings.ReplaceAll(strings.Replace(grant, "%s", p, 1), "%s", id))
		}
		return `"consents":[` + strings.Join(cs, ",") + `]`
	}
	msgs := []kafka.Message{
		{Topic: pipeline.TopicLeadsRaw, Key: []byte("S1"), Value: []byte(`{"type":"lead","event_id":"s-e1","occurred_at":"2026-11-02T09:00:00Z","lead_id":"S1","contact":{"email":"anna.rossi@example.com","phone":"+39 333 555 0101","first_name":"Anna","last_name":"Rossi","country":"IT"},"source":{"kind":"web_form","url":"https://shop.example.com/signup"},` + consents("s1", "email_marketing", "profiling") + `}`)},
		{Topic: pipeline.TopicLeadsRaw, Key: []byte("S2"), Value: []byte(`{"type":"lead","event_id":"s-e2","occurred_at":"2026-11-03T09:00:00Z","lead_id":"S2","contact":{"email":" ANNA.ROSSI+shop@Example.com ","country":"IT"},"source":{"kind":"web_form","url":"https://shop.example.com/signup"}}`)},
		{Topic: pipeline.TopicLeadsRaw, Key: []byte("S3"), Value: []byte(`{"type":"lead","event_id":"s-e3","occurred_at":"2026-11-03T09:00:00Z","lead_id":"S3","contact":{"email":"bob@example.org","country":"IT"},"source":{"kind":"web_form","url":"https://shop.example.com/signup"}}`)},
		{Topic: pipeline.TopicConsentsRaw, Key: []byte("S2"), Value: []byte(`{"type":"consent","event_id":"s-c1","occurred_at":"2026-11-04T09:00:00Z","lead_id":"S2","purpose":"sms_marketing","action":"grant","method":"double_opt_in","text_version":"v3","proof_ref":"prf-s2"}`)},
	}
	for i, at := range []string{"2026-11-05T10:00:00Z", "2026-11-05T10:01:00Z", "2026-11-05T10:02:00Z"} {
		msgs = append(msgs, kafka.Message{Topic: pipeline.TopicBehaviorRaw, Key: []byte("S1"),
			Value: []byte(`{"type":"behavior","event_id":"s-b` + string(rune('1'+i)) + `","occurred_at":"` + at + `","lead_id":"S1","action":"product_view","product":{"id":"p1","category":"toys"},` +
				// A cookie choice that allows profiling: the lead's own basis decides.
				`"consent":{"gcm":{"ad_storage":"granted","analytics_storage":"granted","ad_user_data":"granted","ad_personalization":"granted"}}}`)})
	}
	pipelinetest.ProduceEach(t, k, msgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := runner.WaitDrained(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("by email, in another form, finds both leads of the person and not the other", func(t *testing.T) {
		r := lookUp(t, cfg, "--email", "Anna.Rossi@EXAMPLE.com")
		if got := r.leadIDs(); !slices.Equal(got, []string{"S1", "S2"}) {
			t.Fatalf("leads %v, want [S1 S2]", got)
		}
		s1 := r.Leads[0]
		if s1.Classify == nil || s1.Classify.Current.Decision != classify.DecisionAccepted || len(s1.Classify.Current.Explain) == 0 {
			t.Fatalf("S1 classify: %+v, want accepted with the rules evaluated", s1.Classify)
		}
		if n := len(s1.Classify.Consents); n != 2 || len(s1.Classify.ConsentProofs) != 2 {
			t.Errorf("S1 consent history %d, proofs %d; want 2 and 2", n, len(s1.Classify.ConsentProofs))
		}
		if len(s1.Classify.ContactKeys) != 2 {
			t.Errorf("S1 contact keys %v, want its address's and its number's", s1.Classify.ContactKeys)
		}
		if len(s1.Audit) != 1 {
			t.Errorf("S1 audit %d records, want 1", len(s1.Audit))
		}
		for _, table := range []string{"leads", "classifications", "decisions", "behavior_events", "category_affinity"} {
			if len(s1.ClickHouse[table]) == 0 {
				t.Errorf("S1 has no row in %s: %v", table, s1.ClickHouse)
			}
		}
		if n := len(s1.ClickHouse["behavior_events"]); n != 3 {
			t.Errorf("S1 behavior rows %d, want 3", n)
		}
		if s2 := r.Leads[1]; len(s2.Classify.Consents) != 1 || len(s2.Audit) != 2 {
			t.Errorf("S2: %d consents, %d audit records; want 1 and 2", len(s2.Classify.Consents), len(s2.Audit))
		}
	})
	t.Run("by another sub-address of the person, as the suppression list matches it", func(t *testing.T) {
		if got := lookUp(t, cfg, "--email", "anna.rossi+news@example.com").leadIDs(); !slices.Equal(got, []string{"S1", "S2"}) {
			t.Errorf("leads %v, want [S1 S2]", got)
		}
	})
	t.Run("by phone, written nationally, finds the lead of the number", func(t *testing.T) {
		if got := lookUp(t, cfg, "--phone", "333-5550101", "--country", "IT").leadIDs(); !slices.Equal(got, []string{"S1"}) {
			t.Errorf("leads %v, want [S1]", got)
		}
	})
	t.Run("by lead id", func(t *testing.T) {
		if got := lookUp(t, cfg, "S3").leadIDs(); !slices.Equal(got, []string{"S3"}) {
			t.Errorf("leads %v, want [S3]", got)
		}
	})
	t.Run("nothing held is an answer too", func(t *testing.T) {
		if r := lookUp(t, cfg, "S-nobody"); r.Leads == nil || len(r.Leads) != 0 {
			t.Errorf("leads %v, want an empty list", r.Leads)
		}
	})

	t.Run("erase --wait prints a verified receipt; the lead's rows are gone and the person's other lead is suppressed", func(t *testing.T) {
		code, out, errs := runCmd(t, cmdErase, append(subjectArgs(cfg), "--proof-ref", "ticket-4711", "--wait", "--timeout", "90s", "S1")...)
		if code != 0 {
			t.Fatalf("erase: exit %d: %s", code, errs)
		}
		dec := json.NewDecoder(strings.NewReader(out))
		var req erasureRequest
		var receipt map[string]any
		if err := dec.Decode(&req); err != nil {
			t.Fatalf("erase output: %v\n%s", err, out)
		}
		if err := dec.Decode(&receipt); err != nil {
			t.Fatalf("erase printed no receipt: %v\n%s", err, out)
		}
		if receipt["request_event_id"] != req.EventID || receipt["erasure_id"] != req.ErasureID || receipt["verified"] != float64(1) {
			t.Errorf("receipt %v, want one for %s, verified", receipt, req.EventID)
		}
		if receipt["behavior_unlinked"] != float64(3) || receipt["leads_removed"] == float64(0) {
			t.Errorf("receipt %v, want 3 behavior rows unlinked and the lead row removed", receipt)
		}
		r := lookUp(t, cfg, "S1")
		if len(r.Leads) != 1 || r.Leads[0].Classify == nil || r.Leads[0].Classify.Current.Decision != classify.DecisionErased {
			t.Fatalf("S1 after the erasure: %+v", r.Leads)
		}
		ch := r.Leads[0].ClickHouse
		for _, table := range []string{"leads", "classifications", "behavior_events", "category_affinity"} {
			if len(ch[table]) != 0 {
				t.Errorf("S1 still has %d rows in %s", len(ch[table]), table)
			}
		}
		if len(ch["erasure_receipts"]) != 1 {
			t.Errorf("S1 erasure receipts %v, want 1", ch["erasure_receipts"])
		}
		if s2 := lookUp(t, cfg, "S2").Leads; len(s2) != 1 || s2[0].Classify.Current.Rule != classify.RuleSuppressedErasure {
			t.Errorf("S2 after S1's erasure: %+v, want suppressed_erasure", s2)
		}
	})
	t.Run("erase --wait of a lead classify never saw gives a receipt, and the lead stays erased when it arrives", func(t *testing.T) {
		code, out, errs := runCmd(t, cmdErase, append(subjectArgs(cfg), "--proof-ref", "letter-9", "--wait", "--timeout", "60s", "S-unknown")...)
		if code != 0 || !strings.Contains(out, `"verified": 1`) || !strings.Contains(out, `"behavior_unlinked": 0`) {
			t.Errorf("exit %d, stdout %s, stderr %q; want 0 and a verified receipt with no behavior unlinked", code, out, errs)
		}
		pipelinetest.ProduceEach(t, k, kafka.Message{Topic: pipeline.TopicLeadsRaw, Key: []byte("S-unknown"),
			Value: []byte(`{"type":"lead","event_id":"s-e9","occurred_at":"2026-11-06T09:00:00Z","lead_id":"S-unknown","source":{"kind":"web_form"}}`)})
		waitClassify(t, runner)
		if r := lookUp(t, cfg, "S-unknown"); len(r.Leads) != 1 || r.Leads[0].Classify.Current.Decision != classify.DecisionErased {
			t.Errorf("the lead arrived after its erasure: %+v, want erased", r.Leads)
		}
	})
}

// TestLeadAndEraseRefuseBadUsage: the commands say what is wrong before
// they touch Kafka or ClickHouse.
func TestLeadAndEraseRefuseBadUsage(t *testing.T) {
	t.Setenv("LEADPIPE_HMAC_KEY", "")
	for _, tc := range []struct {
		name string
		fn   func(context.Context, []string, io.Reader, io.Writer, io.Writer) int
		args []string
		want string
	}{
		{"lead with nothing to look up", cmdLead, []string{"--dev-key"}, "give one lead id"},
		{"lead with a lead id and an email", cmdLead, []string{"--dev-key", "--email", "a@example.com", "L1"}, "give one lead id"},
		{"lead with an address that is not one", cmdLead, []string{"--dev-key", "--email", "not-an-address"}, "--email"},
		{"lead with a national number and no country", cmdLead, []string{"--dev-key", "--phone", "333 555 0101"}, "--country"},
		{"lead without a key", cmdLead, []string{"L1"}, "HMAC"},
		{"erase without --proof-ref", cmdErase, []string{"--dev-key", "L1"}, "--proof-ref is required"},
		{"erase without a lead id", cmdErase, []string{"--dev-key", "--proof-ref", "x"}, "give one lead id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd(t, tc.fn, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
		})
	}
}
