package analytics_test

import (
	"context"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

func TestBehaviorRowsInsertedByColumnReadBackEqual(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	in := []analytics.BehaviorRow{
		{EventID: "e1", OccurredAt: at, Action: "purchase", Channel: "search", Decision: "accepted", LeadKey: "k1", KeyVersion: "k",
			VisitorKey: "v1", ProductID: "p1", Category: "shoes", Value: 12.5, Currency: "EUR", Origin: analytics.Origin{Topic: "t", Partition: 2, Offset: 7}},
		{EventID: "e2", OccurredAt: at.Add(time.Hour), Action: "page_view", Channel: "unknown", Decision: "anonymous", VisitorKey: "v2",
			Origin: analytics.Origin{Topic: "t", Partition: 1, Offset: 8}},
	}
	if err := analytics.Insert(ctx, analytics.NewWriter(conn, cfg.Database), analytics.TableBehavior, in); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT event_id, occurred_at, action, channel, decision, lead_key, key_version, visitor_key, product_id, category, value, currency, _topic, _partition, _offset FROM "+cfg.Database+".behavior_events ORDER BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []analytics.BehaviorRow
	for rows.Next() {
		var r analytics.BehaviorRow
		if err := rows.Scan(&r.EventID, &r.OccurredAt, &r.Action, &r.Channel, &r.Decision, &r.LeadKey, &r.KeyVersion, &r.VisitorKey,
			&r.ProductID, &r.Category, &r.Value, &r.Currency, &r.Topic, &r.Partition, &r.Offset); err != nil {
			t.Fatal(err)
		}
		r.OccurredAt = r.OccurredAt.UTC()
		got = append(got, r)
	}
	if len(got) != len(in) {
		t.Fatalf("read back %d rows, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Errorf("row %d read back as %+v, want %+v", i, got[i], in[i])
		}
	}
}
