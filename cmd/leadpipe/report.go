package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	accountability "github.com/leadpipe/leadpipe/analytics/report"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/ledger"
	"github.com/leadpipe/leadpipe/pipeline/wire"
	"github.com/leadpipe/leadpipe/stages/classify"
)

const reportSynopsis = `Usage: leadpipe report --from DAY|TIME --to DAY|TIME [--format md|html|json] [--out FILE] [flags]

The accountability report of a period (GDPR Art. 5(2), Art. 24), for the
DPO, an auditor or the supervisory authority: the purposes with their legal
bases and articles under the policy in force, the data categories and how
long each is kept, the leads by origin and basis, the quarantine flow
(entered, released, purged, the median wait), the erasure requests with
their time to receipt against the one-month limit of Art. 12(3) (a receipt
later than that is flagged), what leadpipe records of access requests, the
consent grants that did not count by reason, the policy versions that
decided and what changed between them, what retention removed, and the
decision ledger's verification.

It reads leadpipe's ClickHouse tables and changes nothing. It holds counts,
times, policy terms and erasure ids (SHA-256 of a lead key), never a lead
id, email, phone or name.

--from and --to take a day (2026-11-01, UTC) or an RFC 3339 time. --from is
inclusive; a day given to --to is included whole (--to 2026-11-30 ends at
2026-12-01T00:00:00Z), a time given to --to is not.

--format md (the default) is Markdown for a DPIA; html is one page that
needs no script (print it to PDF from a browser); json follows the schema
of docs/report.schema.json.

Give --policy as the stages run it, so that the purposes are those of the
policy in force. What changed between two versions is shown when the texts
of both are known: the --policy file, and the policy files of earlier
versions in --policy-history DIR (every *.yaml there, each with its
policy_version). Without them the report names the versions and their
periods only.

Exit status: 0 with the report written, 1 when ClickHouse or a file fails,
2 on bad flags.

Examples:
  leadpipe report --from 2026-11-01 --to 2026-11-30 --out report.md
  leadpipe report --from 2026-11-01 --to 2026-11-30 --format html --out report.html \
      --policy policy.yaml --policy-history policies/`

