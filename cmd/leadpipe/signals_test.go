package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestEndToEndSignalsDecideWhatVisitorsLeave runs every stage on the real
// broker and ClickHouse with three leads who each gave profiling consent
// on the form, so that only their cookie choice differs: lead-sig-a denied
// analytics (consent mode), lead-sig-b allowed analytics but not profiling
// (a TC string with the measurement purposes only), lead-sig-c allowed
// both (a CDP's categories); and an anonymous visitor who denied
// everything (gcs G100). The one who denied analytics leaves no visitor
// key in any table of either database; the one who denied profiling leaves
// a visitor key but no category_affinity and no audience row; lead-sig-c
// leaves all three, which shows that the checks could see them.
func TestEndToEndSignalsDecideWhatVisitorsLeave(t *testing.T) {
	cfg, conn := testRunConfig(t)
	ctx := context.Background()
	db, k := cfg.ch.Database, &cfg.kafka
	runner := startStages(t, cfg, stageNames...)

	lead := func(id string) kafka.Message {
		return kafka.Message{Key: []byte(id), Value: []byte(`{"type":"lead","event_id":"ev-` + id + `","occurred_at":"2026-03-02T09:00:00Z","lead_id":"` + id +
			`","contact":{"email":"` + id + `@example.com","country":"IT"},"source":{"kind":"web_form","url":"https://shop.example.com/signup"},` +
			`"consents":[{"purpose":"profiling","status":"granted","at":"2026-03-02T09:00:00Z","method":"checkbox","collection_point":"signup","text_version":"v1","proof_ref":"p-` + id + `"}]}`)}
	}
	tcfMeasure := workload.EncodeTCF(workload.TCF{Purposes: []int{1, 7, 8, 9, 10}, PublisherPurposes: []int{1, 7, 8, 9, 10}})
	signals := map[string]string{
		"lead-sig-a": `{"gcm":{"ad_storage":"granted","analytics_storage":"denied","ad_user_data":"granted","ad_personalization":"granted"}}`,
		"lead-sig-b": `{"tcf":"` + tcfMeasure + `"}`,
		"lead-sig-c": `{"categories":{"necessary":true,"analytics":true,"marketing":true}}`,
		"anon-sig-d": `{"gcs":"G100"}`,
	}
	var behavior []kafka.Message
	for _, id := range []string{"lead-sig-a", "lead-sig-b", "lead-sig-c", "anon-sig-d"} {
		subject := `"lead_id":"` + id + `"`
		if strings.HasPrefix(id, "anon-") {
			subject = `"anonymous_id":"` + id + `"`
		}
		for i, action := range []string{"product_view", "add_to_cart", "purchase"} {
			behavior = append(behavior, kafka.Message{Key: []byte(id), Value: []byte(fmt.Sprintf(
				`{"type":"behavior","event_id":"%s-%d","occurred_at":"2026-03-02T10:0%d:00Z",%s,"action":"%s","url":"https://shop.example.com/p/1",`+
					`"product":{"id":"p-1","category":"shoes","price":50},"consent":%s}`, id, i, i, subject, action, signals[id]))})
		}
	}
	pipelinetest.Produce(t, k, pipeline.TopicLeadsRaw, lead("lead-sig-a"), lead("lead-sig-b"), lead("lead-sig-c"))
	waitClassify(t, runner)
	pipelinetest.Produce(t, k, pipeline.TopicBehaviorRaw, behavior...)
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := waitDrained(wctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := analytics.Refresh(ctx, conn, db, cfg.ch.Marketing, 1); err != nil {
		t.Fatal(err)
	}

	keys := pseudonym.Development()
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for id, want := range map[string]struct {
		visitorKey, leadKey bool
		analytics           string // analytics, analytics_signal, profiling, profiling_signal as landed
	}{
		"lead-sig-a": {false, false, "0 gcm 0 gcm"},
		"lead-sig-b": {true, false, "1 tcf 0 tcf"},
		"lead-sig-c": {true, true, "1 cdp 1 cdp"},
		"anon-sig-d": {false, false, "0 gcs 0 unknown"},
	} {
		vk, lk := keys.VisitorKey(id, day), keys.LeadKey(id)
		if got := countEverywhere(t, conn, []string{db, cfg.ch.Marketing}, vk); (got > 0) != want.visitorKey {
			t.Errorf("%s: its visitor key is in %d rows of the two databases; want some: %v", id, got, want.visitorKey)
		}
		var n uint64
		if err := conn.QueryRow(ctx, `SELECT count() FROM `+db+`.behavior_events WHERE lead_key = ?`, lk).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n > 0) != want.leadKey {
			t.Errorf("%s: %d behavior rows carry its lead key; want some: %v", id, n, want.leadKey)
		}
		if err := conn.QueryRow(ctx, `SELECT count() FROM `+db+`.category_affinity WHERE lead_key = ?`, lk).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n > 0) != want.leadKey {
			t.Errorf("%s: %d category_affinity rows; want some: %v", id, n, want.leadKey)
		}
		var got string
		if err := conn.QueryRow(ctx, `SELECT concat(toString(any(analytics)), ' ', any(analytics_signal), ' ', toString(any(profiling)), ' ', any(profiling_signal))
			FROM `+db+`.behavior_events WHERE startsWith(event_id, ?)`, id+"-").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want.analytics {
			t.Errorf("%s: landed with %q, want %q", id, got, want.analytics)
		}
	}
	// Every event counts in the aggregates, keyed or not.
	var events, audience uint64
	if err := conn.QueryRow(ctx, `SELECT toUInt64(sumMerge(events)) FROM `+db+`.engagement_daily`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 12 {
		t.Errorf("engagement_daily counts %d events, want all 12", events)
	}
	// With k = 1 the audiences hold every profiled lead: lead-sig-c alone.
	if err := conn.QueryRow(ctx, `SELECT toUInt64(sum(leads)) FROM `+cfg.ch.Marketing+`.audiences`).Scan(&audience); err != nil {
		t.Fatal(err)
	}
	if audience != 1 {
		t.Errorf("the audiences hold %d leads, want 1 (lead-sig-c; not lead-sig-b, who denied profiling)", audience)
	}
	cov, err := analytics.ReadTable(ctx, conn, `SELECT toString(sum(events)), toString(sum(analytics)), toString(sum(profiling)), toString(sum(unknown)) FROM `+
		cfg.ch.Marketing+`.signal_coverage`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(cov.Rows); got != "[[12 6 3 0]]" {
		t.Errorf("signal_coverage holds events, analytics, profiling, unknown %s, want [[12 6 3 0]]", got)
	}
}

// countEverywhere counts the rows of every String column of every table of
// the databases dbs that hold s.
func countEverywhere(t *testing.T, conn driver.Conn, dbs []string, s string) uint64 {
	t.Helper()
	ctx := context.Background()
	var total uint64
	for _, db := range dbs {
		rows, err := conn.Query(ctx, `SELECT table, name FROM system.columns WHERE database = ? AND type = 'String'`, db)
		if err != nil {
			t.Fatal(err)
		}
		var cols [][2]string
		for rows.Next() {
			var c [2]string
			if err := rows.Scan(&c[0], &c[1]); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		for _, c := range cols {
			var n uint64
			if err := conn.QueryRow(ctx, `SELECT count() FROM `+db+`.`+c[0]+` WHERE `+c[1]+` = ?`, s).Scan(&n); err != nil {
				t.Fatalf("%s.%s.%s: %v", db, c[0], c[1], err)
			}
			total += n
		}
	}
	return total
}
