package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
)

const retentionSynopsis = `Usage: leadpipe retention [flags]

Removes the per-lead rows that are older than the retention periods allow:
behavior events, the classification history and lead rows past
--marketing-months; behavior linked to a lead key and the category affinity
past --profiling-months. Whole months go as partition drops, the rest as
deletes; the audit trail (decisions) is kept. Every action, with the rows it
removed, is recorded in the table retention_runs. Run it daily (cron, a
Kubernetes CronJob); --dry-run only counts.`

func cmdRetention(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := analytics.DefaultConfig()
	pol := analytics.DefaultRetention()
	fs := newFlagSet("retention", retentionSynopsis, stdout, stderr)
	cfg.RegisterFlags(fs)
	fs.IntVar(&pol.MarketingMonths, "marketing-months", pol.MarketingMonths, "months per-lead marketing rows are kept")
	fs.IntVar(&pol.ProfilingMonths, "profiling-months", pol.ProfilingMonths, "months profiling data (lead-linked behavior, category affinity) is kept")
	dryRun := fs.Bool("dry-run", false, "count what would be removed, remove nothing")
	nowFlag := fs.String("now", "", "the time to count the periods from, RFC 3339 (default: now)")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	now := time.Now()
	var err error
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			fmt.Fprintf(stderr, "leadpipe retention: --now: %q is not an RFC 3339 time\n", *nowFlag)
			return 2
		}
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe retention: %v\n", err)
		return 2
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe retention: %v\n", err)
		return 1
	}
	defer conn.Close()
	actions, err := analytics.Retain(ctx, analytics.NewConfigWriter(conn, cfg), pol, now, *dryRun)
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "table\taction\tcutoff\trows\tdetail")
	for _, a := range actions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", a.Table, a.Action, a.Cutoff.Format(time.DateOnly), a.Rows, a.Detail)
	}
	tw.Flush()
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe retention: %v\n", err)
		return 1
	}
	if *dryRun {
		fmt.Fprintln(stdout, "dry run: nothing removed")
	}
	return 0
}
