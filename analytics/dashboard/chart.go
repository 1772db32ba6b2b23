package dashboard

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
)

// A chart is drawn as SVG by page.html from the geometry computed here:
// horizontal bars (one per row), stacked columns (one per week, a segment
// per series) or trend lines (one per series, a point per week).
type chart struct {
	Title         string
	Width, Height int
	Bars          []bar
	Columns       []column
	Lines         []line
	Axis          []tick // the x labels of a trend
	Legend        []legend
}

// line is one series of a trend: a polyline through its points, with a
// dot per point carrying its value.
type line struct {
	Color  string
	Points string // "x,y x,y …" for the polyline
	Dots   []dot
}

type dot struct {
	X, Y  int
	Title string
}

type tick struct {
	X     int
	Label string
}

type bar struct {
	Label, Text string
	Y, W        int
	Color       string
}

type column struct {
	Label    string
	X, W     int
	Segments []segment
}

type segment struct {
	Y, H  int
	Color string
	Title string
}

type legend struct {
	Label, Color string
	X, Y         int
}

// legendStep is the width of a legend entry: the legend wraps into rows
// of as many as the chart's width holds, so that every series is in it.
const legendStep = 110

// palette is colour-blind safe (Okabe and Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

const (
	chartWidth = 640
	labelWidth = 220
	barHeight  = 20
)

// chartOf draws the answer of question name; nil when it has no chart or
// no row.
func chartOf(name string, tab *analytics.Table) *chart {
	if len(tab.Rows) == 0 {
		return nil
	}
	col := func(c string) int { return slices.Index(tab.Columns, c) }
	num := func(row []any, c string) float64 {
		i := col(c)
		if i < 0 {
			return 0
		}
		switch v := row[i].(type) {
		case uint64:
			return float64(v)
		case float64:
			return v
		}
		return 0
	}
	str := func(row []any, c string) string {
		i := col(c)
		if i < 0 {
			return ""
		}
		if t, ok := row[i].(time.Time); ok {
			return t.Format(time.DateOnly)
		}
		return fmt.Sprint(row[i])
	}
	switch name {
	case "lead_volume":
		return trend("Leads per week, a line per origin channel", tab.Rows, func(r []any) (string, string, float64) {
			return str(r, "week"), str(r, "channel"), num(r, "leads")
		})
	case "quarantine_releases":
		return stacked("Leads released from quarantine per week", tab.Rows, func(r []any) (string, string, float64) {
			return str(r, "week"), str(r, "network"), num(r, "leads")
		})
	case "quarantine_backlog":
		return bars("Leads waiting in quarantine", tab.Rows, func(r []any) (string, float64, string) {
			n := num(r, "leads")
			return str(r, "network") + " / " + str(r, "reason"), n, strconv.FormatFloat(n, 'f', 0, 64)
		})
	case "consent_coverage":
		return bars("Share of leads with consent, per channel and purpose", tab.Rows, func(r []any) (string, float64, string) {
			v := num(r, "coverage")
			return str(r, "channel") + " / " + str(r, "purpose"), v, strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
		})
	case "funnel":
		steps := []string{"page_view", "product_view", "add_to_cart", "purchase"}
		rows := make([][]any, len(steps))
		for i, s := range steps {
			var n float64
			for _, r := range tab.Rows {
				n += num(r, s)
			}
			rows[i] = []any{s, n}
		}
		return bars("Visitors at each step of the funnel, every channel", rows, func(r []any) (string, float64, string) {
			n := r[1].(float64)
			return r[0].(string), n, strconv.FormatFloat(n, 'f', 0, 64)
		})
	case "top_categories":
		return bars("Purchases per channel and category", tab.Rows, func(r []any) (string, float64, string) {
			n := num(r, "purchases")
			return str(r, "channel") + " / " + str(r, "category"), n, strconv.FormatFloat(n, 'f', 0, 64)
		})
	case "audiences":
		return bars("Leads open to personalization, by their top category", tab.Rows, func(r []any) (string, float64, string) {
			n := num(r, "leads")
			return str(r, "category"), n, strconv.FormatFloat(n, 'f', 0, 64)
		})
	}
	return nil
}

// bars draws one horizontal bar per row, scaled to the largest value.
func bars(title string, rows [][]any, of func([]any) (label string, v float64, text string)) *chart {
	c := &chart{Title: title, Width: chartWidth, Height: len(rows)*(barHeight+4) + 4}
	var most float64
	for _, r := range rows {
		_, v, _ := of(r)
		most = max(most, v)
	}
	for i, r := range rows {
		label, v, text := of(r)
		w := 0
		if most > 0 {
			w = int(v / most * float64(chartWidth-labelWidth-70))
		}
		c.Bars = append(c.Bars, bar{Label: label, Text: text, Y: 4 + i*(barHeight+4), W: w, Color: palette[0]})
	}
	return c
}

