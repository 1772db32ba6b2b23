package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leadpipe/leadpipe/pipeline/wire"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
)

const policyUsage = `Usage: leadpipe policy diff --policy NEW [--base OLD] [--format text|json] [--hmac-key-file F | --dev-key] [FILE]

Try a candidate policy before it ships: see which leads it would move.

leadpipe policy diff reads lead and consent events (JSONL, the input of
leadpipe classify) from FILE, or standard input when FILE is absent or
"-", and classifies them twice with the engine of the classify stage:
under the policy in force (the built-in one, or --base) and under the
candidate --policy. It changes nothing: no topic, no table, no file.

It reports the leads whose decision, or whose legal basis for any
purpose, differs between the two: counts by decision transition
(accepted → quarantined) and by purpose and basis transition
(email_marketing consent → none), then one line per moved lead with its
rule, the purposes whose basis changed, the consent statements one policy
ignored and the other did not, and the steps of the explanation that
changed. Leads are named only by their pseudonymous lead key (HMAC of the
lead id, as leadpipe classify writes it), never by lead id, email or phone:
use the HMAC key of production to match the keys of ClickHouse.

Lines that are not valid events are skipped (their number is reported),
as leadpipe classify would refuse them under both policies.

Exit status: 0 when no lead moves, 2 when some do, 1 on error (bad flags,
a policy file that does not load, no key, unreadable input).

Examples:
  leadpipe policy diff --dev-key --policy candidate.yaml leads.jsonl
  leadpipe policy diff --policy next.yaml --base current.yaml --format json - < leads.jsonl`

// cmdPolicy implements `leadpipe policy diff`.
func cmdPolicy(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if code, ok := onlySubcommand(args, "policy", "diff", policyUsage, 1, stdout, stderr); !ok { // 2 means that leads moved
		return code
	}
	fs := newFlagSet("policy diff", policyUsage, stdout, stderr)
	candFile := fs.String("policy", "", "candidate policy `FILE` (required): a YAML that replaces the default, or changes it when it starts with extends: default")
	baseFile := fs.String("base", "", "policy `FILE` in force (default: the built-in policy)")
	format := fs.String("format", "text", "text, or json")
	rpoFile := fs.String("rpo", "", "`RPOFILE` of leadpipe rpo load, applied under both policies, as leadpipe classify --rpo")
	var keys keyFlags
	keys.register(fs)
	nowFlag := fs.String("now", "", "processing time, RFC 3339 (default: the clock), for reproducible output")
	quarantineDays := fs.Int("quarantine-days", int(wire.Defaults().QuarantineRetention/(24*time.Hour)), "days of event time a lead stays quarantined without a counting consent before it is purged (0: keep), as in leadpipe classify")
	if code, ok := parse(fs, args[1:], stdout, stderr); !ok {
		if code != 0 {
			return 1 // 2 means that leads moved
		}
		return 0
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "leadpipe policy diff: "+format+"\n", a...)
		return 1
	}
	switch {
	case fs.NArg() > 1:
		return fail("give at most one input FILE, not %d", fs.NArg())
	case *candFile == "":
		return fail("--policy: give the candidate policy file")
	case *format != "text" && *format != "json":
		return fail("--format: %q is not text or json", *format)
	case *quarantineDays < 0:
		return fail("--quarantine-days must not be negative")
	}
	base := classify.DefaultPolicy()
	if *baseFile != "" {
		p, err := classify.LoadPolicy(*baseFile)
		if err != nil {
			return fail("--base: %v", err)
		}
		base = p
	}
	cand, err := classify.LoadPolicy(*candFile)
	if err != nil {
		return fail("--policy: %v", err)
	}
	keyer, err := keys.keyer()
	if err != nil {
		return fail("%v", err)
	}
	var rpo *classify.RPO
	if *rpoFile != "" {
		if rpo, err = classify.LoadRPO(*rpoFile, keyer); err != nil {
			return fail("%v", err)
		}
	}
	now := time.Now()
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			return fail("--now: %q is not an RFC 3339 time such as 2026-11-20T10:00:00Z", *nowFlag)
		}
	}
	in := stdin
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		in = f
	}

	var runs [2]*policyRun
	for i, p := range []*classify.Policy{base, cand} {
		e := classify.New(p, keyer)
		e.Explain, e.RPO = true, rpo
		e.QuarantineRetention = time.Duration(*quarantineDays) * 24 * time.Hour
		runs[i] = &policyRun{engine: e, state: classify.NewState(), leads: map[string]*classify.Outcome{}}
	}
	l := schemas.DefaultLimits()
	invalid := 0
	n, err := eachLine(ctx, l, in, func(_ int, line []byte, over int) error {
		if over > 0 {
			invalid++
			return nil
		}
		ev, err := schemas.Decode(line, l)
		if err != nil {
			invalid++
			return nil
		}
		bad := false
		for _, r := range runs {
			bad = !r.apply(ev, line, now) || bad
		}
		if bad {
			invalid++
		}
		return nil
	})
	if err != nil {
		return fail("after line %d: %v", n, err)
	}
	if invalid > 0 {
		fmt.Fprintf(stderr, "leadpipe policy diff: %d of %d lines are not valid events and were skipped\n", invalid, n)
	}
	d := classify.DiffPolicies(base.Version, cand.Version, runs[0].leads, runs[1].leads)
	out := bufio.NewWriter(stdout)
	if *format == "json" {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err = enc.Encode(d)
	} else {
		err = writePolicyDiff(out, &d)
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		return fail("write output: %v", err)
	}
	if d.Moved > 0 {
		return 2
	}
	return 0
}

