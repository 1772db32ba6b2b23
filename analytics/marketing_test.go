package analytics_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite testdata/queries/*.tsv and testdata/accountability/*.tsv from what the queries answer")

// fixtureRange covers every day of testdata/marketing_fixture.sql.
var fixtureRange = analytics.Filter{
	From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	To:   time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
}

// loadFixture inserts testdata/marketing_fixture.sql into db and refreshes
// marketing with k = 5.
func loadFixture(t *testing.T, conn driver.Conn, cfg analytics.Config) {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile("testdata/marketing_fixture.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range analytics.SplitStatements(strings.ReplaceAll(string(b), "{db}", cfg.Database)) {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("fixture: %v\n%s", err, stmt)
		}
	}
	if _, err := analytics.Refresh(ctx, conn, cfg.Database, cfg.Marketing, 5); err != nil {
		t.Fatal(err)
	}
}

// tsv writes a table as ClickHouse's TabSeparated output does, so that
// chDB's answers compare with the same files.
func tsv(tab *analytics.Table) string {
	var b strings.Builder
	for _, row := range tab.Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteByte('\t')
			}
			switch v := v.(type) {
			case time.Time:
				b.WriteString(v.Format(time.DateOnly))
			case float64:
				b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			default:
				fmt.Fprint(&b, v)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestEveryMarketerQueryAnswersTheKnownRows(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	loadFixture(t, conn, cfg)
	queries := analytics.Queries()
	if len(queries) < 7 {
		t.Fatalf("%d queries embedded, want the seven of analytics/queries/", len(queries))
	}
	for _, q := range queries {
		t.Run(q.Name, func(t *testing.T) {
			if q.Question == "" || !strings.Contains(q.Question, "?") {
				t.Errorf("queries/%s.sql is not headed by its question: %q", q.Name, q.Question)
			}
			tab, err := q.Run(context.Background(), conn, cfg.Marketing, fixtureRange)
			if err != nil {
				t.Fatal(err)
			}
			got := tsv(tab)
			path := filepath.Join("testdata", "queries", q.Name+".tsv")
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
				t.Errorf("%s answered\n%s\nwant (%s)\n%s", q.Name, got, path, want)
			}
		})
	}
}

func TestAGroupOfFewerThanKIsShownNowhere(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	loadFixture(t, conn, cfg)
	ctx := context.Background()
	// The fixture's facebook leads (4) and event leads (4) are k-1; the
	// partner leads (5) are k.
	var shown []string
	for _, q := range analytics.Queries() {
		tab, err := q.Run(ctx, conn, cfg.Marketing, fixtureRange)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range tab.Rows {
			for _, v := range row {
				if s, ok := v.(string); ok {
					shown = append(shown, s)
				}
			}
		}
	}
	all := strings.Join(shown, " ")
	for _, hidden := range []string{"facebook", "event"} {
		if strings.Contains(all, hidden) {
			t.Errorf("a group of k-1 leads (%s) is shown", hidden)
		}
	}
	if !strings.Contains(all, "partner") {
		t.Error("the group of exactly k leads (partner) is not shown")
	}
	// Nor in the raw tables of marketing, which the marketer may read too.
	for _, table := range []string{"lead_volume", "quarantine_backlog", "consent_coverage"} {
		var n uint64
		col := "channel"
		if table == "quarantine_backlog" {
			col = "network"
		}
		q := fmt.Sprintf("SELECT count() FROM %s.%s WHERE %s IN ('facebook', 'event')", cfg.Marketing, table, col)
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s.%s holds %d rows of a group of k-1 leads", cfg.Marketing, table, n)
		}
	}
}

func TestAChannelFilterAndADateRangeNarrowTheAnswer(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	loadFixture(t, conn, cfg)
	q, ok := analytics.QueryByName("lead_volume")
	if !ok {
		t.Fatal("no lead_volume query")
	}
	f := fixtureRange
	f.Channel = "web"
	tab, err := q.Run(context.Background(), conn, cfg.Marketing, f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tsv(tab), "2026-11-02\tweb\t-\t12\t10\t0.8333333333333334\n"; got != want {
		t.Errorf("web only: got %q, want %q", got, want)
	}
	f = analytics.Filter{From: time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC), To: fixtureRange.To}
	if tab, err = q.Run(context.Background(), conn, cfg.Marketing, f); err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 0 {
		t.Errorf("from 2026-11-09 on (only k-1 event leads): got %q, want nothing", tsv(tab))
	}
}

func TestAFilterThatIsNotADateOrAChannelIsRefused(t *testing.T) {
	q, _ := analytics.QueryByName("lead_volume")
	for name, f := range map[string]analytics.Filter{
		"a range that ends before it begins": {From: fixtureRange.To, To: fixtureRange.From},
		"a channel with a quote":             {From: fixtureRange.From, To: fixtureRange.To, Channel: "web' OR 1 = 1 --"},
	} {
		t.Run(name, func(t *testing.T) {
			if sql, err := q.Bind("marketing", f); err == nil {
				t.Errorf("bound to\n%s", sql)
			}
		})
	}
}

func TestARefreshKeepsTheLastTwoSnapshotsOnly(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	loadFixture(t, conn, cfg)
	ctx := context.Background()
	q, _ := analytics.QueryByName("lead_volume")
	first, err := q.Run(ctx, conn, cfg.Marketing, fixtureRange)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 3 {
		if last, err = analytics.Refresh(ctx, conn, cfg.Database, cfg.Marketing, 5); err != nil {
			t.Fatal(err)
		}
	}
	var snapshots uint64
	err = conn.QueryRow(ctx, "SELECT uniqExact(snapshot) FROM "+cfg.Marketing+".lead_volume").Scan(&snapshots)
	if err != nil {
		t.Fatal(err)
	}
	if snapshots != 2 {
		t.Errorf("lead_volume holds %d snapshots after four refreshes, want 2", snapshots)
	}
	again, err := q.Run(ctx, conn, cfg.Marketing, fixtureRange)
	if err != nil {
		t.Fatal(err)
	}
	if tsv(again) != tsv(first) {
		t.Errorf("the same tables refreshed again answer\n%s\nnot\n%s", tsv(again), tsv(first))
	}
	latest, ok, err := analytics.Latest(ctx, conn, cfg.Marketing)
	if err != nil || !ok || latest.Snapshot != last || latest.K != 5 {
		t.Errorf("Latest = %+v, %v, %v; want snapshot %d with k 5", latest, ok, err, last)
	}
}

// ClickHouse's Date holds no day before 1970: toMonday of a day before
// 1970-01-05 falls out of it and empties every answer. Bind cuts a range
// to the days it holds.
func TestARangeBeforeWhatADateHoldsIsCutToItsFirstMonday(t *testing.T) {
	q, ok := analytics.QueryByName("lead_volume")
	if !ok {
		t.Fatal("no lead_volume query")
	}
	for _, from := range []time.Time{
		time.Date(1927, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC),
	} {
		f := analytics.Filter{From: from, To: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}
		sql, err := q.Bind("marketing", f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sql, "toDate('1970-01-05')") || !strings.Contains(sql, "toDate('2100-01-01')") {
			t.Errorf("from %s: the range is not cut to 1970-01-05..2100-01-01:\n%s", from.Format(time.DateOnly), sql)
		}
		if _, cut := f.Clamped(); !cut {
			t.Errorf("from %s: Clamped says nothing was cut", from.Format(time.DateOnly))
		}
	}
	if _, cut := (analytics.Filter{From: analytics.FirstDay, To: analytics.LastDay}).Clamped(); cut {
		t.Error("a range inside what a Date holds is cut")
	}
}

// sumColumn adds up column col (0-based) of a testdata/queries TSV.
func sumColumn(t *testing.T, name string, col int) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "queries", name+".tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		n, err := strconv.ParseUint(strings.Split(line, "\t")[col], 10, 64)
		if err != nil {
			t.Fatalf("%s.tsv: %v", name, err)
		}
		sum += n
	}
	return sum
}

// The figures the page leads with add up the answers below them: the
// leads and accepted of lead_volume, the quarantine backlog, the releases;
// and the erasures of the range, from their receipts (the fixture's three
// of November, two verified; October's is outside the range).
func TestThePeriodsFiguresAddUpTheAnswers(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	loadFixture(t, conn, cfg)
	got, err := analytics.PeriodFigures(context.Background(), conn, cfg.Marketing, fixtureRange)
	if err != nil {
		t.Fatal(err)
	}
	want := analytics.Figures{
		Leads: sumColumn(t, "lead_volume", 3), Accepted: sumColumn(t, "lead_volume", 4),
		Quarantined: sumColumn(t, "quarantine_backlog", 2), Released: sumColumn(t, "quarantine_releases", 2),
		Erasures: 3, ErasuresVerified: 2,
	}
	if got != want || got.Leads == 0 {
		t.Errorf("figures %+v, want %+v (the sums of the answers)", got, want)
	}
}