// seriesOf sums rows into values per (x, series), with the xs in order of
// first appearance (the queries sort by week) and the series sorted. One
// colour per series: beyond the palette, the smallest series are merged
// into "other", which the legend shows too.
func seriesOf(rows [][]any, of func([]any) (x, series string, v float64)) (xs, series []string, values map[[2]string]float64) {
	values = map[[2]string]float64{}
	for _, r := range rows {
		x, s, v := of(r)
		if !slices.Contains(xs, x) {
			xs = append(xs, x)
		}
		if !slices.Contains(series, s) {
			series = append(series, s)
		}
		values[[2]string{x, s}] += v
	}
	slices.Sort(series)
	if len(series) <= len(palette) {
		return xs, series, values
	}
	totals := map[string]float64{}
	for k, v := range values {
		totals[k[1]] += v
	}
	bySize := slices.Clone(series)
	slices.SortStableFunc(bySize, func(a, b string) int {
		switch {
		case totals[a] > totals[b]:
			return -1
		case totals[a] < totals[b]:
			return 1
		}
		return 0
	})
	kept := bySize[:len(palette)-1]
	merged := map[[2]string]float64{}
	for k, v := range values {
		if !slices.Contains(kept, k[1]) {
			k[1] = "other"
		}
		merged[k] += v
	}
	series = slices.Clone(kept)
	slices.Sort(series)
	return xs, append(series, "other"), merged
}

// withLegend sizes c for its legend below a plot of height and adds an
// entry per series, wrapping into rows so that every series is in it.
func withLegend(c *chart, height int, series []string) {
	perRow := (chartWidth - 40) / legendStep
	legendRows := (len(series) + perRow - 1) / perRow
	c.Height = height + 8 + legendRows*16
	for j, s := range series {
		c.Legend = append(c.Legend, legend{Label: s, Color: palette[j%len(palette)], X: 40 + (j%perRow)*legendStep, Y: height + 2 + (j/perRow)*16})
	}
}

// stacked draws a column per x with a segment per series, scaled to the
// tallest column.
func stacked(title string, rows [][]any, of func([]any) (x, series string, v float64)) *chart {
	const height, top, bottom = 220, 8, 24
	xs, series, values := seriesOf(rows, of)
	sums := map[string]float64{}
	for k, v := range values {
		sums[k[0]] += v
	}
	var most float64
	for _, v := range sums {
		most = max(most, v)
	}
	c := &chart{Title: title, Width: chartWidth}
	withLegend(c, height, series)
	step := (chartWidth - 40) / max(len(xs), 1)
	w := max(min(step-6, 60), 4)
	for i, x := range xs {
		col := column{Label: x, X: 40 + i*step, W: w}
		y := height - bottom
		for j, s := range series {
			v := values[[2]string{x, s}]
			if v == 0 {
				continue
			}
			h := int(v / most * float64(height-top-bottom))
			y -= h
			col.Segments = append(col.Segments, segment{Y: y, H: h, Color: palette[j%len(palette)],
				Title: fmt.Sprintf("%s, %s: %s", x, s, strconv.FormatFloat(v, 'f', -1, 64))})
		}
		c.Columns = append(c.Columns, col)
	}
	return c
}

// trend draws a line per series through its value at each x (zero where
// it has none), scaled to the largest value: how each series moves over
// the weeks, which stacked columns hide for all but the bottom one.
func trend(title string, rows [][]any, of func([]any) (x, series string, v float64)) *chart {
	const height, top, bottom = 220, 8, 24
	xs, series, values := seriesOf(rows, of)
	var most float64
	for _, v := range values {
		most = max(most, v)
	}
	c := &chart{Title: title, Width: chartWidth}
	withLegend(c, height, series)
	step := (chartWidth - 80) / max(len(xs)-1, 1)
	xOf := func(i int) int { return 40 + i*step }
	for i, x := range xs {
		c.Axis = append(c.Axis, tick{X: xOf(i), Label: x})
	}
	for j, s := range series {
		l := line{Color: palette[j%len(palette)]}
		for i, x := range xs {
			v := values[[2]string{x, s}]
			y := height - bottom
			if most > 0 {
				y -= int(v / most * float64(height-top-bottom))
			}
			if i > 0 {
				l.Points += " "
			}
			l.Points += strconv.Itoa(xOf(i)) + "," + strconv.Itoa(y)
			l.Dots = append(l.Dots, dot{X: xOf(i), Y: y, Title: fmt.Sprintf("%s, %s: %s", x, s, strconv.FormatFloat(v, 'f', -1, 64))})
		}
		c.Lines = append(c.Lines, l)
	}
	return c
}
