package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/chromedp/chromedp"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// The databases deploy/clickhouse/users.xml lets leadpipe_writer and
// marketer use in tests.
const (
	leastPrivilegeDB        = "leadpipe_test"
	leastPrivilegeMarketing = "marketing_test"
)

// leastPrivilege recreates leadpipe_test and marketing_test as the
// default user and returns a Config on them (user left to the caller)
// and the default user's connection.
func leastPrivilege(t *testing.T) (analytics.Config, driver.Conn) {
	t.Helper()
	addr := os.Getenv("LEADPIPE_TEST_CLICKHOUSE")
	if addr == "" {
		t.Skip("skipped: LEADPIPE_TEST_CLICKHOUSE is not set; `make test` starts ClickHouse and sets it")
	}
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database, cfg.Marketing = addr, leastPrivilegeDB, leastPrivilegeMarketing
	ctx := context.Background()
	admin, err := analytics.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	drop := func() {
		for _, db := range []string{cfg.Database, cfg.Marketing} {
			if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
				t.Error(err)
			}
		}
	}
	drop()
	t.Cleanup(func() {
		if os.Getenv("LEADPIPE_TEST_KEEP") == "" {
			drop()
		}
		admin.Close()
	})
	if _, err := analytics.Migrate(ctx, admin, cfg.Database, cfg.Marketing, cfg.Cluster); err != nil {
		t.Fatal(err)
	}
	return cfg, admin
}

// openAs connects to cfg's server as user.
func openAs(t *testing.T, cfg analytics.Config, user string) driver.Conn {
	t.Helper()
	cfg.User = user
	conn, err := analytics.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// loadMarketingFixture inserts analytics/testdata/marketing_fixture.sql
// (the rows the queries' tests know the answers of) into cfg.Database.
func loadMarketingFixture(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "analytics", "testdata", "marketing_fixture.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range analytics.SplitStatements(strings.ReplaceAll(string(b), "{db}", db)) {
		if err := conn.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("fixture: %v", err)
		}
	}
}

var fixtureFilter = analytics.Filter{
	From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	To:   time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
}

func TestTheMarketerReadsTheMarketingDatabaseAndNothingElse(t *testing.T) {
	cfg, admin := leastPrivilege(t)
	loadMarketingFixture(t, admin, cfg.Database)
	ctx := context.Background()

	writer := openAs(t, cfg, "leadpipe_writer")
	if _, err := analytics.Refresh(ctx, writer, cfg.Database, cfg.Marketing, analytics.DefaultK); err != nil {
		t.Fatalf("leadpipe_writer cannot refresh the marketing database: %v", err)
	}

	marketer := openAs(t, cfg, "marketer")
	for _, q := range analytics.Queries() {
		tab, err := q.Run(ctx, marketer, cfg.Marketing, fixtureFilter)
		if err != nil {
			t.Errorf("the marketer cannot answer %s: %v", q.Name, err)
		} else if len(tab.Rows) == 0 {
			t.Errorf("the marketer's %s has no row", q.Name)
		}
	}
	refused := map[string]string{
		"leads":                   "SELECT count() FROM " + cfg.Database + ".leads",
		"behavior_events":         "SELECT count() FROM " + cfg.Database + ".behavior_events",
		"decisions":               "SELECT count() FROM " + cfg.Database + ".decisions",
		"classifications":         "SELECT count() FROM " + cfg.Database + ".classifications",
		"system.query_log":        "SELECT count() FROM system.query_log",
		"table function numbers":  "SELECT count() FROM numbers(10)",
		"table function remote":   "SELECT count() FROM remote('127.0.0.1', " + cfg.Database + ".leads)",
		"table function file":     "SELECT count() FROM file('/etc/passwd', 'CSV', 'a String')",
		"table function url":      "SELECT count() FROM url('http://127.0.0.1:1/', 'CSV', 'a String')",
		"insert into marketing":   "INSERT INTO " + cfg.Marketing + ".audiences (snapshot, channel, category, leads) SELECT 1, 'x', 'y', 1",
		"drop a marketing table":  "DROP TABLE " + cfg.Marketing + ".audiences",
		"create a table":          "CREATE TABLE " + cfg.Marketing + ".mine (a UInt8) ENGINE = Memory",
		"a setting that lifts it": "SET readonly = 0",
	}
	for what, q := range refused {
		if err := marketer.Exec(ctx, q); err == nil {
			t.Errorf("the marketer may %s: %s", what, q)
		}
	}
	// What the marketer may read holds no key: no column of marketing is
	// a lead or visitor key.
	rows, err := marketer.Query(ctx, "SELECT name FROM system.columns WHERE database = ?", cfg.Marketing)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(col, "key") || strings.Contains(col, "id") {
			t.Errorf("marketing has a column %q", col)
		}
	}

	// The writer: the two databases only.
	if err := writer.Exec(ctx, "SELECT count() FROM system.query_log"); err == nil {
		t.Error("leadpipe_writer may read system.query_log")
	}
	if err := writer.Exec(ctx, "CREATE DATABASE IF NOT EXISTS lp_not_the_writers"); err == nil {
		admin.Exec(ctx, "DROP DATABASE IF EXISTS lp_not_the_writers")
		t.Error("leadpipe_writer may create a database")
	}
}

