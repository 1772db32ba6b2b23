package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestAQuarantinedLeadIsPurgedFromEveryStoreAfterTheRetention: on the real
// broker and ClickHouse, a social lead without consent is quarantined and
// lands; once a later event on its partition moves the stream time past
// --quarantine-days, it is gone from the classify state, leads.quarantine
// (a tombstone), and every ClickHouse table, the purge is recorded in
// retention_runs, and a lead released in time stays.
func TestAQuarantinedLeadIsPurgedFromEveryStoreAfterTheRetention(t *testing.T) {
	cfg, conn := testRunConfig(t)
	cfg.quarantineDays = 30
	k := &cfg.kafka
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Q1 is purged; Q2, released by a consent in time, stays. The tick
	// leads come 40 days later, one on every partition of Q1's and Q2's.
	social := `"source":{"kind":"social_lead_form","network":"LinkedIn"}`
	leadEvent := func(id, lead, at, more string) kafka.Message {
		return kafka.Message{Topic: pipeline.TopicLeadsRaw, Key: []byte(lead), Value: []byte(`{"type":"lead","event_id":"` + id +
			`","occurred_at":"` + at + `","lead_id":"` + lead + `",` + more + `}`)}
	}
	msgs := []kafka.Message{
		leadEvent("q-e1", "Q1", "2026-10-01T12:00:00Z", `"contact":{"email":"q1@example.com","country":"IT"},`+social),
		leadEvent("q-e2", "Q2", "2026-10-01T12:00:00Z", `"contact":{"email":"q2@example.com","country":"IT"},`+social),
		{Topic: pipeline.TopicConsentsRaw, Key: []byte("Q2"), Value: []byte(`{"type":"consent","event_id":"q-c2","occurred_at":"2026-10-10T12:00:00Z","lead_id":"Q2","purpose":"email_marketing","action":"grant","method":"double_opt_in","text_version":"v3","proof_ref":"doi-q2"}`)},
	}
	var ticks []kafka.Message
	need := map[int]bool{}
	for _, id := range []string{"Q1", "Q2"} {
		p, err := pipeline.KeyPartition(ctx, k, k.Topic(pipeline.TopicLeadsRaw), []byte(id))
		if err != nil {
			t.Fatal(err)
		}
		need[p] = true
	}
	for i := 0; len(need) > 0 && i < 100; i++ {
		id := fmt.Sprintf("tick-%d", i)
		p, err := pipeline.KeyPartition(ctx, k, k.Topic(pipeline.TopicLeadsRaw), []byte(id))
		if err != nil {
			t.Fatal(err)
		}
		if need[p] {
			delete(need, p)
			ticks = append(ticks, leadEvent("q-"+id, id, "2026-11-10T12:00:00Z", `"source":{"kind":"web_form"}`))
		}
	}
	runner := startStages(t, cfg, stageNames...)
	pipelinetest.ProduceEach(t, k, msgs...)
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	keys := pseudonym.Development()
	q1 := keys.LeadKey("Q1")
	count := func(q string, args ...any) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	db := cfg.ch.Database
	before := map[string]uint64{
		"leads":           count("SELECT count() FROM "+db+".leads FINAL WHERE lead_key = ?", q1),
		"classifications": count("SELECT count() FROM "+db+".classifications WHERE lead_key = ?", q1),
		"decisions":       count("SELECT count() FROM "+db+".decisions WHERE lead_key = ?", q1),
	}
	for table, n := range before {
		if n == 0 {
			t.Fatalf("Q1 has no row in %s before the retention ends: the test would prove nothing", table)
		}
	}

	pipelinetest.ProduceEach(t, k, ticks...)
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, q string }{
		{"leads", "SELECT count() FROM " + db + ".leads FINAL WHERE lead_key = ?"},
		{"classifications", "SELECT count() FROM " + db + ".classifications WHERE lead_key = ?"},
		{"decisions", "SELECT count() FROM " + db + ".decisions WHERE lead_key = ?"},
		{"behavior_events", "SELECT count() FROM " + db + ".behavior_events WHERE lead_key = ?"},
		{"quarantine_daily", "SELECT count() FROM " + db + ".leads FINAL WHERE decision = 'quarantined'"},
	} {
		if n := count(c.q, q1); n != 0 && c.what != "quarantine_daily" || c.what == "quarantine_daily" && count(c.q) != 0 {
			t.Errorf("%s still holds Q1 (or a quarantined lead) after the retention: %d", c.what, n)
		}
	}
	if n := count("SELECT count() FROM "+db+".leads FINAL WHERE lead_key = ? AND decision = 'accepted'", keys.LeadKey("Q2")); n != 1 {
		t.Errorf("Q2, released in time, has %d accepted rows, want 1", n)
	}
	if n := count("SELECT sum(rows) FROM " + db + ".retention_runs WHERE reason = 'quarantine_expired'"); n < before["leads"]+before["classifications"] {
		t.Errorf("retention_runs records %d rows removed by the purge, want at least %d", n, before["leads"]+before["classifications"])
	}
	// classify holds nothing of Q1 any more, and leads.quarantine ends
	// with a tombstone for it.
	r := lookUp(t, cfg, "Q1")
	for _, l := range r.Leads {
		if l.Classify != nil || len(l.ClickHouse) != 0 {
			t.Errorf("leadpipe lead Q1 after the purge: classify %v, ClickHouse %v; want neither", l.Classify, l.ClickHouse)
		}
	}
	topic := k.Topic(pipeline.TopicLeadsQuarantine)
	p, err := pipeline.KeyPartition(ctx, k, topic, []byte("Q1"))
	if err != nil {
		t.Fatal(err)
	}
	var lastValue []byte
	var decisions []string
	if err := pipeline.ScanPartition(ctx, k, topic, p, func(m *kafka.Message) error {
		if string(m.Key) == "Q1" {
			lastValue = m.Value
			if m.Value != nil {
				decisions = append(decisions, strings.SplitN(strings.SplitN(string(m.Value), `"decision":"`, 2)[1], `"`, 2)[0])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if lastValue != nil || len(decisions) != 2 || decisions[1] != classify.DecisionPurged {
		t.Errorf("leads.quarantine of Q1: %v then %q; want quarantined, purged, then a tombstone", decisions, lastValue)
	}
}
