package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
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
	tab := &analytics.Table{Columns: []string{"week", "channel", "network", "leads"}}
	week := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	channels := []string{"direct", "display", "email", "event", "import", "organic_search", "paid_search", "partner", "purchased_list", "social", "web"}
	for i, c := range channels {
		tab.Rows = append(tab.Rows, []any{week, c, "-", uint64(100 - i)})
	}
	c := chartOf("lead_volume", tab)
	if c == nil {
		t.Fatal("no chart")
	}
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
	if len(labels) != 8 || labels[len(labels)-1] != "other" {
		t.Errorf("legend %v: want the seven largest channels and other", labels)
	}
	var segments int
	for _, col := range c.Columns {
		segments += len(col.Segments)
	}
	if segments != 8 {
		t.Errorf("%d segments, want one per legend entry", segments)
	}
}