// chromium returns Debian's Chromium, which scripts/services-up.sh installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("LEADPIPE_TEST_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("no chromium on PATH: scripts/chromium-up.sh installs it (make test runs it)")
	return ""
}

// pageTables reads every answer table of the page: question → rows of cell texts.
const pageTables = `Object.fromEntries([...document.querySelectorAll('table[data-question]')].map(t =>
	[t.dataset.question, [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent.trim()))]))`

// shown formats a query's value as a reader expects it on the page.
func shown(column string, v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.Format(time.DateOnly)
	case float64:
		if column == "coverage" || strings.HasSuffix(column, "_rate") {
			return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return fmt.Sprint(v)
}

func TestTheDashboardShowsInABrowserWhatTheQueriesAnswer(t *testing.T) {
	cfg, admin := leastPrivilege(t)
	browser := chromium(t)
	ctx := context.Background()
	marketer := openAs(t, cfg, "marketer")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- serveDashboard(sctx, ln, marketer, cfg.Marketing, dashboardFlags{reload: 0, days: 90}, nil)
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
	base := "http://" + ln.Addr().String() + "/"

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser),
		chromedp.NoSandbox, chromedp.WindowSize(1440, 2200), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelTimeout()

	// Before anything landed: the page says what to run.
	if err := chromedp.Do(bctx, chromedp.Navigate(base)); err != nil {
		t.Fatalf("the empty page: %v", err)
	}
	empty, err := chromedp.Run(bctx, chromedp.Text("#empty"))
	if err != nil {
		t.Fatalf("the empty page: %v", err)
	}
	if !strings.Contains(empty, "make demo") || !strings.Contains(empty, "leadpipe run") {
		t.Errorf("the empty page does not say what to run: %q", empty)
	}

	loadMarketingFixture(t, admin, cfg.Database)
	if _, err := analytics.Refresh(ctx, openAs(t, cfg, "leadpipe_writer"), cfg.Database, cfg.Marketing, analytics.DefaultK); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, f analytics.Filter, url string) []byte {
		if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible("#answers")); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(bctx, chromedp.Evaluate[map[string][][]string](pageTables))
		if err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range analytics.Queries() {
			tab, err := q.Run(ctx, marketer, cfg.Marketing, f)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]string
			for _, row := range tab.Rows {
				cells := make([]string, len(row))
				for i, v := range row {
					cells[i] = shown(tab.Columns[i], v)
				}
				want = append(want, cells)
			}
			if fmt.Sprint(got[q.Name]) != fmt.Sprint(want) {
				t.Errorf("the page shows %s as\n%v\nthe query answers\n%v", q.Name, got[q.Name], want)
			}
		}
		// The page leads with the period's figures.
		figures, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.textContent]))`))
		if err != nil {
			t.Fatal(err)
		}
		fig, err := analytics.PeriodFigures(ctx, marketer, cfg.Marketing, f)
		if err != nil {
			t.Fatal(err)
		}
		wantFigures := map[string]string{"leads": fmt.Sprint(fig.Leads), "accepted_share": fmt.Sprintf("%.0f%%", 100*fig.AcceptedShare()),
			"quarantined": fmt.Sprint(fig.Quarantined), "released": fmt.Sprint(fig.Released), "erasures": fmt.Sprint(fig.Erasures)}
		if fmt.Sprint(figures) != fmt.Sprint(wantFigures) || fig.Leads == 0 {
			t.Errorf("the page's figures %v, want %v", figures, wantFigures)
		}
		return png
	}
	png := check(t, fixtureFilter, base+"?from=2026-11-01&to=2026-11-30")
	web := fixtureFilter
	web.Channel = "web"
	check(t, web, base+"?from=2026-11-01&to=2026-11-30&channel=web")

	// A range from before 1970 (the demo's default once started in 1927) is cut
	// to the first Monday ClickHouse's Date holds: every question is
	// answered, as from that Monday, and the page says it cut the range.
	for _, from := range []string{"1927-01-01", "1970-01-01"} {
		t.Run("from "+from, func(t *testing.T) {
			f := fixtureFilter
			f.From = analytics.FirstDay
			check(t, f, base+"?from="+from+"&to=2026-11-30")
			got, err := chromedp.Run(bctx, chromedp.Evaluate[map[string][][]string](pageTables))
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range analytics.Queries() {
				if len(got[q.Name]) == 0 {
					t.Errorf("%s: no answer on the page from %s", q.Name, from)
				}
			}
			note, err := chromedp.Run(bctx, chromedp.Text("#clamped"))
			if err != nil || !strings.Contains(note, "1970-01-05") {
				t.Errorf("the page does not say the range was cut: %q, %v", note, err)
			}
		})
	}

	// Each answer downloads as CSV: the rows the query answers, the link on
	// the page for each question answered.
	links, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('p.csv a')].map(a => a.getAttribute('href'))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != len(analytics.Queries()) {
		t.Errorf("%d CSV links on the page, want one per question (%d)", len(links), len(analytics.Queries()))
	}
	resp, err := http.Get(base + "answer.csv?q=lead_volume&from=2026-11-01&to=2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	volume, _ := analytics.QueryByName("lead_volume")
	tab, err := volume.Run(ctx, marketer, cfg.Marketing, fixtureFilter)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(records) != len(tab.Rows)+1 || strings.Join(records[0], ",") != strings.Join(tab.Columns, ",") ||
		records[1][3] != fmt.Sprint(tab.Rows[0][3]) {
		t.Errorf("lead_volume as CSV (%s): %v; want the header and the %d rows the query answers", resp.Status, records, len(tab.Rows))
	}

	// A long table (consent coverage: 18 rows) is folded, a short one is not.
	folded, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]bool](`Object.fromEntries([...document.querySelectorAll('table[data-question]')].map(t => [t.dataset.question, t.closest('details') !== null]))`))
	if err != nil {
		t.Fatal(err)
	}
	if !folded["consent_coverage"] || folded["lead_volume"] {
		t.Errorf("folded tables %v: want consent_coverage (18 rows) folded, lead_volume (3) not", folded)
	}

	// The channel list offers the channels that have leads.
	options, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('select[name=channel] option')].map(o => o.value)`))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(options) != "[ partner social web]" {
		t.Errorf("the channel filter offers %q", options)
	}

	// The fixture's page, for a look when the test fails (docs/dashboard.png
	// is the demo's page: demo_test.go).
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}

