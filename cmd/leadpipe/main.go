// Command leadpipe runs the leadpipe pipeline: its stages against Kafka and
// ClickHouse, an embedded demo, and the tools around them. Run
// `leadpipe help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/leadpipe/leadpipe/pipeline"
)

// command is one subcommand. Its run function returns the exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = []command{
	{"run", "run stages (classify, enrich, sink) against Kafka and ClickHouse", cmdRun},
	{"demo", "run every stage on an embedded Kafka and a local ClickHouse with a generated workload", cmdDemo},
	{"classify", "classify JSONL lead and consent events offline, one decision per line", cmdClassify},
	{"policy", "policy diff: the leads a candidate policy would move, on JSONL events, changing nothing", cmdPolicy},
	{"rpo", "rpo load: key a check of Italy's Registro Pubblico delle Opposizioni for classify --rpo", cmdRPO},
	{"import", "turn lead payloads (Meta, LinkedIn, Google Ads, Segment, RudderStack, CSV lists) into events, to stdout or Kafka", cmdImport},
	{"intake", "serve HTTP webhooks (Meta, Google Ads, LinkedIn) and JSON-lines events, produced to the raw topics", cmdIntake},
	{"sources", "check a sources.yaml, and list the forms and consent boxes of payloads it does not map", cmdSources},
	{"gen", "write a seeded, deterministic workload to the raw topics or stdout", cmdGen},
	{"topics", "create the Kafka topics", cmdTopics},
	{"migrate", "apply the ClickHouse schema (versioned, idempotent)", cmdMigrate},
	{"retention", "remove per-lead rows older than the retention periods, and record it", cmdRetention},
	{"lead", "print as JSON what leadpipe holds about one person (GDPR Art. 15 access)", cmdLead},
	{"check", "check that every aggregate equals its base table and nothing landed twice, after an incident", cmdCheck},
	{"report", "the accountability report of a period (bases, quarantine, requests, policy versions), Markdown, HTML or JSON", cmdReport},
	{"ledger", "ledger verify: check that the decision ledger is whole and unaltered; ledger keygen: an Ed25519 key pair for its anchors", cmdLedger},
	{"erase", "request the erasure of a lead (GDPR Art. 17) and wait for its receipt", cmdErase},
	{"marketing", "refresh the marketing database, or print the marketer questions' answers", cmdMarketing},
	{"dashboard", "serve the marketer questions as a web page, read as the marketer user", cmdDashboard},
	{"tcf", "decode an IAB TCF v2.2/2.3 consent string to JSON, checking the rules of 2.2 and 2.3", cmdTCF},
}

func main() {
	if spec := os.Getenv("LEADPIPE_TEST_CRASH"); spec != "" {
		pipeline.CrashPoint = crashAt(spec)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// crashAt returns the crash hook of LEADPIPE_TEST_CRASH=POINT:N, which only
// the crash-recovery tests set: the process exits at the N-th time it
// passes POINT ("produce" or "insert", pipeline.CrashPoint), before the
// offsets are committed.
func crashAt(spec string) func(string) {
	name, n, _ := strings.Cut(spec, ":")
	want, _ := strconv.Atoi(n)
	var mu sync.Mutex
	seen := 0
	return func(point string) {
		if point != name {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen++; seen >= want {
			fmt.Fprintf(os.Stderr, "leadpipe: LEADPIPE_TEST_CRASH=%s: exiting before the offsets are committed\n", spec)
			os.Exit(86)
		}
	}
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "leadpipe: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "leadpipe turns marketing leads and behavior into GDPR-compliant, pseudonymous analytics.")
	fmt.Fprintln(w, "\nUsage: leadpipe COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery flag can also be set as an environment variable: --clickhouse-db is LEADPIPE_CLICKHOUSE_DB.")
	fmt.Fprintln(w, "Run `leadpipe COMMAND --help` for a command's flags.")
}
