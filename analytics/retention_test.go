package analytics_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

func TestRetentionRemovesPerLeadRowsPastThePeriodsAndRecordsIt(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	retentionRemovesRowsPastThePeriods(t, conn, analytics.NewWriter(conn, cfg.Database), cfg.Database)
}

// On a cluster, old months are dropped and old rows deleted on every shard
// (ON CLUSTER), the partitions listed across the shards.
func TestClusterRetentionRemovesPerLeadRowsPastThePeriodsOnEveryShard(t *testing.T) {
	cfg, conn, _ := pipelinetest.Cluster(t)
	retentionRemovesRowsPastThePeriods(t, conn, analytics.NewConfigWriter(conn, cfg), cfg.Database)
}

func retentionRemovesRowsPastThePeriods(t *testing.T, conn driver.Conn, w *analytics.Writer, db string) {
	ctx := context.Background()
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	ago := func(months int) time.Time { return now.AddDate(0, -months, 0) }

	beh := []analytics.BehaviorRow{
		{EventID: "b-30-key", OccurredAt: ago(30), Action: "purchase", LeadKey: "aa11", Category: "shoes", Value: 10},
		{EventID: "b-30-anon", OccurredAt: ago(30), Action: "page_view"},
		{EventID: "b-18-key", OccurredAt: ago(18), Action: "product_view", LeadKey: "aa11", Category: "shoes"},
		{EventID: "b-18-anon", OccurredAt: ago(18), Action: "page_view"},
		{EventID: "b-6-key", OccurredAt: ago(6), Action: "product_view", LeadKey: "aa11", Category: "shoes"},
		{EventID: "b-6-anon", OccurredAt: ago(6), Action: "page_view"},
	}
	for i := range beh {
		beh[i].Origin = analytics.Origin{Topic: "behavior.enriched", Offset: int64(i)}
	}
	cls := []analytics.ClassificationRow{
		{EventID: "c-30", LeadKey: "bb22", Decision: "accepted", OccurredAt: ago(30), FirstSeen: ago(30), Version: 1},
		{EventID: "c-6", LeadKey: "cc33", Decision: "accepted", OccurredAt: ago(6), FirstSeen: ago(6), Version: 1},
	}
	if err := analytics.Insert(ctx, w, analytics.TableBehavior, beh); err != nil {
		t.Fatal(err)
	}
	if err := analytics.Insert(ctx, w, analytics.TableClassifications, cls); err != nil {
		t.Fatal(err)
	}

	dry, err := analytics.Retain(ctx, w, analytics.DefaultRetention(), now, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := pipelinetest.Strings(t, conn, "SELECT event_id FROM "+db+".behavior_events ORDER BY event_id"); len(got) != 6 {
		t.Fatalf("a dry run removed rows: %v", got)
	}
	if len(dry) == 0 {
		t.Fatal("a dry run listed no action")
	}

	actions, err := analytics.Retain(ctx, w, analytics.DefaultRetention(), now, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, query string
		want        []string
	}{
		{"behavior older than 24 months is gone; lead-linked behavior older than 12 months too",
			"SELECT event_id FROM " + db + ".behavior_events ORDER BY event_id", []string{"b-18-anon", "b-6-anon", "b-6-key"}},
		{"classifications older than 24 months are gone",
			"SELECT event_id FROM " + db + ".classifications ORDER BY event_id", []string{"c-6"}},
		{"leads not updated for 24 months are gone",
			"SELECT lead_key FROM " + db + ".leads ORDER BY lead_key", []string{"cc33"}},
		{"category affinity older than 12 months is gone",
			"SELECT toString(month) FROM " + db + ".category_affinity ORDER BY month", []string{ago(6).Format("2006-01") + "-01"}},
	} {
		if got := pipelinetest.Strings(t, conn, c.query); !equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	var recorded, removed uint64
	if err := conn.QueryRow(ctx, "SELECT count(), sum(rows) FROM "+db+".retention_runs WHERE reason = 'retention'").Scan(&recorded, &removed); err != nil {
		t.Fatal(err)
	}
	if recorded != uint64(len(actions)) || removed == 0 {
		t.Errorf("retention_runs holds %d actions removing %d rows, want the run's %d actions", recorded, removed, len(actions))
	}
}

func TestEraseRemovesTheLeadsRowsUnlinksItsEventsAndDecisionsAndGivesAVerifiedReceipt(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	ctx := context.Background()
	db := cfg.Database
	w := analytics.NewWriter(conn, db)
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	const erased, kept = "e0e0e0e0e0e0e0e0", "f1f1f1f1f1f1f1f1"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(analytics.Insert(ctx, w, analytics.TableBehavior, []analytics.BehaviorRow{
		{EventID: "b1", OccurredAt: at, Action: "product_view", LeadKey: erased, Category: "hats"},
		{EventID: "b2", OccurredAt: at, Action: "product_view", LeadKey: kept, Category: "hats"},
	}))
	must(analytics.Insert(ctx, w, analytics.TableClassifications, []analytics.ClassificationRow{
		{EventID: "c1", LeadKey: erased, Decision: "accepted", OccurredAt: at, Version: 1},
		{EventID: "c2", LeadKey: erased, Decision: "erased", OccurredAt: at.Add(time.Hour), Version: 2},
		{EventID: "c3", LeadKey: kept, Decision: "accepted", OccurredAt: at, Version: 1},
	}))
	must(analytics.Insert(ctx, w, analytics.TableDecisions, []analytics.DecisionRow{
		{EventID: "c2", EventType: "consent", LeadKey: erased, Decision: "erased", At: at},
		{EventID: "c3", EventType: "lead", LeadKey: kept, Decision: "accepted", At: at},
	}))
	req := analytics.ErasureRequest{LeadKey: erased, KeyVersion: "k1", EventID: "c2", RequestedAt: at.Add(time.Hour)}
	receipts, err := analytics.Erase(ctx, w, []analytics.ErasureRequest{req}, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(receipts) != 1 {
		t.Fatalf("%d receipts, want 1", len(receipts))
	}
	r := receipts[0]
	if r.Verified != 1 || r.RequestEventID != "c2" || r.ErasureID != analytics.ErasureID(erased) || r.ErasureID == erased ||
		r.BehaviorUnlinked != 1 || r.ClassificationsRemoved != 2 || r.AffinityRemoved != 1 || r.DecisionsUnlinked != 1 || r.LeadsRemoved == 0 {
		t.Errorf("receipt %+v", r)
	}
	if _, err := analytics.Erase(ctx, w, []analytics.ErasureRequest{{LeadKey: "'; DROP TABLE x"}}, at); err == nil {
		t.Error("Erase took a key that is not a hex HMAC")
	}
	for q, want := range map[string][]string{
		"SELECT concat(event_id, ':', lead_key) FROM " + db + ".behavior_events ORDER BY event_id":        {"b1:", "b2:" + kept},
		"SELECT event_id FROM " + db + ".classifications ORDER BY event_id":                               {"c3"},
		"SELECT lead_key FROM " + db + ".category_affinity ORDER BY lead_key":                             {kept},
		"SELECT lead_key FROM " + db + ".leads FINAL ORDER BY lead_key":                                   {kept},
		"SELECT concat(event_id, ':', lead_key) FROM " + db + ".decisions ORDER BY event_id":              {"c2:", "c3:" + kept},
		"SELECT concat(request_event_id, ' ', toString(verified)) FROM " + db + ".erasure_receipts FINAL": {"c2 1"},
	} {
		if got := pipelinetest.Strings(t, conn, q); !equal(got, want) {
			t.Errorf("%s = %v, want %v", q, got, want)
		}
	}
}

func equal(a, b []string) bool { return slices.Equal(a, b) }

// TestAMutationThatNeverFinishesEndsTheWaitWithAClearError: an erasure
// waits for its deletes; a mutation ClickHouse retries forever ends the
// wait after MutationTimeout with an error naming system.mutations, rather
// than holding the sink without a word.
func TestAMutationThatNeverFinishesEndsTheWaitWithAClearError(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	ctx := context.Background()
	db := cfg.Database
	if err := conn.Exec(ctx, "CREATE TABLE "+db+".stuck (k UInt8, a UInt8) ENGINE = MergeTree() ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO "+db+".stuck (k, a) SELECT 1, 1"); err != nil {
		t.Fatal(err)
	}
	// throwIf fails on every row: the mutation is retried and never done.
	if err := conn.Exec(ctx, "ALTER TABLE "+db+".stuck UPDATE a = throwIf(a = 1) WHERE 1"); err != nil {
		t.Fatal(err)
	}
	pipelinetest.Eventually(t, 10*time.Second, "the stuck mutation is not in system.mutations", func() bool {
		n := pipelinetest.Strings(t, conn, "SELECT toString(count()) FROM system.mutations WHERE database = '"+db+"' AND table = 'stuck' AND is_done = 0")
		return len(n) == 1 && n[0] != "0"
	})
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+db+".stuck") })
	old := analytics.MutationTimeout
	analytics.MutationTimeout = 2 * time.Second
	t.Cleanup(func() { analytics.MutationTimeout = old })
	start := time.Now()
	_, err := analytics.Erase(ctx, analytics.NewWriter(conn, db), []analytics.ErasureRequest{{LeadKey: strings.Repeat("ab", 32), KeyVersion: "k1", EventID: "e1", RequestedAt: start}}, start)
	if err == nil || !strings.Contains(err.Error(), "system.mutations") {
		t.Fatalf("erase with a stuck mutation: %v; want an error naming system.mutations", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the wait took %v, far past the timeout", d)
	}
}

// TestEraseOfMoreLeadsThanOneStatementHoldsIsCarriedOutInChunks erases
// 5,000 leads in one call, as a sink that fell behind meets them in one
// batch: one IN list of them is longer than ClickHouse's max_query_size
// (256 KiB), so they go in chunks, and every request gets its receipt.
func TestEraseOfMoreLeadsThanOneStatementHoldsIsCarriedOutInChunks(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var reqs []analytics.ErasureRequest
	for i := range 5000 {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		reqs = append(reqs, analytics.ErasureRequest{LeadKey: hex.EncodeToString(sum[:]), KeyVersion: "k1", EventID: "c" + strconv.Itoa(i), RequestedAt: at})
	}
	receipts, err := analytics.Erase(ctx, analytics.NewWriter(conn, cfg.Database), reqs, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(receipts) != len(reqs) {
		t.Fatalf("%d receipts for %d requests", len(receipts), len(reqs))
	}
	for _, r := range receipts {
		if r.Verified != 1 {
			t.Fatalf("receipt %+v is not verified", r)
		}
	}
}
