package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

const demoSynopsis = `Usage: leadpipe demo [flags]

Runs every stage in one process against an embedded Kafka broker (kfake:
in-process, the real Kafka wire protocol) and the ClickHouse at
--clickhouse, feeds it a generated workload of leads, consents and
behavior, waits until everything has landed, and prints what landed: leads
per decision and per origin channel, the runtime's record accounting, and
aggregate rows read back from ClickHouse. It recreates the database
--clickhouse-db (default leadpipe_demo) first; it never touches another.
With --brokers set explicitly it uses that Kafka instead of the embedded one.

The pseudonymous keys use the public development key.`

func cmdDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := defaultRunConfig()
	cfg.ch.Database = "leadpipe_demo"
	cfg.ch.Marketing = "marketing_demo"
	cfg.metricsAddr = ""
	cfg.logs.level = "warn"
	g := genFlags{wl: workload.DefaultConfig()}
	g.wl.Leads = 2000
	fs := newFlagSet("demo", demoSynopsis, stderr)
	g.register(fs)
	cfg.register(fs)
	timeout := fs.Duration("timeout", 3*time.Minute, "give up when the workload has not landed by then")
	if code, ok := parse(fs, args, stderr); !ok {
		return code
	}
	log, err := cfg.logs.logger(stderr)
	if err == nil {
		err = g.wl.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe demo: %v\n", err)
		return 2
	}
	if !fs.Changed("brokers") {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			fmt.Fprintf(stderr, "leadpipe demo: embedded Kafka: %v\n", err)
			return 1
		}
		defer cluster.Close()
		cfg.kafka.Brokers = cluster.ListenAddrs()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := demo(ctx, &cfg, g.wl, log, stdout); err != nil {
		fmt.Fprintf(stderr, "leadpipe demo: %v\n", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, cfg *runConfig, wl workload.Config, log *slog.Logger, out io.Writer) error {
	start := time.Now()
	if err := cfg.validate(stageNames); err != nil {
		return err
	}
	conn, err := analytics.Open(ctx, cfg.ch)
	if err != nil {
		return fmt.Errorf("%w (start one with scripts/clickhouse-up.sh, or point --clickhouse at yours)", err)
	}
	defer conn.Close()
	for _, db := range []string{cfg.ch.Database, cfg.ch.Marketing} {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return fmt.Errorf("reset database %s: %w", db, err)
		}
	}
	if _, err := analytics.Migrate(ctx, conn, cfg.ch.Database, cfg.ch.Marketing); err != nil {
		return err
	}
	if _, err := pipeline.CreateTopics(ctx, &cfg.kafka); err != nil {
		return err
	}
	fmt.Fprintf(out, "Kafka %v, ClickHouse %s, database %s\n", cfg.kafka.Brokers, cfg.ch.Addr, cfg.ch.Database)
	n, err := produceWorkload(ctx, &cfg.kafka, wl)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "produced %d events (%d leads, seed %d) in %s\n", n, wl.Leads, wl.Seed, time.Since(start).Round(time.Millisecond))

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var runner *pipeline.Runner
	runErr := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		runErr <- runStages(runCtx, cfg, stageNames, pseudonym.Development(), log, func(r *pipeline.Runner) {
			runner = r
			close(ready)
		})
	}()
	select {
	case <-ready:
	case err := <-runErr:
		return err
	}
	if err := waitDrained(ctx, runner, runErr); err != nil {
		return err
	}
	stopRun()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintf(out, "every record landed in %s\n", time.Since(start).Round(time.Millisecond))
	accounting(runner, out)
	return report(ctx, cfg, out)
}

// accounting prints the runtime's record accounting of the run. classify
// counts every classification on the way, not only each lead's last; the
// same events give the same counts because each task reads its inputs in
// timestamp order (the workload's records carry their occurred_at).
func accounting(runner *pipeline.Runner, out io.Writer) {
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(out, "\nRecord accounting (consumed = produced + quarantined + dead-lettered + skipped + in flight):")
	fmt.Fprintln(tw, "stage\tconsumed\tproduced\tquarantined\tdead-lettered\tskipped\tin flight\t")
	for _, st := range stageNames {
		c := runner.Counts(st)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", st, c.Consumed, c.Produced, c.Quarantined, c.DeadLettered, c.Skipped, c.InFlight)
	}
	tw.Flush()
}

// waitDrained returns once every stage has consumed everything upstream of
// it and committed it, or the stages stopped (runErr; nil when the caller
// watches them itself).
func waitDrained(ctx context.Context, runner *pipeline.Runner, runErr <-chan error) error {
	done := make(chan error, 1)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- runner.WaitDrained(dctx) }()
	select {
	case err := <-done:
		return err
	case err := <-runErr:
		return fmt.Errorf("the stages stopped: %w", err)
	}
}

func report(ctx context.Context, cfg *runConfig, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	conn, err := analytics.Open(ctx, cfg.ch)
	if err != nil {
		return err
	}
	defer conn.Close()
	db := cfg.ch.Database
	for _, q := range []struct {
		title string
		run   func(context.Context, driverConn, string) ([]analytics.Count, error)
	}{
		{"Leads per decision (" + db + ".leads FINAL)", analytics.LeadsByDecision},
		{"Leads per decision / rule: releases from quarantine by consent, suppressions", analytics.LeadsByRule},
		{"Leads per origin channel", analytics.LeadsByChannel},
		{"Quarantined leads per network / reason (" + db + ".quarantine_daily)", analytics.QuarantineByReason},
	} {
		rows, err := q.run(ctx, conn, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n%s:\n", q.title)
		for _, r := range rows {
			fmt.Fprintf(tw, "  %s\t%d\t\n", r.Label, r.N)
		}
		tw.Flush()
	}
	done, verified, err := analytics.Erasures(ctx, conn, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nErasures carried out (%s.erasure_receipts FINAL): %d, verified to leave no row with the lead's key: %d\n", db, done, verified)
	eng, err := analytics.EngagementByChannel(ctx, conn, db, 8)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nEngagement per channel and action, top 8 (%s.engagement_daily):\n", db)
	fmt.Fprintln(tw, "  channel\taction\tevents\tvisitor-days\trevenue EUR\t")
	for _, e := range eng {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%.2f\t\n", e.Channel, e.Action, e.Events, e.Visitors, e.Revenue)
	}
	tw.Flush()
	cov, err := analytics.ConsentCoverage(ctx, conn, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nConsent coverage for email marketing per channel (%s.consent_coverage_daily):\n", db)
	fmt.Fprintln(tw, "  channel\tleads with consent\tleads\t")
	for _, c := range cov {
		if c.Purpose == "email_marketing" {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t\n", c.Channel, c.Consent, c.Total)
		}
	}
	tw.Flush()
	fmt.Fprintf(out, "\nQuery them yourself: clickhouse-client --port %s -d %s -q 'SELECT * FROM leads FINAL LIMIT 5'\n", portOf(cfg.ch.Addr), db)
	return nil
}

type driverConn = driver.Conn

func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return "9000"
}
