package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestTheSameEventsInThreeOrdersLandTheSameRowsInClickHouse is the
// event-time guarantee end to end, on the real broker and ClickHouse when
// the tests have them: one workload, with the same person under two lead
// ids and objections, produced with every consent before every lead, with
// every lead before every consent, and interleaved in time order, lands the
// same leads FINAL and the same aggregates; and every lead's row says what
// `leadpipe classify` says of the same events.
//
// Behavior goes in once classify has drained its input: what enrich keys
// then is the lead's final timeline (see DESIGN.md, "A lead key only with a
// profiling basis at the event's time", for what it sees before).
func TestTheSameEventsInThreeOrdersLandTheSameRowsInClickHouse(t *testing.T) {
	events := orderWorkload(t, 300, 3)
	var leads, consents, interleaved, behavior []kafka.Message
	for _, e := range events {
		m := kafka.Message{Key: e.Key, Value: e.Value, Topic: e.Topic}
		switch e.Topic {
		case workload.TopicLeads:
			leads = append(leads, m)
		case workload.TopicConsents:
			consents = append(consents, m)
		case workload.TopicBehavior:
			behavior = append(behavior, m)
		}
		if e.Topic != workload.TopicBehavior {
			interleaved = append(interleaved, m)
		}
	}
	// In time order, as the generator emits them; the appended re-imports
	// and objections sort in by their time.
	slices.SortStableFunc(interleaved, func(a, b kafka.Message) int { return bytes.Compare(occurredAt(a.Value), occurredAt(b.Value)) })

	orders := []struct {
		name   string
		phases [][]kafka.Message
	}{
		{"consents before leads", [][]kafka.Message{consents, leads}},
		{"leads before consents", [][]kafka.Message{leads, consents}},
		{"interleaved in time order", [][]kafka.Message{interleaved}},
	}
	var results []landed
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			results = append(results, runOrder(t, o.phases, behavior))
		})
	}
	if len(results) != len(orders) {
		if t.Failed() {
			t.FailNow()
		}
		t.Skip("the orders were skipped (see above)")
	}
	for i := 1; i < len(results); i++ {
		for name, want := range results[0] {
			if got := results[i][name]; !slices.Equal(got, want) {
				t.Errorf("%s differs between %q and %q:\n%s", name, orders[0].name, orders[i].name, firstDiff(want, got))
			}
		}
	}

	// Every lead's row in ClickHouse is what `leadpipe classify` decides of
	// the same lead and consent events.
	var lines [][]byte
	for _, m := range interleaved {
		lines = append(lines, m.Value)
	}
	// An erased lead has no row, but a verified receipt.
	var want, wantErased []string
	for key, r := range finalByLead(t, lines) {
		if r["decision"] == classify.DecisionErased {
			wantErased = append(wantErased, analytics.ErasureID(key)+" 1")
			continue
		}
		want = append(want, fmt.Sprintf("%s %s %s", key, r["decision"], r["rule"]))
	}
	slices.Sort(want)
	slices.Sort(wantErased)
	if got := results[0]["decisions"]; !slices.Equal(got, want) {
		t.Errorf("leads FINAL differs from leadpipe classify:\n%s", firstDiff(want, got))
	}
	if got := results[0]["erased"]; !slices.Equal(got, wantErased) {
		t.Errorf("the erasure receipts differ from the leads leadpipe classify erases:\n%s", firstDiff(wantErased, got))
	}
	if len(want) < 300 || len(wantErased) == 0 {
		t.Errorf("%d leads and %d erasures compared, want at least 300 and 1", len(want), len(wantErased))
	}
}

