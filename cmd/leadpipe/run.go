package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/ledger"
	"github.com/leadpipe/leadpipe/pipeline/wire"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// stageNames in pipeline order.
var stageNames = wire.Stages

// runConfig is everything `leadpipe run` and `leadpipe demo` configure.
type runConfig struct {
	kafka      pipeline.Config
	ch         analytics.Config
	keys       keyFlags
	logs       logFlags
	limits     schemas.Limits
	policyFile string
	rpoFile    string
	// signalFile replaces enrich's signal policy; tcfVendorID is the
	// controller's IAB vendor id (0: the TC string's publisher segment).
	signalFile  string
	tcfVendorID int
	// quarantineDays is classify's quarantine retention, in days of event time.
	quarantineDays int
	metricsAddr    string
	maxLeads       int
	enrichGrace    time.Duration
	produceDelay   time.Duration
	sinkRows       int
	sinkBytes      int
	sinkAge        time.Duration
	// marketingEvery is how often the sink refreshes the marketing
	// database (0: never), marketingK the smallest group it shows.
	marketingEvery time.Duration
	marketingK     int
	// erasureEvery is how often the sink carries out the queued erasures
	// (0: in the batch that read them).
	erasureEvery time.Duration
	// ledgerAnchorEvery is how often the sink anchors the ledger's heads;
	// ledgerKeyFile names the Ed25519 key that signs them ("": unsigned).
	ledgerAnchorEvery time.Duration
	ledgerKeyFile     string
}

func defaultRunConfig() runConfig {
	d := wire.Defaults()
	return runConfig{
		kafka:          pipeline.DefaultConfig(),
		ch:             analytics.DefaultConfig(),
		limits:         d.Limits,
		quarantineDays: int(d.QuarantineRetention / (24 * time.Hour)),
		metricsAddr:    ":9464",
		maxLeads:       d.EnrichMaxLeads,
		enrichGrace:    d.EnrichGrace,
		produceDelay:   d.EnrichProduceDelay,
		sinkRows:       d.Sink.BatchRecords,
		sinkBytes:      d.Sink.BatchBytes,
		sinkAge:        d.Sink.BatchAge,
		marketingEvery: time.Minute,
		marketingK:     analytics.DefaultK,
		erasureEvery:   d.ErasureEvery,

		ledgerAnchorEvery: d.LedgerAnchorEvery,
	}
}

// register binds the flags of leadpipe run (demo adds the topic flags:
// it creates its topics, run does not).
func (c *runConfig) register(fs *pflag.FlagSet) {
	c.kafka.RegisterConnFlags(fs)
	c.kafka.RegisterConsumerFlags(fs)
	c.ch.RegisterFlags(fs)
	c.keys.register(fs)
	fs.StringVar(&c.policyFile, "policy", "", "YAML policy that replaces or extends the built-in one (classify)")
	fs.StringVar(&c.rpoFile, "rpo", "", "RPOFILE of leadpipe rpo load: the check of Italy's Registro Pubblico delle Opposizioni that limits phone_marketing (classify; read at start: restart classify after a new check)")
	fs.StringVar(&c.signalFile, "signal-policy", "", "YAML signal policy that replaces the built-in one: what a visitor's consent signals (TCF, consent mode, gcs, CDP categories) allow behavior to feed (enrich)")
	fs.IntVar(&c.tcfVendorID, "tcf-vendor-id", 0, "the controller's IAB TCF vendor id: a TC string allows analytics and profiling only with the purposes consented and this vendor in vendorConsents (0: the string's publisherConsents decide) (enrich)")
	fs.IntVar(&c.quarantineDays, "quarantine-days", c.quarantineDays, "days of event time classify keeps a lead quarantined without a counting consent before it purges it (0: keep)")
	fs.IntVar(&c.limits.MaxMessageBytes, "max-message-bytes", c.limits.MaxMessageBytes, "largest accepted event, in bytes; larger ones are dead-lettered")
	fs.IntVar(&c.limits.MaxStringBytes, "max-string-bytes", c.limits.MaxStringBytes, "longest accepted string field, in bytes")
	fs.IntVar(&c.limits.MaxConsents, "max-consents", c.limits.MaxConsents, "most consent entries accepted in one lead event")
	fs.IntVar(&c.limits.MaxDepth, "max-depth", c.limits.MaxDepth, "deepest accepted JSON nesting")
	fs.IntVar(&c.maxLeads, "enrich-max-leads", c.maxLeads, "leads the enrich stage holds in memory; an evicted lead's events are anonymous until it is classified again")
	fs.DurationVar(&c.enrichGrace, "enrich-grace", c.enrichGrace, "longest a behavior event waits for classify to have applied its lead's events up to the event's time, then goes on with what is known; 0 waits as long as classify takes, so that nothing lands misattributed while classify is down")
	fs.DurationVar(&c.produceDelay, "enrich-produce-delay", c.produceDelay, "how long after a behavior record a lead or consent record sent before it may reach the broker and still count for it (later ones are late); every identified behavior event waits at least this long")
	fs.IntVar(&c.sinkRows, "sink-batch-rows", c.sinkRows, "rows the sink buffers before it inserts and commits")
	fs.IntVar(&c.sinkBytes, "sink-batch-bytes", c.sinkBytes, "consumed bytes the sink buffers before it inserts and commits")
	fs.DurationVar(&c.sinkAge, "sink-batch-age", c.sinkAge, "longest the sink buffers a row before it inserts and commits")
	fs.DurationVar(&c.marketingEvery, "marketing-every", c.marketingEvery, "how often the sink refreshes the marketing database from the landed rows (0: never; leadpipe marketing refresh does it once)")
	fs.IntVar(&c.marketingK, "marketing-k", c.marketingK, "smallest group of leads or visitors the marketing database shows; smaller ones are merged into \"other\" or left out")
	fs.DurationVar(&c.erasureEvery, "erasure-every", c.erasureEvery, "how often the sink carries out the erasures it has queued, all in one set of ClickHouse mutations (0: in the batch that read them, a set per batch)")
	fs.DurationVar(&c.ledgerAnchorEvery, "ledger-anchor-every", c.ledgerAnchorEvery, "how often the sink anchors the head of each audit partition's hash chain in ledger_anchors (0: after every batch)")
	fs.StringVar(&c.ledgerKeyFile, "ledger-key-file", "", "FILE holding the Ed25519 private key (PKCS #8 PEM, leadpipe ledger keygen) the sink signs the ledger's anchors with (empty: unsigned)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", c.metricsAddr, "address of /metrics, /healthz and /readyz (empty: none)")
	c.logs.register(fs)
}

