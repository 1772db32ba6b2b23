package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/pflag"

	"github.com/leadpipe/leadpipe/analytics"
)

const marketingSynopsis = `Usage: leadpipe marketing refresh [flags]
       leadpipe marketing show [flags] [QUESTION...]

refresh writes a new snapshot of the marketing database (--marketing-db)
from leadpipe's tables (--clickhouse-db), with every group of fewer than
--k leads or visitors merged into "other" or left out, as the sink does
every --marketing-every. Run it as the sink's user (leadpipe_writer).

show prints the answers to the marketer questions (all of them, or the
named ones: %s), read from the marketing database as the
marketer user reads them.`

// filterFlags are the date range and channel of the marketer questions.
type filterFlags struct {
	from, to, channel string
}

func (f *filterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.from, "from", "", "first day, YYYY-MM-DD (default: 90 days before --to)")
	fs.StringVar(&f.to, "to", "", "last day, YYYY-MM-DD (default: today, UTC)")
	fs.StringVar(&f.channel, "channel", "", "one origin channel only (default: every channel)")
}

// filter returns the analytics filter of the flags, relative to now.
func (f *filterFlags) filter(now time.Time) (analytics.Filter, error) {
	out := analytics.Filter{Channel: f.channel, To: now.UTC().Truncate(24 * time.Hour)}
	var err error
	if f.to != "" {
		if out.To, err = time.Parse(time.DateOnly, f.to); err != nil {
			return out, fmt.Errorf("--to: %q is not a day YYYY-MM-DD", f.to)
		}
	}
	out.From = out.To.AddDate(0, 0, -90)
	if f.from != "" {
		if out.From, err = time.Parse(time.DateOnly, f.from); err != nil {
			return out, fmt.Errorf("--from: %q is not a day YYYY-MM-DD", f.from)
		}
	}
	return out, out.Validate()
}

func cmdMarketing(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var names []string
	for _, q := range analytics.Queries() {
		names = append(names, q.Name)
	}
	synopsis := fmt.Sprintf(marketingSynopsis, strings.Join(names, ", "))
	if len(args) == 0 || (args[0] != "refresh" && args[0] != "show") {
		if len(args) > 0 && args[0] != "-h" && args[0] != "--help" {
			fmt.Fprintf(stderr, "leadpipe marketing: unknown subcommand %q\n\n", args[0])
		}
		fmt.Fprintln(stderr, synopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	sub := args[0]
	cfg := analytics.DefaultConfig()
	fs := newFlagSet("marketing "+sub, synopsis, stdout, stderr)
	k := analytics.DefaultK
	var filter filterFlags
	if sub == "refresh" {
		cfg.User = "leadpipe_writer"
		cfg.RegisterFlags(fs)
		fs.IntVar(&k, "marketing-k", k, "smallest group of leads or visitors shown (as leadpipe run's --marketing-k)")
		fs.IntVar(&k, "k", k, "")
		fs.MarkDeprecated("k", "use --marketing-k, the name leadpipe run gives it")
	} else {
		cfg.User = "marketer"
		cfg.RegisterMarketerFlags(fs)
		filter.register(fs)
	}
	if code, ok := parse(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	err := cfg.Validate()
	var f analytics.Filter
	if err == nil && sub == "show" {
		f, err = filter.filter(time.Now())
	}
	var queries []analytics.Query
	for _, name := range fs.Args() {
		q, ok := analytics.QueryByName(name)
		if !ok {
			err = fmt.Errorf("no question %q: the questions are %s", name, strings.Join(names, ", "))
		}
		queries = append(queries, q)
	}
	if err == nil && sub == "refresh" && (k < 1 || len(fs.Args()) > 0) {
		err = fmt.Errorf("refresh takes no argument, and --k must be at least 1")
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe marketing %s: %v\n", sub, err)
		return 2
	}
	if len(queries) == 0 {
		queries = analytics.Queries()
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe marketing %s: %v\n", sub, err)
		return 1
	}
	defer conn.Close()
	if sub == "refresh" {
		snapshot, err := analytics.Refresh(ctx, conn, cfg.Database, cfg.Marketing, k)
		if err != nil {
			fmt.Fprintf(stderr, "leadpipe marketing refresh: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "refreshed %s from %s: snapshot %d, k %d\n", cfg.Marketing, cfg.Database, snapshot, k)
		return 0
	}
	if err := showAnswers(ctx, stdout, conn, cfg.Marketing, f, queries); err != nil {
		fmt.Fprintf(stderr, "leadpipe marketing show: %v\n", err)
		return 1
	}
	return 0
}

// showAnswers prints each question and its answer as a table.
func showAnswers(ctx context.Context, w io.Writer, conn driver.Conn, marketing string, f analytics.Filter, queries []analytics.Query) error {
	last, ok, err := analytics.Latest(ctx, conn, marketing)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintf(w, "%s holds no snapshot yet: run the sink (leadpipe run sink) or leadpipe marketing refresh.\n", marketing)
		return nil
	}
	fmt.Fprintf(w, "%s, snapshot of %s (k %d), %s to %s", marketing, last.At.UTC().Format(time.DateTime), last.K,
		f.From.Format(time.DateOnly), f.To.Format(time.DateOnly))
	if f.Channel != "" {
		fmt.Fprintf(w, ", channel %s", f.Channel)
	}
	fmt.Fprintln(w)
	for _, q := range queries {
		tab, err := q.Run(ctx, conn, marketing, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s\n", q.Question)
		printTable(w, tab)
	}
	return nil
}

// printTable prints a query's answer in aligned columns, "(none)" when it
// has no row.
func printTable(w io.Writer, tab *analytics.Table) {
	if len(tab.Rows) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  %s\t\n", strings.Join(tab.Columns, "\t"))
	for _, row := range tab.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = formatCell(v)
		}
		fmt.Fprintf(tw, "  %s\t\n", strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// formatCell writes a value as a person reads it: days as dates, ratios
// with three decimals, money with two.
func formatCell(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.Format(time.DateOnly)
	case float64:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return fmt.Sprint(v)
	}
}