// TestTheClassifyStageEndsEveryLeadTheSameInAnyOrderOnTheEmbeddedBroker
// runs the classify stage on kfake with the same workload produced in the
// three orders, and compares the last record of every lead on
// leads.classified and leads.quarantine (the highest seq; a tombstone after
// it removes the lead from that topic) with `leadpipe classify` of the
// same events.
func TestTheClassifyStageEndsEveryLeadTheSameInAnyOrderOnTheEmbeddedBroker(t *testing.T) {
	events := orderWorkload(t, 200, 0)
	var leads, consents, interleaved []kafka.Message
	var lines [][]byte
	for _, e := range events {
		m := kafka.Message{Key: e.Key, Value: e.Value, Topic: e.Topic}
		if e.Topic == workload.TopicLeads {
			leads = append(leads, m)
		} else {
			consents = append(consents, m)
		}
		interleaved = append(interleaved, m)
	}
	slices.SortStableFunc(interleaved, func(a, b kafka.Message) int { return bytes.Compare(occurredAt(a.Value), occurredAt(b.Value)) })
	for _, m := range interleaved {
		lines = append(lines, m.Value)
	}
	want := finalByLead(t, lines)
	for _, o := range []struct {
		name   string
		phases [][]kafka.Message
	}{
		{"consents before leads", [][]kafka.Message{consents, leads}},
		{"leads before consents", [][]kafka.Message{leads, consents}},
		{"interleaved in time order", [][]kafka.Message{interleaved}},
	} {
		t.Run(o.name, func(t *testing.T) {
			cfg := defaultRunConfig()
			cfg.kafka = pipelinetest.Embedded(t)
			cfg.metricsAddr = ""
			k := &cfg.kafka
			runner := startStages(t, &cfg, "classify")
			for _, phase := range o.phases {
				pipelinetest.ProduceEach(t, k, phase...)
				waitClassify(t, runner)
			}
			sameFinals(t, lastRecords(t, k), want)
		})
	}
}

// lastRecords reads leads.classified and leads.quarantine and returns, per
// lead key, the record with the highest seq, without event_id, occurred_at
// and seq. A lead whose last record on leads.quarantine is followed by a
// tombstone there is checked to have a later record on leads.classified.
func lastRecords(t *testing.T, k *pipeline.Config) map[string]map[string]any {
	t.Helper()
	last := map[string]map[string]any{}
	seq := map[string]float64{}
	for _, topic := range []string{pipeline.TopicLeadsClassified, pipeline.TopicLeadsQuarantine} {
		for _, m := range pipelinetest.ReadAll(t, k, topic) {
			if m.Value == nil {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal(m.Value, &rec); err != nil {
				t.Fatal(err)
			}
			key := rec["lead_key"].(string)
			if s := rec["seq"].(float64); s > seq[key] {
				seq[key] = s
				delete(rec, "event_id")
				delete(rec, "occurred_at")
				delete(rec, "seq")
				last[key] = rec
			}
		}
	}
	// The compacted view: what a reader of leads.quarantine keeps per key.
	inQuarantine := map[string]bool{}
	for _, m := range pipelinetest.ReadAll(t, k, pipeline.TopicLeadsQuarantine) {
		inQuarantine[string(m.Key)] = m.Value != nil
	}
	for id, q := range inQuarantine {
		key := pseudonymKey(id)
		if q != (last[key]["decision"] == "quarantined") {
			t.Errorf("lead %s: on leads.quarantine %v, last decision %v", key[:8], q, last[key]["decision"])
		}
	}
	return last
}

// sameFinals fails unless every lead's last record on the topics (got) is
// the one leadpipe classify gives of the same events (want); it shows the
// first lead that differs and counts the others.
func sameFinals(t *testing.T, got, want map[string]map[string]any) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d leads on the topics, want %d", len(got), len(want))
	}
	differ := 0
	for key, w := range want {
		if g := got[key]; !jsonEqual(g, w) {
			if differ++; differ == 1 {
				gj, _ := json.Marshal(g)
				wj, _ := json.Marshal(w)
				t.Errorf("lead %s ends\n%s\nwant (leadpipe classify)\n%s", key[:8], gj, wj)
			}
		}
	}
	if differ > 1 {
		t.Errorf("%d leads end otherwise than leadpipe classify says", differ)
	}
	return differ == 0 && len(got) == len(want)
}

func jsonEqual(a, b map[string]any) bool {
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	return bytes.Equal(aj, bj)
}

// landed is what one run left in ClickHouse, by query name, each as sorted
// lines.
type landed map[string][]string

