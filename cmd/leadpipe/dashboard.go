package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/pflag"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/analytics/dashboard"
)

const dashboardSynopsis = `Usage: leadpipe dashboard [flags]

Serves the marketer questions (analytics/queries) as a web page at
--listen: leads per channel over time, the quarantine backlog and its
releases, consent coverage, the engagement funnel, top categories and
personalization audiences, as charts and tables, with a date range and a
channel to filter by. It reads the marketing database (--marketing-db) as
the marketer user, who may read nothing else, and reloads itself every
--reload.`

// dashboardFlags configure the dashboard's server.
type dashboardFlags struct {
	listen string
	reload time.Duration
	days   int
}

func (d *dashboardFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.listen, "listen", "127.0.0.1:8080", "address the dashboard listens on")
	fs.DurationVar(&d.reload, "reload", 30*time.Second, "how often the page reloads itself (0: never)")
	fs.IntVar(&d.days, "days", 90, "days the page shows when no range is chosen, ending today")
}

func cmdDashboard(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := analytics.DefaultConfig()
	cfg.User = "marketer"
	var d dashboardFlags
	var logs logFlags
	fs := newFlagSet("dashboard", dashboardSynopsis, stdout, stderr)
	cfg.RegisterMarketerFlags(fs)
	d.register(fs)
	logs.register(fs)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	err := cfg.Validate()
	if err == nil && (d.reload < 0 || d.days < 1) {
		err = errors.New("--reload must not be negative and --days must be at least 1")
	}
	var log *slog.Logger
	if err == nil {
		log, err = logs.logger(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe dashboard: %v\n", err)
		return 2
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe dashboard: %v\n", err)
		return 1
	}
	defer conn.Close()
	ln, err := net.Listen("tcp", d.listen)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe dashboard: --listen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "dashboard on http://%s/ (reading %s as %s; Ctrl-C stops it)\n", ln.Addr(), cfg.Marketing, cfg.User)
	if err := serveDashboard(ctx, ln, conn, cfg.Marketing, d, log); err != nil {
		fmt.Fprintf(stderr, "leadpipe dashboard: %v\n", err)
		return 1
	}
	return 0
}

// serveDashboard serves the dashboard on ln until ctx ends.
func serveDashboard(ctx context.Context, ln net.Listener, conn driver.Conn, marketing string, d dashboardFlags, log *slog.Logger) error {
	s := &dashboard.Server{Conn: conn, Marketing: marketing, Reload: d.reload, Days: d.days, Log: log}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
