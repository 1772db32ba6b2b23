package analytics_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// reportPeriod is the period testdata/report_fixture.sql is written for.
var reportPeriod = struct{ from, to time.Time }{
	time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
}

// loadReportFixture inserts testdata/report_fixture.sql into db.
func loadReportFixture(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "report_fixture.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range analytics.SplitStatements(strings.ReplaceAll(string(b), "{db}", db)) {
		if err := conn.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("report fixture: %v\n%s", err, stmt)
		}
	}
}

// TestEveryReportQueryAnswersTheKnownRows: each query of accountability/
// answers, on ClickHouse 18.16, the rows of testdata/accountability/NAME.tsv
// (which make chdb holds current ClickHouse to as well).
func TestEveryReportQueryAnswersTheKnownRows(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	loadReportFixture(t, conn, cfg.Database)
	queries := analytics.AccountabilityQueries()
	if len(queries) != 8 {
		t.Fatalf("%d report queries embedded, want the eight of analytics/accountability/", len(queries))
	}
	for name, sql := range queries {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(sql, "-- ") {
				t.Errorf("accountability/%s.sql is not headed by what it counts", name)
			}
			tab, err := analytics.ReadTable(context.Background(), conn, analytics.BindAccountability(sql, cfg.Database, reportPeriod.from, reportPeriod.to))
			if err != nil {
				t.Fatal(err)
			}
			got := tsv(tab)
			path := filepath.Join("testdata", "accountability", name+".tsv")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run %s -update writes it; check it by hand)", err, t.Name())
			}
			if got != string(want) {
				t.Errorf("%s answered\n%s\nwant (%s)\n%s", name, got, path, want)
			}
		})
	}
}

// TestTheReportCountsTheKnownRows: ReadAccountability on the fixture gives
// the numbers its comments work out by hand.
func TestTheReportCountsTheKnownRows(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	loadReportFixture(t, conn, cfg.Database)
	a, err := analytics.ReadAccountability(context.Background(), analytics.NewWriter(conn, cfg.Database), reportPeriod.from, reportPeriod.to)
	if err != nil {
		t.Fatal(err)
	}
	decisions := map[string]uint64{}
	for _, o := range a.OriginDecisions {
		decisions[o.Channel+"/"+o.Decision] += o.Leads
	}
	if want := map[string]uint64{"search/accepted": 3, "social/accepted": 5, "social/quarantined": 8, "web/accepted": 10}; !maps.Equal(decisions, want) {
		t.Errorf("leads by origin and decision %v, want %v", decisions, want)
	}
	bases := map[string]uint64{}
	for _, o := range a.OriginBases {
		if o.Basis != "none" {
			bases[o.Channel+"/"+o.Purpose+"/"+o.Basis] += o.Leads
		}
	}
	// web-9's email consent came after the period: as of its end, none.
	if want := map[string]uint64{
		"web/email_marketing/consent": 6, "web/profiling/consent": 3, "web/sales_followup/contract": 4,
		"social/email_marketing/consent": 5, "social/profiling/consent": 5, "search/email_marketing/legitimate_interests": 2,
	}; !maps.Equal(bases, want) {
		t.Errorf("leads by origin, purpose and basis %v, want %v", bases, want)
	}
	want := analytics.QuarantineFlow{Entered: 13, Released: 7, MedianWait: 4 * 24 * time.Hour, WaitingAtEnd: 8, Purged: 2}
	if a.Quarantine != want {
		t.Errorf("quarantine %+v, want %+v", a.Quarantine, want)
	}
	if len(a.Erasures) != 3 || a.Erasures[1].Completed.Sub(a.Erasures[1].Requested) != 31*24*time.Hour || a.Erasures[2].Verified {
		t.Errorf("erasures %+v, want three, the second taking 31 days, the third not verified", a.Erasures)
	}
	if len(a.PendingErasures) != 2 || a.PendingErasures[0].Leads != 2 || !a.PendingErasures[0].Requested.Equal(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("pending erasures %+v, want two requests, the first of two leads on 11-01 10:00", a.PendingErasures)
	}
	var ignored uint64
	for _, g := range a.IgnoredGrants {
		ignored += g.Grants
		if strings.Contains(g.Why, "consents[") {
			t.Errorf("an ignored grant's reason keeps where it was: %q", g.Why)
		}
	}
	if ignored != 10 {
		t.Errorf("%d ignored grants, want 10: %+v", ignored, a.IgnoredGrants)
	}
	var versions []string
	for _, v := range a.PolicyVersions {
		versions = append(versions, v.Version+" "+v.First.Format(time.DateTime)+" "+v.Last.Format(time.DateTime)+" "+strconv.FormatUint(v.Decisions, 10))
	}
	if want := []string{"2026-11.1 2026-11-01 08:00:00 2026-11-01 11:00:00 4", "2026-12.1 2026-11-15 12:00:00 2026-11-20 00:00:00 8"}; !slices.Equal(versions, want) {
		t.Errorf("policy versions %q, want %q", versions, want)
	}
	if len(a.Removals) != 5 {
		t.Errorf("removals %+v, want five kinds", a.Removals)
	}
	if _, err := analytics.ReadAccountability(context.Background(), analytics.NewWriter(conn, cfg.Database), reportPeriod.to, reportPeriod.from); err == nil {
		t.Error("a period that ends before it begins is read")
	}
}