// runOrder runs every stage on fresh topics and a fresh database, produces
// the phases one after the other (each drained by classify before the
// next), then the behavior, and returns what landed.
func runOrder(t *testing.T, phases [][]kafka.Message, behavior []kafka.Message) landed {
	cfg, conn := testRunConfig(t)
	k := &cfg.kafka
	runner := startStages(t, cfg, stageNames...)
	for _, phase := range phases {
		pipelinetest.ProduceEach(t, k, phase...)
		waitClassify(t, runner)
	}
	msgs := make([]kafka.Message, len(behavior))
	for i, m := range behavior {
		msgs[i] = kafka.Message{Key: m.Key, Value: m.Value}
	}
	pipelinetest.Produce(t, k, pipeline.TopicBehaviorRaw, msgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	out := snapshot(t, conn, cfg.ch.Database)
	assertSomeOfEach(t, conn, cfg.ch.Database)
	return out
}

// snapshot is what ClickHouse holds, by query name, each as sorted lines.
func snapshot(t *testing.T, conn driver.Conn, db string) landed {
	t.Helper()
	out := landed{}
	for name, q := range map[string]string{
		"decisions": `SELECT concat(lead_key, ' ', decision, ' ', rule) FROM ` + db + `.leads FINAL`,
		"leads FINAL": `SELECT concat(lead_key, ' ', key_version, ' ', channel, ' ', network, ' ', toString(paid), ' ', source, ' ', medium, ' ',
			campaign, ' ', decision, ' ', reason, ' ', rule, ' ', basis_email_marketing, ' ', basis_sms_marketing, ' ', basis_phone_marketing, ' ',
			basis_profiling, ' ', basis_third_party_sharing, ' ', basis_sales_followup, ' ', country, ' ', toString(first_seen), ' ',
			toString(updated_at), ' ', policy_version) FROM ` + db + `.leads FINAL`,
		"quarantine_daily": `SELECT concat(toString(day), ' ', channel, ' ', network, ' ', reason, ' ', toString(leads)) FROM ` + db + `.quarantine_daily`,
		"consent_coverage_daily": `SELECT concat(toString(day), ' ', channel, ' ', purpose, ' ', basis, ' ', toString(uniqMerge(leads)))
			FROM ` + db + `.consent_coverage_daily GROUP BY day, channel, purpose, basis`,
		"engagement_daily": `SELECT concat(toString(day), ' ', channel, ' ', action, ' ', toString(sumMerge(events)), ' ',
			toString(uniqMerge(visitors)), ' ', toString(round(sumMerge(revenue), 2))) FROM ` + db + `.engagement_daily GROUP BY day, channel, action`,
		"category_affinity": `SELECT concat(lead_key, ' ', category, ' ', toString(month), ' ', toString(sum(score)), ' ', toString(sum(events)))
			FROM ` + db + `.category_affinity GROUP BY lead_key, category, month`,
		"behavior_events": `SELECT concat(event_id, ' ', lead_key, ' ', decision, ' ', channel) FROM ` + db + `.behavior_events`,
		// The receipts, their times and counts aside: how many rows an
		// erasure removed depends on what had landed before it.
		"erasure_receipts": `SELECT concat(request_event_id, ' ', erasure_id, ' ', key_version, ' ', toString(requested_at), ' ', toString(verified))
			FROM ` + db + `.erasure_receipts FINAL`,
		"erased": `SELECT concat(erasure_id, ' ', toString(verified)) FROM ` + db + `.erasure_receipts FINAL`,
	} {
		rows := pipelinetest.Strings(t, conn, q)
		slices.Sort(rows)
		out[name] = rows
	}
	return out
}

// assertSomeOfEach fails when the run has no lead of a kind the comparison
// is meant to cover.
func assertSomeOfEach(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	got := map[string]bool{}
	for _, r := range pipelinetest.Strings(t, conn, `SELECT DISTINCT rule FROM `+db+`.leads FINAL`) {
		got[r] = true
	}
	for _, r := range []string{classify.RuleAccepted, classify.RuleReleased, classify.RuleSocialNoConsent, classify.RuleSuppressedObjection} {
		if !got[r] {
			t.Errorf("no lead ends with rule %s: the comparison would prove little", r)
		}
	}
	if n := pipelinetest.Strings(t, conn, `SELECT toString(count()) FROM `+db+`.erasure_receipts`); len(n) != 1 || n[0] == "0" {
		t.Errorf("no erasure receipt: %v", n)
	}
	keyed := pipelinetest.Strings(t, conn, `SELECT toString(count()) FROM `+db+`.behavior_events WHERE lead_key != ''`)
	if len(keyed) != 1 || keyed[0] == "0" {
		t.Errorf("no behavior event carries a lead key: %v", keyed)
	}
}

// occurredAt is the occurred_at of a JSON event, for sorting.
func occurredAt(v []byte) []byte {
	var e struct {
		At string `json:"occurred_at"`
	}
	json.Unmarshal(v, &e)
	return []byte(e.At)
}

// firstDiff shows where two sorted line lists part.
func firstDiff(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("line %d of %d/%d:\n  want %s\n  got  %s", i, len(want), len(got), w, g)
		}
	}
	return "equal"
}

func pseudonymKey(leadID string) string { return pseudonym.Development().LeadKey(leadID) }
