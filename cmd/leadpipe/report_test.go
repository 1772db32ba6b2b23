package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/leadpipe/leadpipe/analytics"
	accountability "github.com/leadpipe/leadpipe/analytics/report"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

func TestReportRefusesBadUsageBeforeItConnects(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no period", nil, "--from and --to are required"},
		{"no --to", []string{"--from", "2026-11-01"}, "--from and --to are required"},
		{"a --from that is not a day", []string{"--from", "1/11/2026", "--to", "2026-11-30"}, `--from: "1/11/2026" is not a day (2026-11-01) or an RFC 3339 time`},
		{"a --to that is not a day", []string{"--from", "2026-11-01", "--to", "2026-11-31"}, `--to: "2026-11-31" is not a day`},
		{"--from after --to", []string{"--from", "2026-12-01", "--to", "2026-11-01"}, "--from 2026-12-01 is not before --to 2026-11-01: the period is empty"},
		{"an empty period of times", []string{"--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T10:00:00Z"}, "the period is empty"},
		{"an unknown format", []string{"--from", "2026-11-01", "--to", "2026-11-30", "--format", "pdf"}, `--format: "pdf" is not one of md, html, json`},
		{"an argument", []string{"--from", "2026-11-01", "--to", "2026-11-30", "november"}, "takes no arguments"},
		{"a negative quarantine", []string{"--from", "2026-11-01", "--to", "2026-11-30", "--quarantine-days", "-1"}, "--quarantine-days must not be negative"},
		{"a bad --now", []string{"--from", "2026-11-01", "--to", "2026-11-30", "--now", "today"}, `--now: "today" is not an RFC 3339 time`},
		{"an unknown flag", []string{"--form", "2026-11-01"}, "unknown flag: --form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			// No ClickHouse listens on port 1: every case is refused before connecting.
			code := dispatch(context.Background(), append([]string{"report", "--clickhouse", "127.0.0.1:1"}, tc.args...), nil, &out, &errs)
			if code != 2 || !strings.Contains(errs.String(), tc.want) || out.Len() != 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want 2 and %q", code, errs.String(), out.String(), tc.want)
			}
		})
	}
	var out, errs bytes.Buffer
	if code := dispatch(context.Background(), []string{"report", "--help"}, nil, &out, &errs); code != 0 ||
		!strings.Contains(out.String(), "Art. 12(3)") || !strings.Contains(out.String(), "--policy-history") {
		t.Errorf("--help: exit %d, stdout %q", code, out.String())
	}
	if code := dispatch(context.Background(), []string{"report", "--from", "2026-11-01", "--to", "2026-11-30", "--policy-history", t.TempDir(), "--clickhouse", "127.0.0.1:1"}, nil, &out, &errs); code != 1 ||
		!strings.Contains(errs.String(), "holds no policy file") {
		t.Errorf("an empty --policy-history: exit %d, stderr %q", code, errs.String())
	}
}

// reportFixtureIDs are the erasure ids of analytics/testdata/report_fixture.sql's
// receipts in the period: in time, late (a month and a day), exactly a month.
func reportFixtureID(n int) string {
	sum := sha256.Sum256([]byte("erasure|k" + strconv.Itoa(n)))
	return hex.EncodeToString(sum[:])
}

