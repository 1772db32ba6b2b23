package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/ledger"
)

const ledgerSynopsis = `Usage: leadpipe ledger verify [flags]
       leadpipe ledger keygen PRIVATE-FILE PUBLIC-FILE

verify checks that the decision ledger is whole and unaltered: every row
of decisions from leadpipe.audit is a link of its audit partition's hash
chain; every audit record the sink read landed or is a copy of an event
that did; every anchor in ledger_anchors matches the chain and, with
--public-key, is signed by that key; and every row whose lead key an
erasure cleared is accounted for by an erasure receipt (or a purge of the
quarantine). It reports the first break, with its partition, offset and
kind (deleted, altered, reordered, inserted, bad_signature,
unsigned_anchor, unaccounted_erasure), or a summary. It reads; it changes
nothing. It may run while the pipeline lands records: it reads the sink's
committed offsets first, then the anchors, then the rows, so that what
lands meanwhile is not taken for a break.

Exit status: 0 when the ledger is whole, 3 when it is broken, 1 when Kafka
or ClickHouse fails, 2 on bad usage.

keygen writes a new Ed25519 key pair: the private key (PKCS #8 PEM, mode
0600) for leadpipe run --ledger-key-file, the public key (PEM) for
leadpipe ledger verify --public-key.

Examples:
  leadpipe ledger keygen ledger.key ledger.pub
  leadpipe ledger verify --brokers kafka:9092 --clickhouse clickhouse:9000 --public-key ledger.pub
  leadpipe ledger verify --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --format json`

func cmdLedger(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "verify":
			return cmdLedgerVerify(ctx, args[1:], stdout, stderr)
		case "keygen":
			return cmdLedgerKeygen(args[1:], stdout, stderr)
		}
	}
	fs := newFlagSet("ledger", ledgerSynopsis, stdout, stderr)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	fmt.Fprintf(stderr, "leadpipe ledger: say verify or keygen (leadpipe ledger --help)\n")
	return 2
}

func cmdLedgerKeygen(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ledger keygen", ledgerSynopsis, stdout, stderr)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "leadpipe ledger keygen: name the private and the public key's files\n")
		return 2
	}
	pub, err := ledger.WriteKeys(fs.Arg(0), fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe ledger keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "key %s: private key in %s, public key in %s\n", ledger.KeyID(pub), fs.Arg(0), fs.Arg(1))
	return 0
}

func cmdLedgerVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	kcfg := pipeline.DefaultConfig()
	cfg := analytics.DefaultConfig()
	fs := newFlagSet("ledger verify", ledgerSynopsis, stdout, stderr)
	kcfg.RegisterConnFlags(fs)
	cfg.RegisterFlags(fs)
	from := fs.String("from", "", "check the rows decided at or after this time (RFC 3339); empty: from the first")
	to := fs.String("to", "", "check the rows decided before this time (RFC 3339); empty: to the last")
	pubFile := fs.String("public-key", "", "FILE holding the Ed25519 public key (PEM) the anchors must be signed by; empty: signatures are not checked")
	format := fs.String("format", "text", "text, or json")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	vcfg := ledger.Config{Topic: kcfg.Topic(pipeline.TopicAudit), SinkGroup: kcfg.Group("sink"), Kafka: &kcfg}
	err := kcfg.Validate()
	if err == nil {
		err = cfg.Validate()
	}
	for _, t := range []struct {
		flag, value string
		into        *time.Time
	}{{"--from", *from, &vcfg.From}, {"--to", *to, &vcfg.To}} {
		if err == nil && t.value != "" {
			if *t.into, err = time.Parse(time.RFC3339, t.value); err != nil {
				err = fmt.Errorf("%s: not an RFC 3339 time (2026-11-01T00:00:00Z)", t.flag)
			}
		}
	}
	if err == nil && *pubFile != "" {
		if vcfg.PublicKey, err = ledger.LoadPublicKey(*pubFile); err != nil {
			err = fmt.Errorf("--public-key: %w", err)
		}
	}
	if err == nil && *format != "text" && *format != "json" {
		err = fmt.Errorf("--format must be text or json, not %q", *format)
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("verify takes no arguments, got %q", fs.Args())
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe ledger verify: %v\n", err)
		return 2
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe ledger verify: %v\n", err)
		return 1
	}
	defer conn.Close()
	vcfg.Writer = analytics.NewConfigWriter(conn, cfg)
	res, err := ledger.Verify(ctx, vcfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe ledger verify: %v\n", err)
		return 1
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&res); err != nil {
			fmt.Fprintf(stderr, "leadpipe ledger verify: %v\n", err)
			return 1
		}
	} else {
		printLedger(stdout, &res, vcfg)
	}
	if !res.Whole() {
		return 3
	}
	return 0
}

// printLedger writes a verification as text.
func printLedger(w io.Writer, r *ledger.Result, cfg ledger.Config) {
	if r.Break != nil {
		fmt.Fprintf(w, "ledger broken: %s\n", r.Break)
	} else {
		fmt.Fprintf(w, "ledger whole: %s, %d partitions, %d records chained", r.Topic, r.Partitions, r.Records)
		if r.Unchained > 0 {
			fmt.Fprintf(w, " (%d landed before the ledger)", r.Unchained)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "topic: %d audit records checked against the rows: %d copies of events that landed, %d dead-lettered\n",
		r.TopicRecords, r.Copies, r.DeadLettered)
	sigs := "signatures not checked (no --public-key)"
	if r.SignaturesChecked {
		sigs = "signatures checked with key " + ledger.KeyID(cfg.PublicKey)
	}
	fmt.Fprintf(w, "anchors: %d checked, %d signed; %s\n", r.Anchors, r.SignedAnchors, sigs)
	var names []string
	for _, rc := range r.Receipts {
		names = append(names, fmt.Sprintf("%s (%d)", rc.ID, rc.Rows))
	}
	fmt.Fprintf(w, "erased: %d records accounted for", r.ErasedAccounted)
	if len(names) > 0 {
		fmt.Fprintf(w, " by the receipts %s", strings.Join(names, ", "))
	}
	if r.PurgedAccounted > 0 {
		fmt.Fprintf(w, "; %d by purges of the quarantine", r.PurgedAccounted)
	}
	fmt.Fprintln(w)
}
