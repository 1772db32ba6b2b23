package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// drawPlot draws the CSV's memory, lag and counts over time, one panel each, to
// a PNG.
func drawPlot(csvPath, pngPath string) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return err
	}
	if len(recs) < 2 {
		return fmt.Errorf("%s has no samples", csvPath)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	series := func(name string, scale float64) plotter.XYs {
		xys := make(plotter.XYs, 0, len(recs)-1)
		for _, r := range recs[1:] {
			x, _ := strconv.ParseFloat(r[0], 64)
			y, _ := strconv.ParseFloat(r[col[name]], 64)
			xys = append(xys, plotter.XY{X: x / 60, Y: y * scale})
		}
		return xys
	}
	panel := func(title, unit string, lines ...any) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "minutes"
		p.Y.Label.Text = unit
		p.Legend.Top = true
		return p, plotutil.AddLines(p, lines...)
	}
	mem, err := panel("Resident memory per process", "MiB",
		"classify", series("classify_rss_mib", 1), "enrich", series("enrich_rss_mib", 1), "sink", series("sink_rss_mib", 1))
	if err != nil {
		return err
	}
	lag, err := panel("Consumer group lag", "records",
		"classify", series("classify_lag", 1), "enrich", series("enrich_lag", 1), "sink", series("sink_lag", 1))
	if err != nil {
		return err
	}
	counts, err := panel("Records", "millions",
		"produced (raw)", series("produced", 1e-6), "classify consumed", series("classify_consumed", 1e-6),
		"enrich consumed", series("enrich_consumed", 1e-6), "sink consumed", series("sink_consumed", 1e-6),
		"behavior rows", series("behavior_rows", 1e-6))
	if err != nil {
		return err
	}
	img := vgimg.New(10*vg.Inch, 12*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{mem}, {lag}, {counts}}, tiles, dc)
	mem.Draw(canvases[0][0])
	lag.Draw(canvases[1][0])
	counts.Draw(canvases[2][0])
	out, err := os.Create(pngPath)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