func (c *runConfig) validate(stages []string) error {
	if err := c.kafka.Validate(); err != nil {
		return err
	}
	if slices.Contains(stages, "sink") {
		if err := c.ch.Validate(); err != nil {
			return err
		}
	}
	if c.maxLeads < 1 {
		return fmt.Errorf("--enrich-max-leads must be at least 1")
	}
	if c.quarantineDays < 0 {
		return fmt.Errorf("--quarantine-days must not be negative")
	}
	if c.tcfVendorID < 0 || c.tcfVendorID > 65535 {
		return fmt.Errorf("--tcf-vendor-id must be an IAB vendor id, 1 to 65535 (0: none)")
	}
	if c.enrichGrace < 0 {
		return fmt.Errorf("--enrich-grace must not be negative")
	}
	if c.produceDelay < 0 {
		return fmt.Errorf("--enrich-produce-delay must not be negative")
	}
	if c.sinkRows < 1 || c.sinkAge <= 0 {
		return fmt.Errorf("--sink-batch-rows and --sink-batch-age must be positive")
	}
	if c.erasureEvery < 0 {
		return fmt.Errorf("--erasure-every must not be negative")
	}
	if c.ledgerAnchorEvery < 0 {
		return fmt.Errorf("--ledger-anchor-every must not be negative")
	}
	if c.ledgerKeyFile != "" {
		if _, err := ledger.LoadPrivateKey(c.ledgerKeyFile); err != nil {
			return fmt.Errorf("--ledger-key-file: %w", err)
		}
	}
	if c.marketingEvery < 0 || c.marketingK < 1 {
		return fmt.Errorf("--marketing-every must not be negative and --marketing-k must be at least 1")
	}
	return nil
}

const runSynopsis = `Usage: leadpipe run [flags] STAGE...

Runs the named stages (classify, enrich, sink; "all" for every one) against
an existing Kafka (--brokers) and ClickHouse (--clickhouse, for the sink).
Each stage is its own consumer group (--group-prefix + stage), so more
processes running the same stage share its partitions.

Example:
  LEADPIPE_HMAC_KEY_FILE=/run/secrets/hmac leadpipe run --brokers kafka:9092 \
      --clickhouse clickhouse:9000 classify enrich sink`

func cmdRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := defaultRunConfig()
	fs := newFlagSet("run", runSynopsis, stdout, stderr)
	cfg.register(fs)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	stages, err := parseStages(fs.Args())
	if err == nil {
		err = cfg.validate(stages)
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe run: %v\n", err)
		return 2
	}
	log, err := cfg.logs.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe run: %v\n", err)
		return 2
	}
	// Only classify and enrich compute keys; the sink lands what they wrote.
	keys := pseudonym.Development()
	if slices.Contains(stages, "classify") || slices.Contains(stages, "enrich") {
		if keys, err = cfg.keys.keyer(); err != nil {
			fmt.Fprintf(stderr, "leadpipe run: %v\n", err)
			return 2
		}
	}
	if err := runStages(ctx, &cfg, stages, keys, log, nil); err != nil {
		fmt.Fprintf(stderr, "leadpipe run: %v\n", err)
		return 1
	}
	return 0
}

// parseStages checks the stage names of `leadpipe run`.
func parseStages(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("name at least one stage: %v, or all", stageNames)
	}
	var out []string
	for _, a := range args {
		switch {
		case a == "all":
			out = append(out, stageNames...)
		case slices.Contains(stageNames, a):
			out = append(out, a)
		default:
			return nil, fmt.Errorf("unknown stage %q: the stages are %v (or all)", a, stageNames)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// runStages builds the named stages and runs them until ctx ends. When
// started is not nil it is called with the runner once the stages are
// added, before they run.
func runStages(ctx context.Context, cfg *runConfig, stages []string, keys *pseudonym.Keyer, log *slog.Logger, started func(*pipeline.Runner)) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	runner := pipeline.NewRunner(cfg.kafka, log, reg)
	set := wire.Settings{
		Keys: keys, Limits: cfg.limits, EnrichMaxLeads: cfg.maxLeads, EnrichGrace: cfg.enrichGrace, EnrichProduceDelay: cfg.produceDelay,
		QuarantineRetention: time.Duration(cfg.quarantineDays) * 24 * time.Hour,
		Sink:                pipeline.StageOptions{BatchRecords: cfg.sinkRows, BatchBytes: cfg.sinkBytes, BatchAge: cfg.sinkAge},
		ErasureEvery:        cfg.erasureEvery, Log: log,
		LedgerAnchorEvery: cfg.ledgerAnchorEvery,
	}
	if slices.Contains(stages, "sink") && cfg.ledgerKeyFile != "" {
		key, err := ledger.LoadPrivateKey(cfg.ledgerKeyFile)
		if err != nil {
			return fmt.Errorf("--ledger-key-file: %w", err)
		}
		set.LedgerKey = key
	}
	if slices.Contains(stages, "classify") && cfg.policyFile != "" {
		p, err := classify.LoadPolicy(cfg.policyFile)
		if err != nil {
			return err
		}
		set.Policy = p
	}
	if slices.Contains(stages, "enrich") {
		set.Signals = enrich.DefaultSignalPolicy(cfg.tcfVendorID)
		if cfg.signalFile != "" {
			p, err := enrich.LoadSignalPolicy(cfg.signalFile, cfg.tcfVendorID)
			if err != nil {
				return err
			}
			set.Signals = p
		}
	}
	if slices.Contains(stages, "classify") && cfg.rpoFile != "" {
		r, err := classify.LoadRPO(cfg.rpoFile, keys)
		if err != nil {
			return err
		}
		set.RPO = r
	}
	var refresh func(context.Context) error
	if slices.Contains(stages, "sink") {
		conn, err := analytics.Open(ctx, cfg.ch)
		if err != nil {
			return err
		}
		defer conn.Close()
		set.Writer = analytics.NewConfigWriter(conn, cfg.ch)
		if cfg.marketingEvery > 0 {
			refresh = func(ctx context.Context) error {
				return refreshMarketing(ctx, conn, &cfg.ch, cfg.marketingEvery, cfg.marketingK, log)
			}
		}
	}
	if err := wire.Add(runner, &cfg.kafka, set, stages...); err != nil {
		return err
	}
	if started != nil {
		started(runner)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return pipeline.Serve(gctx, cfg.metricsAddr, reg, runner.Ready, log) })
	g.Go(func() error { return runner.Run(gctx) })
	if refresh != nil {
		g.Go(func() error { return refresh(gctx) })
	}
	return g.Wait()
}

// refreshMarketing refreshes the marketing database every interval until
// ctx ends. A failed refresh is logged and tried again at the next tick:
// the marketers read the last snapshot meanwhile.
func refreshMarketing(ctx context.Context, conn driver.Conn, ch *analytics.Config, every time.Duration, k int, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		snapshot, err := analytics.Refresh(ctx, conn, ch.Database, ch.Marketing, k)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("marketing refresh failed; the marketers read the previous snapshot", "db", ch.Marketing, "err", err)
		default:
			log.Debug("marketing refreshed", "db", ch.Marketing, "snapshot", snapshot, "took", time.Since(start))
		}
	}
}