func TestTheSinkLandsErasesAndRefreshesAsLeadpipeWriter(t *testing.T) {
	chCfg, admin := leastPrivilege(t)
	cfg := defaultRunConfig()
	cfg.ch = chCfg
	cfg.ch.User = "leadpipe_writer"
	cfg.kafka = pipelinetest.Kafka(t)
	cfg.metricsAddr = ""
	cfg.sinkAge = 100 * time.Millisecond
	cfg.marketingEvery = 200 * time.Millisecond
	cfg.erasureEvery = 200 * time.Millisecond // queued, then carried out by the sink's loop
	runner := startStages(t, &cfg, stageNames...)
	k := &cfg.kafka
	pipelinetest.Produce(t, k, pipeline.TopicLeadsRaw, readJSONL(t, "leads.jsonl")...)
	waitClassify(t, runner)
	pipelinetest.Produce(t, k, pipeline.TopicConsentsRaw, readJSONL(t, "consents.jsonl")...)
	waitClassify(t, runner)
	pipelinetest.Produce(t, k, pipeline.TopicBehaviorRaw, readJSONL(t, "behavior.jsonl")...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	// The fixed input's erasure (lead-0e5) was queued, carried out by the
	// loop and verified, and taken off the queue: the writer may delete
	// from leadpipe's tables.
	var receipts, verified, queued, leads uint64
	for {
		err := admin.QueryRow(ctx, "SELECT count(), countIf(verified = 1), (SELECT count() FROM "+chCfg.Database+".pending_erasures) FROM "+
			chCfg.Database+".erasure_receipts FINAL").Scan(&receipts, &verified, &queued)
		if err != nil {
			t.Fatal(err)
		}
		if receipts == 1 && verified == 1 && queued == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d erasure receipts, %d verified, %d still queued; want 1, 1 and 0", receipts, verified, queued)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The sink refreshed the marketing database as the writer, from every lead landed.
	for {
		last, ok, err := analytics.Latest(ctx, admin, chCfg.Marketing)
		if err != nil {
			t.Fatal(err)
		}
		if err := admin.QueryRow(ctx, "SELECT count() FROM "+chCfg.Database+".leads FINAL").Scan(&leads); err != nil {
			t.Fatal(err)
		}
		if ok && last.Leads == leads && leads > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no marketing snapshot of the %d leads landed (last %+v, %v)", leads, last, ok)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