func cmdReport(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := analytics.DefaultConfig()
	ret := analytics.DefaultRetention()
	fs := newFlagSet("report", reportSynopsis, stdout, stderr)
	from := fs.String("from", "", "the period's first `DAY` (2026-11-01, UTC) or RFC 3339 time, inclusive (required)")
	to := fs.String("to", "", "the period's last `DAY`, included whole, or an RFC 3339 time, exclusive (required)")
	format := fs.String("format", accountability.Formats[0], "md (Markdown, for a DPIA), html (one page, no script) or json (docs/report.schema.json)")
	out := fs.String("out", "", "write the report to `FILE` (default: standard output)")
	policyFile := fs.String("policy", "", "policy `FILE` in force, as leadpipe run is given it (default: the built-in policy)")
	history := fs.String("policy-history", "", "`DIR` of earlier policy files (*.yaml), to show what changed between the versions that decided")
	cfg.RegisterFlags(fs)
	kcfg := pipeline.DefaultConfig()
	kcfg.RegisterConnFlags(fs)
	pubFile := fs.String("public-key", "", "`FILE` holding the Ed25519 public key (PEM) the ledger's anchors must be signed by, as leadpipe ledger verify takes it")
	fs.IntVar(&ret.MarketingMonths, "marketing-months", ret.MarketingMonths, "months per-lead marketing rows are kept, as leadpipe retention is given it")
	fs.IntVar(&ret.ProfilingMonths, "profiling-months", ret.ProfilingMonths, "months profiling data is kept, as leadpipe retention is given it")
	quarantineDays := fs.Int("quarantine-days", int(wire.Defaults().QuarantineRetention/(24*time.Hour)), "days a quarantined lead waits for a consent before it is purged, as leadpipe run is given it (0: kept)")
	nowFlag := fs.String("now", "", "the time the report is made, RFC 3339 (default: now): pending erasures older than a month then are overdue")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "leadpipe report: "+format+"\n", a...)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "leadpipe report: %v\n", err)
		return 1
	}
	if fs.NArg() > 0 {
		return usage("takes no arguments (%d given); the period is --from and --to", fs.NArg())
	}
	if *from == "" || *to == "" {
		return usage("--from and --to are required: the period the report covers, e.g. --from 2026-11-01 --to 2026-11-30")
	}
	start, err := periodTime("--from", *from, false)
	if err != nil {
		return usage("%v", err)
	}
	end, err := periodTime("--to", *to, true)
	if err != nil {
		return usage("%v", err)
	}
	if !end.After(start) {
		return usage("--from %s is not before --to %s: the period is empty", *from, *to)
	}
	if !slices.Contains(accountability.Formats, *format) {
		return usage("--format: %q is not one of %s", *format, strings.Join(accountability.Formats, ", "))
	}
	if *quarantineDays < 0 {
		return usage("--quarantine-days must not be negative")
	}
	now := time.Now()
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			return usage("--now: %q is not an RFC 3339 time such as 2026-12-08T10:00:00Z", *nowFlag)
		}
	}
	if err := ret.Validate(); err != nil {
		return usage("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return usage("%v", err)
	}
	o := accountability.Options{From: start, To: end, Now: now, Database: cfg.Database, Policy: classify.DefaultPolicy(), PolicySource: "built-in",
		Retention: ret, QuarantineDays: *quarantineDays}
	var pub ed25519.PublicKey
	if *pubFile != "" {
		if pub, err = ledger.LoadPublicKey(*pubFile); err != nil {
			return usage("--public-key: %v", err)
		}
	}
	if fs.Changed("brokers") {
		if err := kcfg.Validate(); err != nil {
			return usage("%v", err)
		}
	}
	if *policyFile != "" {
		if o.Policy, err = classify.LoadPolicy(*policyFile); err != nil {
			return fail(fmt.Errorf("--policy: %w", err))
		}
		o.PolicySource = filepath.Base(*policyFile)
	}
	if *history != "" {
		if o.History, err = policyHistory(*history); err != nil {
			return fail(err)
		}
		o.HistoryDir = *history
	}

	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	w := analytics.NewConfigWriter(conn, cfg)
	o.Ledger = reportLedger(w, &kcfg, fs.Changed("brokers"), pub)
	r, err := accountability.Build(ctx, w, o)
	if err != nil {
		return fail(err)
	}
	var buf bytes.Buffer
	if err := accountability.Write(&buf, r, *format); err != nil {
		return fail(err)
	}
	if *out == "" || *out == "-" {
		_, err = stdout.Write(buf.Bytes())
	} else {
		err = os.WriteFile(*out, buf.Bytes(), 0o644)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// reportLedger verifies the decision ledger over the report's period
// (ledger.Verify): the chains and anchors in ClickHouse, and with withKafka
// the audit topic's records against them too; the signatures of the
// anchors when pub is given.
func reportLedger(w *analytics.Writer, kcfg *pipeline.Config, withKafka bool, pub ed25519.PublicKey) accountability.LedgerVerifier {
	return func(ctx context.Context, from, to time.Time) (accountability.LedgerSection, error) {
		vcfg := ledger.Config{Writer: w, Topic: kcfg.Topic(pipeline.TopicAudit), SinkGroup: kcfg.Group("sink"), From: from, To: to, PublicKey: pub}
		var notes []string
		if withKafka {
			vcfg.Kafka = kcfg
		} else {
			notes = append(notes, "The chains and their anchors in ClickHouse were checked; the audit topic was not read (give --brokers to check its records against the rows).")
		}
		res, err := ledger.Verify(ctx, vcfg)
		if err != nil {
			return accountability.LedgerSection{}, err
		}
		if pub == nil && res.SignedAnchors > 0 {
			notes = append(notes, "The anchors' signatures were not checked (give --public-key).")
		}
		if len(res.Receipts) > 0 {
			notes = append(notes, fmt.Sprintf("Erased records are accounted for by %d erasure receipts.", len(res.Receipts)))
		}
		if res.Break != nil {
			notes = append(notes, "leadpipe ledger verify names the break's record.")
		}
		s := accountability.LedgerSection{Checked: true, Partitions: res.Partitions, Records: res.Records, Anchors: res.Anchors,
			SignedAnchors: res.SignedAnchors, ErasedAccounted: res.ErasedAccounted, Unchained: res.Unchained, Note: strings.Join(notes, " ")}
		if b := res.Break; b != nil {
			s.Break = &accountability.LedgerBreak{Partition: b.Partition, Offset: b.Offset, Kind: b.Kind}
		}
		return s, nil
	}
}

// periodTime reads a --from or --to value: a day (UTC; the day after it
// for --to, so that the day is included) or an RFC 3339 time.
func periodTime(flag, v string, end bool) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not a day (2026-11-01) or an RFC 3339 time (2026-11-01T00:00:00Z)", flag, v)
	}
	return t.UTC(), nil
}

// policyHistory loads every policy file of dir (*.yaml, *.yml) by its
// version; two files of one version are refused.
func policyHistory(dir string) (map[string]*classify.Policy, error) {
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("--policy-history: %w", err)
		}
		return nil, fmt.Errorf("--policy-history: %s holds no policy file (*.yaml)", dir)
	}
	out := map[string]*classify.Policy{}
	seen := map[string]string{}
	for _, f := range files {
		p, err := classify.LoadPolicy(f)
		if err != nil {
			return nil, fmt.Errorf("--policy-history: %w", err)
		}
		if other, ok := seen[p.Version]; ok {
			return nil, fmt.Errorf("--policy-history: %s and %s both say policy_version %q", filepath.Base(other), filepath.Base(f), p.Version)
		}
		seen[p.Version], out[p.Version] = f, p
	}
	return out, nil
}
