package analytics_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// Check is what an operator runs after an incident. It must say nothing
// after a clean landing, and name the table, the group and the size of a
// doubled insert, a deleted day and a doubled decision.
func TestCheckReportsADoubledInsertADeletedDayAndADoubledDecision(t *testing.T) {
	ctx := context.Background()
	land := func(t *testing.T) (*analytics.Writer, []analytics.BehaviorRow, func() []analytics.Drift) {
		cfg, conn := pipelinetest.ClickHouse(t)
		w := analytics.NewWriter(conn, cfg.Database)
		day := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		actions := []string{"product_view", "add_to_cart", "purchase"}
		var behavior []analytics.BehaviorRow
		var decisions []analytics.DecisionRow
		for i := range 120 {
			r := analytics.BehaviorRow{EventID: fmt.Sprintf("b%03d", i), OccurredAt: day.Add(time.Duration(i) * 30 * time.Minute),
				Action: actions[i%3], Channel: []string{"direct", "social"}[i%2], Decision: "anonymous", VisitorKey: fmt.Sprintf("v%d", i%7),
				Origin: analytics.Origin{Topic: "behavior.enriched", Partition: int32(i % 2), Offset: int64(i / 2)}}
			if r.Action == "purchase" {
				r.Value = 10.5
			}
			if i%4 == 0 {
				r.LeadKey, r.KeyVersion, r.Category, r.Decision = fmt.Sprintf("k%d", i%5), "dev", "shoes", "accepted"
			}
			behavior = append(behavior, r)
			decisions = append(decisions, analytics.DecisionRow{EventID: fmt.Sprintf("e%03d", i), At: day,
				Origin: analytics.Origin{Topic: "leadpipe.audit", Offset: int64(i)}})
		}
		if err := analytics.Insert(ctx, w, analytics.TableBehavior, behavior); err != nil {
			t.Fatal(err)
		}
		if err := analytics.Insert(ctx, w, analytics.TableDecisions, decisions); err != nil {
			t.Fatal(err)
		}
		check := func() []analytics.Drift {
			t.Helper()
			drift, parts, err := analytics.Check(ctx, w)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != 3 {
				t.Errorf("rows of %d topic partitions, want 3 (two of behavior, one of decisions): %+v", len(parts), parts)
			}
			return drift
		}
		if drift := check(); len(drift) != 0 {
			t.Fatalf("drift after a clean landing: %v", drift)
		}
		return w, behavior, check
	}

	t.Run("a batch inserted twice is reported on its days, its months and its offsets", func(t *testing.T) {
		w, behavior, check := land(t)
		if err := analytics.Insert(ctx, w, analytics.TableBehavior, behavior[:40]); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range check() {
			got = append(got, d.Table+" "+d.What)
			if d.Size() <= 0 {
				t.Errorf("%v: a doubled insert reported as missing", d)
			}
		}
		slices.Sort(got)
		got = slices.Compact(got)
		want := []string{"behavior_events rows for as many offsets", "category_affinity events", "category_affinity score",
			"engagement_daily events", "engagement_daily revenue"}
		if !slices.Equal(got, want) {
			t.Errorf("reported %q, want %q", got, want)
		}
	})
	t.Run("a day deleted from an aggregate is reported with its size", func(t *testing.T) {
		w, behavior, check := land(t)
		if err := w.Conn().Exec(ctx, "ALTER TABLE "+w.Database()+".engagement_daily DELETE WHERE day = '2026-03-02'"); err != nil {
			t.Fatal(err)
		}
		var events float64
		for _, r := range behavior {
			if r.OccurredAt.Format(time.DateOnly) == "2026-03-02" {
				events++
			}
		}
		pipelinetest.Eventually(t, 30*time.Second, "the deleted day was not reported", func() bool {
			var missing float64
			for _, d := range check() {
				if d.Table == "engagement_daily" && d.What == "events" {
					if d.Where[:10] != "2026-03-02" || d.Got != 0 {
						t.Errorf("%v: not the deleted day", d)
					}
					missing -= d.Size()
				}
			}
			return missing == events
		})
	})
	t.Run("a decision landed twice is reported", func(t *testing.T) {
		w, _, check := land(t)
		again := []analytics.DecisionRow{{EventID: "e007", At: time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC),
			Origin: analytics.Origin{Topic: "leadpipe.audit", Offset: 500}}}
		if err := analytics.Insert(ctx, w, analytics.TableDecisions, again); err != nil {
			t.Fatal(err)
		}
		drift := check()
		if len(drift) != 1 || drift[0].Table != "decisions" || drift[0].Got != 121 || drift[0].Want != 120 {
			t.Errorf("reported %v, want decisions: 121 rows for 120 event ids", drift)
		}
	})
}
