package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
)

// A filter the page cannot use is refused before any query: the server
// needs no ClickHouse for it.
func TestAFilterThatIsNotADayOrAChannelIsRefusedWithItsReason(t *testing.T) {
	s := &Server{Marketing: "marketing", Now: func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for query, reason := range map[string]string{
		"?from=yesterday":                   `the start of the range, &#34;yesterday&#34;, is not a day YYYY-MM-DD`,
		"?to=2026-13-01":                    `the end of the range, &#34;2026-13-01&#34;, is not a day YYYY-MM-DD`,
		"?from=2026-11-30&to=2026-11-01":    `the date range ends (2026-11-01) before it begins (2026-11-30)`,
		"?channel=web%27%20OR%201%3D1%20--": `is not a channel name`,
		"answer.csv?q=nope":                 `q names no question`,
		"answer.csv?q=lead_volume&to=x":     `is not a day YYYY-MM-DD`,
	} {
		t.Run(query, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/" + query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %s, want 400 Bad Request", resp.Status)
			}
			if !strings.Contains(string(body), reason) {
				t.Errorf("the page does not say %q:\n%s", reason, body)
			}
		})
	}
}

func TestAChartScalesItsBarsToTheLargestValue(t *testing.T) {
	tab := &analytics.Table{Columns: []string{"category", "leads"}, Rows: [][]any{{"bags", uint64(40)}, {"shoes", uint64(10)}}}
	c := chartOf("audiences", tab)
	if c == nil || len(c.Bars) != 2 {
		t.Fatalf("chart %+v", c)
	}
	if d := c.Bars[0].W - 4*c.Bars[1].W; d < 0 || d > 3 || c.Bars[0].Text != "40" || c.Bars[1].Label != "shoes" {
		t.Errorf("bars %+v: want the first four times the second, labelled", c.Bars)
	}
	if chartOf("audiences", &analytics.Table{Columns: tab.Columns}) != nil {
		t.Error("a chart of no row")
	}
}

// Eleven channels (the demo's lead volume): every series is in the legend,
// inside the chart, each with a colour of its own; beyond the palette the
// smallest are merged into "other".
func TestEverySeriesOfAStackedChartIsInItsLegend(t *testing.T) {
	tab := &analytics.Table{Columns: []string{"week", "network", "leads"}}
	week := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	networks := []string{"facebook", "instagram", "linkedin", "tiktok", "x", "youtube", "pinterest", "reddit", "snapchat", "threads", "other"}
	for i, n := range networks {
		tab.Rows = append(tab.Rows, []any{week, n, uint64(100 - i)})
	}
	c := chartOf("quarantine_releases", tab)
	if c == nil {
		t.Fatal("no chart")
	}
	labels := legendOf(t, c)
	if len(labels) != 8 || labels[len(labels)-1] != "other" {
		t.Errorf("legend %v: want the seven largest networks and other", labels)
	}
	var segments int
	for _, col := range c.Columns {
		segments += len(col.Segments)
	}
	if segments != 8 {
		t.Errorf("%d segments, want one per legend entry", segments)
	}
}

// TestLeadVolumeIsALinePerChannelOverTheWeeks: the lead volume's trend is
// a line per channel with a point per week (zero where a channel had no
// lead that week), each in the legend with its own colour, the largest
// value at the top of the plot; beyond the palette the smallest channels
// are merged into "other".
func TestLeadVolumeIsALinePerChannelOverTheWeeks(t *testing.T) {
	tab := &analytics.Table{Columns: []string{"week", "channel", "network", "leads"}}
	weeks := []time.Time{time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)}
	channels := []string{"direct", "display", "email", "event", "import", "organic_search", "paid_search", "partner", "purchased_list", "social", "web"}
	for w, week := range weeks {
		for i, c := range channels {
			n := uint64(100 - i + w)
			if c == "direct" {
				if w == 1 {
					continue // no direct lead that week: a zero on its line
				}
				n = 1000
			}
			tab.Rows = append(tab.Rows, []any{week, c, "-", n})
		}
	}
	c := chartOf("lead_volume", tab)
	if c == nil {
		t.Fatal("no chart")
	}
	labels := legendOf(t, c)
	if len(labels) != 8 || labels[len(labels)-1] != "other" {
		t.Errorf("legend %v: want the seven largest channels and other", labels)
	}
	if len(c.Lines) != len(labels) || len(c.Columns) != 0 {
		t.Fatalf("%d lines and %d columns, want a line per legend entry and no column", len(c.Lines), len(c.Columns))
	}
	if len(c.Axis) != len(weeks) || c.Axis[0].Label != "2026-11-02" {
		t.Errorf("x axis %v: want the three weeks in order", c.Axis)
	}
	top := c.Height
	for i, l := range c.Lines {
		if l.Color != c.Legend[i].Color || len(l.Dots) != len(weeks) || strings.Count(l.Points, ",") != len(weeks) {
			t.Errorf("line %d (%s): colour %s, %d dots, points %q; want the legend's colour and a point per week", i, labels[i], l.Color, len(l.Dots), l.Points)
		}
		for _, d := range l.Dots {
			top = min(top, d.Y)
		}
	}
	if top != 8 {
		t.Errorf("the highest point is at y=%d, want 8: the largest value at the top of the plot", top)
	}
	direct := c.Lines[slices.Index(labels, "direct")]
	if direct.Dots[1].Y != 220-24 {
		t.Errorf("direct's point in the week without a direct lead is at y=%d, want the axis (196)", direct.Dots[1].Y)
	}
}

// legendOf returns the legend's labels, failing when two share a colour
// or one lies outside the chart.
func legendOf(t *testing.T, c *chart) []string {
	t.Helper()
	colors := map[string]bool{}
	var labels []string
	for _, l := range c.Legend {
		labels = append(labels, l.Label)
		if colors[l.Color] {
			t.Errorf("two series share the colour %s", l.Color)
		}
		colors[l.Color] = true
		if l.X+legendStep > c.Width || l.Y+10 > c.Height {
			t.Errorf("legend entry %q at (%d, %d) lies outside the %dx%d chart", l.Label, l.X, l.Y, c.Width, c.Height)
		}
	}
	return labels
}