// policyRun is the classification of the input under one policy: the
// outcome of every lead, by lead key.
type policyRun struct {
	engine *classify.Engine
	state  *classify.State
	leads  map[string]*classify.Outcome
}

// apply classifies one event as leadpipe classify does and keeps the
// records it gives; it reports false when the engine refuses the event.
func (r *policyRun) apply(ev schemas.Event, line []byte, now time.Time) bool {
	purged, res, err := applyEvent(r.engine, ev, line, r.state, now)
	for i := range purged {
		r.keep(&purged[i])
	}
	if err != nil {
		return false
	}
	r.keep(&res.Record)
	for i := range res.Others {
		r.keep(&res.Others[i])
	}
	if len(res.Audit.IgnoredConsents) > 0 && !res.Duplicate {
		o := r.outcome(res.Audit.LeadKey)
		o.Ignored = append(o.Ignored, res.Audit.IgnoredConsents...)
	}
	return true
}

// keep records rec as its lead's outcome when it is the lead's latest.
func (r *policyRun) keep(rec *classify.Record) {
	switch rec.Decision {
	case classify.DecisionNoLead, classify.DecisionDuplicate:
		return
	}
	o := r.outcome(rec.LeadKey)
	if o.Record.Decision == "" || rec.Seq >= o.Record.Seq {
		o.Record = *rec
	}
}

func (r *policyRun) outcome(leadKey string) *classify.Outcome {
	o := r.leads[leadKey]
	if o == nil {
		o = &classify.Outcome{}
		r.leads[leadKey] = o
	}
	return o
}

// writePolicyDiff writes d for a person to read.
func writePolicyDiff(w io.Writer, d *classify.PolicyDiff) error {
	fmt.Fprintf(w, "policy diff: base %s, candidate %s: %d leads compared, %d moved\n", d.BasePolicy, d.CandidatePolicy, d.Leads, d.Moved)
	if d.Moved == 0 {
		_, err := fmt.Fprintln(w, "no lead moves")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(d.Decisions) > 0 {
		fmt.Fprintln(tw, "\ndecisions:")
		for _, t := range d.Decisions {
			fmt.Fprintf(tw, "  %s → %s\t%d\n", orNone(t.From), orNone(t.To), t.Leads)
		}
	}
	if len(d.Bases) > 0 {
		fmt.Fprintln(tw, "\nbases:")
		for _, t := range d.Bases {
			fmt.Fprintf(tw, "  %s %s → %s\t%d\n", t.Purpose, orNone(t.From), orNone(t.To), t.Leads)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nmoved leads (lead key, key version):")
	for _, m := range d.MovedLeads {
		fmt.Fprintf(w, "  %s %s: %s → %s (rule %s → %s)\n", m.LeadKey, m.KeyVersion,
			orNone(m.Decision.From), orNone(m.Decision.To), orNone(m.Rule.From), orNone(m.Rule.To))
		for _, p := range m.Purposes {
			fmt.Fprintf(w, "    %s %s → %s: %q → %q\n", p.Purpose, orNone(p.From), orNone(p.To), p.EvidenceFrom, p.EvidenceTo)
		}
		for _, ic := range m.Ignored {
			fmt.Fprintf(w, "    ignored only under the %s policy: %s: %s\n", ic.Under, ic.Purpose, ic.Why)
		}
		for _, s := range m.Explain {
			fmt.Fprintf(w, "    explain %s: %s → %s\n", s.Rule, stepText(s.From), stepText(s.To))
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(no record)"
	}
	return s
}

func stepText(s *classify.Step) string {
	if s == nil {
		return "(not evaluated)"
	}
	m := "not matched"
	if s.Matched {
		m = "matched"
	}
	return m + " (" + strings.TrimSpace(s.Why) + ")"
}
