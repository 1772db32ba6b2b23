// Package dashboard serves the marketer questions of analytics/queries as
// one web page: charts drawn as SVG on the server and the answers as
// tables, filtered by date range and channel, reloading itself. It reads
// the marketing database only, as the marketer user, and holds no script:
// the page works without JavaScript and loads nothing from elsewhere.
package dashboard

import (
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/leadpipe/leadpipe/analytics"
)

//go:embed page.html
var pageFS embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"cell":    cell,
	"percent": func(share float64) float64 { return 100 * share },
}).ParseFS(pageFS, "page.html"))

// Server answers the page.
type Server struct {
	// Conn reads Marketing, as the marketer user.
	Conn      driver.Conn
	Marketing string
	// Reload is how often the page reloads itself (0: never).
	Reload time.Duration
	// Days is the default date range, ending today.
	Days int
	// Log receives the queries that fail (nil: nowhere).
	Log *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Handler returns the page at "/", each question's answer as CSV at
// "/answer.csv?q=NAME" (with the page's from, to and channel), and a
// health check at "/healthz".
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serve)
	mux.HandleFunc("GET /answer.csv", s.serveCSV)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

// serveCSV answers one question as CSV, for the filter of the request:
// the same rows the page shows, so k-anonymity holds alike.
func (s *Server) serveCSV(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	q, ok := analytics.QueryByName(r.FormValue("q"))
	if !ok {
		http.Error(w, "q names no question (the file names of analytics/queries/, without .sql)", http.StatusBadRequest)
		return
	}
	f, err := s.filter(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, _ = f.Clamped()
	tab, err := q.Run(ctx, s.Conn, s.Marketing, f)
	if err != nil {
		if s.Log != nil {
			s.Log.Warn("answering a question as CSV failed", "question", q.Name, "err", err)
		}
		http.Error(w, "ClickHouse did not answer", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s_%s_%s.csv"`, q.Name, f.From.Format(time.DateOnly), f.To.Format(time.DateOnly)))
	cw := csv.NewWriter(w)
	cw.Write(tab.Columns)
	for _, row := range tab.Rows {
		rec := make([]string, len(row))
		for i, v := range row {
			switch v := v.(type) {
			case time.Time:
				rec[i] = v.Format(time.DateOnly)
			case float64:
				rec[i] = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				rec[i] = fmt.Sprint(v)
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
}

// foldRows is how many rows a table shows before the rest is folded.
const foldRows = 12

// answer is one question and its answer on the page.
type answer struct {
	analytics.Query
	Table *analytics.Table
	Chart *chart
}

// Folded reports whether the answer's table is long enough to fold.
func (a answer) Folded() bool { return len(a.Table.Rows) > foldRows }

// view is what the template renders.
type view struct {
	Filter        analytics.Filter
	From, To      string
	Channels      []string
	Error         string
	Empty         bool // no snapshot yet
	Last          analytics.LastRefresh
	Reload        int
	Answers       []answer
	NothingInView bool
	Figures       *analytics.Figures // the period's figures, which the page leads with
	Clamped       string             // why the range shown is not the one asked for
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	v := view{Reload: int(s.Reload / time.Second)}
	f, err := s.filter(r)
	if err == nil {
		// A range before 1970 (?from=1927-01-01) is cut
		// to the days ClickHouse's Date holds, and the page says so.
		if c, cut := f.Clamped(); cut {
			f = c
			v.Clamped = fmt.Sprintf("ClickHouse holds days from %s to %s: the range was cut to them.",
				analytics.FirstDay.Format(time.DateOnly), analytics.LastDay.Format(time.DateOnly))
		}
	}
	v.Filter = f
	v.From, v.To = f.From.Format(time.DateOnly), f.To.Format(time.DateOnly)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		v.Error = err.Error()
		s.render(w, &v)
		return
	}
	last, ok, err := analytics.Latest(ctx, s.Conn, s.Marketing)
	if err != nil {
		s.fail(w, &v, err)
		return
	}
	v.Last, v.Empty = last, !ok
	if !ok {
		s.render(w, &v)
		return
	}
	// The channels of the filter: those the lead volume shows over all days.
	if q, ok := analytics.QueryByName("lead_volume"); ok {
		tab, err := q.Run(ctx, s.Conn, s.Marketing, analytics.AllTime)
		if err != nil {
			s.fail(w, &v, err)
			return
		}
		for _, row := range tab.Rows {
			if c, ok := row[1].(string); ok && !slices.Contains(v.Channels, c) {
				v.Channels = append(v.Channels, c)
			}
		}
		slices.Sort(v.Channels)
	}
	fig, err := analytics.PeriodFigures(ctx, s.Conn, s.Marketing, f)
	if err != nil {
		s.fail(w, &v, err)
		return
	}
	v.Figures = &fig
	v.NothingInView = true
	for _, q := range analytics.Queries() {
		tab, err := q.Run(ctx, s.Conn, s.Marketing, f)
		if err != nil {
			s.fail(w, &v, err)
			return
		}
		if len(tab.Rows) > 0 {
			v.NothingInView = false
		}
		v.Answers = append(v.Answers, answer{Query: q, Table: tab, Chart: chartOf(q.Name, tab)})
	}
	s.render(w, &v)
}

// filter reads the date range and channel of the request, defaulting to
// the last Days days.
func (s *Server) filter(r *http.Request) (analytics.Filter, error) {
	f := analytics.Filter{To: s.now().UTC().Truncate(24 * time.Hour), Channel: r.FormValue("channel")}
	days := s.Days
	if days <= 0 {
		days = 90
	}
	f.From = f.To.AddDate(0, 0, -days)
	var err error
	if to := r.FormValue("to"); to != "" {
		if f.To, err = time.Parse(time.DateOnly, to); err != nil {
			return f, fmt.Errorf("the end of the range, %q, is not a day YYYY-MM-DD", to)
		}
		if r.FormValue("from") == "" {
			f.From = f.To.AddDate(0, 0, -days)
		}
	}
	if from := r.FormValue("from"); from != "" {
		if f.From, err = time.Parse(time.DateOnly, from); err != nil {
			return f, fmt.Errorf("the start of the range, %q, is not a day YYYY-MM-DD", from)
		}
	}
	return f, f.Validate()
}

func (s *Server) fail(w http.ResponseWriter, v *view, err error) {
	if s.Log != nil {
		s.Log.Warn("dashboard query failed", "err", err)
	}
	w.WriteHeader(http.StatusBadGateway)
	v.Error = "ClickHouse did not answer: " + err.Error()
	s.render(w, v)
}

func (s *Server) render(w http.ResponseWriter, v *view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'")
	if err := page.Execute(w, v); err != nil && s.Log != nil {
		s.Log.Warn("dashboard page", "err", err)
	}
}

// cell writes a value as a person reads it: days as dates, ratios as
// percentages, money with two decimals.
func cell(column string, v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.Format(time.DateOnly)
	case float64:
		if isRate(column) {
			return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return fmt.Sprint(v)
	}
}

func isRate(column string) bool {
	return column == "coverage" || len(column) > 5 && column[len(column)-5:] == "_rate"
}
