package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
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
per decision, per origin channel and per source, the runtime's record
accounting, and the answers to the marketer questions, read back from
ClickHouse as the marketer user. Then it serves the dashboard (leadpipe dashboard) at
--listen until Ctrl-C; --no-dashboard exits instead. It recreates the
databases --clickhouse-db (default leadpipe_demo) and --marketing-db
(default marketing_demo) first; it never touches another.
With --brokers set explicitly it uses that Kafka instead of the embedded one.

Its Facebook and Instagram lead-form leads go as signed Meta Lead Ads
webhooks over HTTP to a leadpipe intake served in the process on a
loopback port, which fetches each lead from a local stand-in for the Graph
API and maps its consent boxes by the demo's sources.yaml through the Meta
adapter; the rest of the workload is produced straight to the raw topics.

The pseudonymous keys use the public development key.`

func cmdDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := defaultRunConfig()
	cfg.ch.Database = "leadpipe_demo"
	cfg.ch.Marketing = "marketing_demo"
	cfg.metricsAddr = ""
	cfg.erasureEvery = 0 // the demo's few erasures carried out in their batch, before it prints them
	cfg.logs.level = "warn"
	g := genFlags{wl: workload.DefaultConfig()}
	g.wl.Leads = 2000
	fs := newFlagSet("demo", demoSynopsis, stdout, stderr)
	g.register(fs)
	cfg.register(fs)
	cfg.kafka.RegisterTopicFlags(fs)
	timeout := fs.Duration("timeout", 3*time.Minute, "give up when the workload has not landed by then")
	noDashboard := fs.Bool("no-dashboard", false, "exit once the answers are printed, instead of serving the dashboard until Ctrl-C")
	dash := dashboardFlags{reload: 30 * time.Second}
	fs.StringVar(&dash.listen, "listen", "127.0.0.1:8080", "address the dashboard listens on")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
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
	// The page opens on the days from the workload's first event to today:
	// every week the demo wrote, and none ClickHouse's Date cannot hold.
	dash.days = max(1, int(time.Since(g.wl.Start)/(24*time.Hour))+1)
	if !fs.Changed("brokers") {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			fmt.Fprintf(stderr, "leadpipe demo: embedded Kafka: %v\n", err)
			return 1
		}
		defer cluster.Close()
		cfg.kafka.Brokers = cluster.ListenAddrs()
	}
	dctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := demo(dctx, &cfg, g.wl, log, stdout); err != nil {
		fmt.Fprintf(stderr, "leadpipe demo: %v\n", err)
		return 1
	}
	if *noDashboard {
		return 0
	}
	if err := demoDashboard(ctx, &cfg, dash, log, stdout); err != nil {
		fmt.Fprintf(stderr, "leadpipe demo: dashboard: %v\n", err)
		return 1
	}
	return 0
}

// demoDashboard serves the dashboard on the demo's marketing database
// until ctx ends (Ctrl-C).
func demoDashboard(ctx context.Context, cfg *runConfig, d dashboardFlags, log *slog.Logger, out io.Writer) error {
	conn, err := openMarketer(ctx, cfg.ch, out)
	if err != nil {
		return err
	}
	defer conn.Close()
	ln, err := net.Listen("tcp", d.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w (--no-dashboard skips it)", err)
	}
	fmt.Fprintf(out, "\nThe dashboard: http://%s/ (Ctrl-C stops it)\n", ln.Addr())
	return serveDashboard(ctx, ln, conn, cfg.ch.Marketing, d, log)
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
	on := ""
	if cfg.ch.Cluster != "" {
		on = " ON CLUSTER " + cfg.ch.Cluster
	}
	for _, db := range []string{cfg.ch.Database, cfg.ch.Marketing} {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+on); err != nil {
			return fmt.Errorf("reset database %s: %w", db, err)
		}
	}
	if _, err := analytics.Migrate(ctx, conn, cfg.ch.Database, cfg.ch.Marketing, cfg.ch.Cluster); err != nil {
		return err
	}
	if _, err := pipeline.CreateTopics(ctx, &cfg.kafka); err != nil {
		return err
	}
	fmt.Fprintf(out, "Kafka %v, ClickHouse %s, database %s\n", cfg.kafka.Brokers, cfg.ch.Addr, cfg.ch.Database)
	feed, err := feedDemo(ctx, cfg, wl)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "produced %d events (%d leads, seed %d) in %s: %d Facebook and Instagram lead-form leads as Meta Lead Ads webhooks "+
		"through leadpipe intake (%d produced, %d dead-lettered), the rest straight to the raw topics\n",
		feed.produced+feed.metaProduced, wl.Leads, wl.Seed, time.Since(start).Round(time.Millisecond), len(feed.metaLeads), feed.metaProduced, feed.metaDeadLettered)

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
	return report(ctx, cfg, &feed, out)
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

// report prints what the operator checks (leads per decision, rule,
// channel and source; erasures), refreshes the marketing database and
// prints the marketer questions' answers, read as the marketer user.
func report(ctx context.Context, cfg *runConfig, feed *demoFeed, out io.Writer) error {
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
	if err := leadsBySource(ctx, conn, db, feed, out); err != nil {
		return err
	}
	done, verified, err := analytics.Erasures(ctx, conn, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nErasures carried out (%s.erasure_receipts FINAL): %d, verified to leave no row with the lead's key: %d\n", db, done, verified)
	if _, err := analytics.Refresh(ctx, conn, db, cfg.ch.Marketing, cfg.marketingK); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nWhat marketers read (%s, as the marketer user; analytics/queries/):\n", cfg.ch.Marketing)
	marketer, err := openMarketer(ctx, cfg.ch, out)
	if err != nil {
		return err
	}
	defer marketer.Close()
	if err := showAnswers(ctx, out, marketer, cfg.ch.Marketing, analytics.AllTime, analytics.Queries()); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nQuery them yourself: clickhouse-client --port %s --user marketer -q 'SELECT * FROM %s.lead_volume LIMIT 5'\n",
		portOf(cfg.ch.Addr), cfg.ch.Marketing)
	return nil
}

// leadsBySource prints the leads of leads FINAL per source (how each
// lead's first lead event arrived) and decision: the leads sent through
// intake are known by their keys.
func leadsBySource(ctx context.Context, conn driver.Conn, db string, feed *demoFeed, out io.Writer) error {
	keyer := pseudonym.Development()
	viaMeta := make(map[string]bool, len(feed.metaLeads))
	for _, id := range feed.metaLeads {
		viaMeta[keyer.LeadKey(id)] = true
	}
	rows, err := conn.Query(ctx, "SELECT lead_key, decision FROM "+db+".leads FINAL")
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	const own, meta = "own events, produced to the raw topics", "meta intake: Meta Lead Ads webhooks, Graph API, sources.yaml"
	leads := map[string]int{}
	decisions := map[string]map[string]int{own: {}, meta: {}}
	for rows.Next() {
		var key, decision string
		if err := rows.Scan(&key, &decision); err != nil {
			return err
		}
		source := own
		if viaMeta[key] {
			source = meta
		}
		leads[source]++
		decisions[source][decision]++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nLeads per source (%s.leads FINAL, by how each lead's first lead event arrived):\n", db)
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	for _, source := range []string{own, meta} {
		names := slices.Sorted(maps.Keys(decisions[source]))
		parts := make([]string, len(names))
		for i, d := range names {
			parts[i] = fmt.Sprintf("%s %d", d, decisions[source][d])
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", source, leads[source], strings.Join(parts, ", "))
	}
	tw.Flush()
	fmt.Fprintf(out, "  (intake: %d boxes came back ticked that the form ticks by default: no consent, leadpipe_intake_unmapped_total{kind=\"pre_ticked\"})\n", int(feed.preTicked))
	return nil
}

// openMarketer connects as the marketer user, or, on a server without it
// (not set up from deploy/clickhouse), says so and connects as ch's user.
func openMarketer(ctx context.Context, ch analytics.Config, out io.Writer) (driver.Conn, error) {
	m := ch
	m.User, m.PasswordFile = "marketer", ""
	conn, err := analytics.Open(ctx, m)
	if err == nil {
		return conn, nil
	}
	fmt.Fprintf(out, "(no marketer user on this server: %v; reading as %s. deploy/clickhouse/users.xml and users.sql create it.)\n", err, ch.User)
	return analytics.Open(ctx, ch)
}

type driverConn = driver.Conn

func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return "9000"
}