// runReport runs leadpipe report on the fixture's database for November 2026.
func runReport(t *testing.T, cfg analytics.Config, extra ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	args := append([]string{"report", "--clickhouse", cfg.Addr, "--clickhouse-db", cfg.Database,
		"--from", "2026-11-01", "--to", "2026-11-30", "--now", "2026-12-08T10:00:00Z"}, extra...)
	if code := dispatch(context.Background(), args, nil, &out, &errs); code != 0 {
		t.Fatalf("leadpipe %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
	}
	return out.String()
}

// TestTheReportOfKnownRowsOnTheRealServer: leadpipe report on ClickHouse
// 18.16 with the rows of analytics/testdata/report_fixture.sql, in its three
// formats: the JSON follows docs/report.schema.json and holds the numbers
// the fixture's comments work out, the erasure whose receipt took more
// than a month is flagged (and the one of exactly a month is not), no
// lead key or event id appears, and the HTML page, opened in headless
// Chromium, shows the same figures and flags with no script.
func TestTheReportOfKnownRowsOnTheRealServer(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "analytics", "testdata", "report_fixture.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range analytics.SplitStatements(strings.ReplaceAll(string(b), "{db}", cfg.Database)) {
		if err := conn.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("fixture: %v", err)
		}
	}

	// JSON: the schema, strictly, and the numbers.
	raw := runReport(t, cfg, "--format", "json")
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := reportSchema(t).Validate(doc); err != nil {
		t.Errorf("the report's JSON does not follow docs/report.schema.json: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var r accountability.Report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("the report's JSON does not decode strictly: %v", err)
	}
	if !r.Period.To.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("--to 2026-11-30 ends the period at %s, want the 30th included", r.Period.To)
	}
	q := r.Quarantine
	if r.Origins.Leads != 26 || q.Entered != 13 || q.Released != 7 || q.Purged != 2 || q.WaitingAtEnd != 8 || q.MedianWaitSeconds != 4*86400 || q.RetentionDays != 30 {
		t.Errorf("leads %d, quarantine %+v; want 26 leads, 13 entered, 7 released (median 4 days), 2 purged, 8 waiting", r.Origins.Leads, q)
	}
	var late []string
	for _, e := range r.Requests.Erasure.Receipts {
		if e.Late {
			late = append(late, e.ErasureID)
		}
	}
	if len(r.Requests.Erasure.Receipts) != 3 || len(late) != 1 || late[0] != reportFixtureID(1) || r.Requests.Erasure.Late != 1 {
		t.Errorf("receipts %+v: want three, only the one of a month and a day late", r.Requests.Erasure.Receipts)
	}
	if p := r.Requests.Erasure.Pending; len(p) != 2 || !p[0].Overdue || p[1].Overdue || r.Requests.Erasure.Overdue != 1 {
		t.Errorf("pending %+v: want two, the first overdue on 2026-12-08", p)
	}
	if r.Requests.Access.Recorded || !strings.Contains(r.Requests.Access.Note, "no record of access requests") {
		t.Errorf("access requests: %+v, want it said plainly that none is recorded", r.Requests.Access)
	}
	if r.IgnoredGrants[0].Grants != 2 || r.IgnoredGrants[1].Grants != 2 || r.IgnoredGrants[2].Grants != 1 {
		t.Errorf("ignored grants %+v: want 2 not affirmative, 2 without proof, 1 in the future", r.IgnoredGrants[:3])
	}
	if v := r.PolicyVersions; len(v.Versions) != 2 || v.Versions[1].Version != "2026-12.1" || !v.Versions[1].Known || v.Versions[0].Known || len(v.Changes) != 1 || v.Changes[0].Known {
		t.Errorf("policy versions %+v: want 2026-11.1 (text not given) then 2026-12.1 (the built-in), the change unknown", v)
	}
	// The fixture's decisions rows carry no chain: the ledger is checked,
	// and says that nothing of the period is in it.
	if !r.Ledger.Checked || r.Ledger.Status() != "not chained" || r.Ledger.Unchained == 0 || r.Ledger.Records != 0 || r.Ledger.Break != nil {
		t.Errorf("ledger %+v, want checked, not chained, with the fixture's rows unchained", r.Ledger)
	}

	// With the text of 2026-11.1 in a history folder, the change is shown.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "2026-11.yaml"), []byte("extends: default\npolicy_version: \"2026-11.1\"\naffirmative_methods: [web_form]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	md := runReport(t, cfg, "--policy-history", dir)
	if !strings.Contains(md, "| `affirmative_methods` | - web_form |  |") {
		t.Errorf("the Markdown does not show web_form dropped from 2026-11.1 to 2026-12.1:\n%s", md)
	}
	if !strings.Contains(md, "| `"+reportFixtureID(1)[:16]+"` | 2026-11-05 10:00 UTC | 2026-12-06 10:00 UTC | 31d 0h | 2026-12-05 10:00 UTC | **late: more than one month** |") ||
		strings.Count(md, "late: more than one month") != 1 {
		t.Errorf("the Markdown does not flag the one late receipt:\n%s", md)
	}

	// HTML, in Chromium.
	page := filepath.Join(t.TempDir(), "report.html")
	runReport(t, cfg, "--format", "html", "--out", page)
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{raw, md, string(html)} {
		for _, secret := range []string{"web-3", "srch-1", "pk-0", "r-a", "er-1", "d-a-0", "purge-0"} {
			if strings.Contains(out, secret) {
				t.Errorf("a report holds %q, a lead key or event id", secret)
			}
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.WindowSize(1220, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelTimeout()
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible("#ledger")); err != nil {
		t.Fatal(err)
	}
	figures, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	wantFigures := map[string]string{"leads": "26", "quarantine_entered": "13", "quarantine_released": "7", "quarantine_purged": "2",
		"erasures": "3", "erasures_late": "1", "erasures_overdue": "1", "ignored_grants": "10", "ledger": "not chained"}
	if len(figures) != len(wantFigures) {
		t.Errorf("the page's figures %v, want %v", figures, wantFigures)
	}
	for k, v := range wantFigures {
		if figures[k] != v {
			t.Errorf("the page shows %s as %q, want %q", k, figures[k], v)
		}
	}
	type row struct {
		ID, Late, Text, Background string
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll('#erasures tr[data-erasure]')].map(r =>
		({ID: r.dataset.erasure, Late: r.dataset.late, Text: r.textContent, Background: getComputedStyle(r.cells[0]).backgroundColor}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("the page lists %d erasures, want 3: %+v", len(rows), rows)
	}
	for i, rw := range rows {
		late := rw.ID == reportFixtureID(1)
		if rw.ID != reportFixtureID(i) || (rw.Late == "true") != late || strings.Contains(rw.Text, "more than one month") != late ||
			(rw.Background != "rgba(0, 0, 0, 0)") != late {
			t.Errorf("erasure row %d %+v: late should be %v, shown in red", i, rw, late)
		}
	}
	checks, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]string](`({
		scripts: String(document.scripts.length),
		wait: document.querySelector('[data-quarantine=median_wait]').textContent,
		access: document.querySelector('#access').textContent,
		ledger: document.querySelector('#ledger-status').textContent,
		purposes: String(new Set([...document.querySelectorAll('tr[data-purpose]')].map(r => r.dataset.purpose)).size),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if checks["scripts"] != "0" || checks["wait"] != "4d 0h" || !strings.Contains(checks["access"], "no record of access requests") ||
		!strings.HasPrefix(checks["ledger"], "Not chained:") || checks["purposes"] != "6" {
		t.Errorf("the page: %v; want no script, a median wait of 4d 0h, the access note, the ledger not chained, six purposes", checks)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	// LEADPIPE_REPORT_SCREENSHOT=docs/report.png saves the page for
	// docs/privacy.md, in the page's 64 most used colors (a third of the
	// bytes, the text as sharp: it is grey on white).
	if out := os.Getenv("LEADPIPE_REPORT_SCREENSHOT"); out != "" {
		if !filepath.IsAbs(out) {
			out = filepath.Join("..", "..", out)
		}
		small, err := fewerColors(png, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, small, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the report: %s (%d bytes, %d before its colors were cut to 64)", out, len(small), len(png))
	}
}

// fewerColors re-encodes a PNG in its n most used colors, each pixel
// the nearest of them.
func fewerColors(b []byte, n int) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	counts := map[color.RGBA]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colors := slices.Collect(maps.Keys(counts))
	slices.SortFunc(colors, func(a, b color.RGBA) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return int(a.R) - int(b.R) + 256*(int(a.G)-int(b.G)) + 65536*(int(a.B)-int(b.B))
	})
	var pal color.Palette
	for _, c := range colors[:min(n, len(colors))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(bounds, pal)
	draw.Draw(out, bounds, img, bounds.Min, draw.Src)
	var buf bytes.Buffer
	err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out)
	return buf.Bytes(), err
}

// reportSchema compiles docs/report.schema.json, formats asserted.
func reportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
