package analytics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

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

// The sink asks, for every batch, which of its events already landed. The
// answer must be exact at any distance, and cheap however large the table
// is: a lookup by the table's primary key reads a granule per key, which
// max_rows_to_read holds it to here (the table holds 300,000 rows).
func TestLandedEventsFindsEveryLandedEventByItsKeyWithoutReadingTheTable(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	ctx := context.Background()
	w := analytics.NewWriter(conn, cfg.Database)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 300_000
	behavior := make([]analytics.BehaviorRow, n)
	for i := range behavior {
		behavior[i] = analytics.BehaviorRow{EventID: fmt.Sprintf("b%d", i), OccurredAt: start.Add(time.Duration(i) * time.Minute), Action: "page_view"}
	}
	if err := analytics.Insert(ctx, w, analytics.TableBehavior, behavior); err != nil {
		t.Fatal(err)
	}
	landed := []analytics.DecisionLandedRow{{OccurredAt: start, EventID: "d0"}, {OccurredAt: start.Add(time.Hour), EventID: "d1"}}
	if err := analytics.Insert(ctx, w, analytics.TableDecisionsLanded, landed); err != nil {
		t.Fatal(err)
	}
	classified := []analytics.ClassificationRow{{EventID: "c0", LeadKey: "k0", OccurredAt: start}, {EventID: "c0", LeadKey: "k1", OccurredAt: start}}
	if err := analytics.Insert(ctx, w, analytics.TableClassifications, classified); err != nil {
		t.Fatal(err)
	}
	key := func(lead string, at time.Time, id string) analytics.EventKey {
		return analytics.EventKey{LeadKey: lead, At: at.Unix(), ID: id}
	}
	limited := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_rows_to_read": 5 * 8192}))
	for _, tc := range []struct {
		name  string
		table string
		ask   []analytics.EventKey
		want  []analytics.EventKey
	}{
		{"the first and the last behavior event of half a year are found, an unknown id and a wrong time are not", analytics.TableBehavior,
			[]analytics.EventKey{key("", start, "b0"), key("", start.Add((n-1)*time.Minute), fmt.Sprintf("b%d", n-1)), key("", start, "nope"), key("", start.Add(time.Minute), "b0")},
			[]analytics.EventKey{key("", start, "b0"), key("", start.Add((n-1)*time.Minute), fmt.Sprintf("b%d", n-1))}},
		{"a decision is found in decisions_landed by its event's time", analytics.TableDecisions,
			[]analytics.EventKey{key("", start.Add(time.Hour), "d1"), key("", start.Add(time.Hour), "d0")},
			[]analytics.EventKey{key("", start.Add(time.Hour), "d1")}},
		{"a classification is found by its lead key too", analytics.TableClassifications,
			[]analytics.EventKey{key("k1", start, "c0"), key("k2", start, "c0")},
			[]analytics.EventKey{key("k1", start, "c0")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.LandedEvents(limited, tc.table, tc.ask)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("found %v, want %v", got, tc.want)
			}
			for _, k := range tc.want {
				if _, ok := got[k]; !ok {
					t.Errorf("%+v not found; found %v", k, got)
				}
			}
		})
	}
}
