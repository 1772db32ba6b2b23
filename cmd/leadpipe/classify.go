package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/pipeline/wire"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
)

const classifyUsage = `Usage: leadpipe classify [--policy FILE] [--rpo RPOFILE] [--explain] [--quarantine-days N] [--hmac-key-file F | --dev-key] [FILE]

Classify lead and consent events offline, with the very engine of the
stream stage. Reads JSONL (one event a line, sharing state as the stream
does) from FILE or standard input, and writes for each input line the
lead's classification after that event, then one line for every other
lead the event re-classified (an objection, a withdrawal of "all" or an
erasure reaches every lead that used the same email). The last line of a
lead (its highest "seq") is the same for the same events in any order.

As the stream stage, it purges a lead quarantined for --quarantine-days of
event time (the latest occurred_at read so far) without a counting
consent: a line with "decision": "purged" comes before the line of the
event that moved the time past the deadline. That one decision depends on
the order of the events: an event read after the purge of its lead, dated
before the deadline, finds a lead that is gone.

An event seen before with the same content gives "decision": "duplicate"
and changes nothing. A line that is not a valid event, or that reuses an
event_id for other content, gives {"line": N, "decision": "invalid",
"error": "..."} and processing goes on. Blank lines are skipped.

Exit status: 0 when every line was valid, 1 when any was invalid, 2 when
the command could not run (bad flags, no key, unreadable input).

Example:
  leadpipe classify --dev-key --explain --now 2026-11-20T10:00:00Z leads.jsonl`

// cmdClassify implements `leadpipe classify [--policy FILE] [--explain] [--hmac-key-file F | --dev-key] [FILE]`.
func cmdClassify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("classify", classifyUsage, stdout, stderr)
	policyFile := fs.String("policy", "", "policy `FILE`: a YAML that replaces the default, or changes it when it starts with extends: default")
	rpoFile := fs.String("rpo", "", "`RPOFILE` of leadpipe rpo load: the check of the Registro Pubblico delle Opposizioni that limits phone_marketing")
	explain := fs.Bool("explain", false, "add to each line the rules evaluated and why each matched or not")
	var keys keyFlags
	keys.register(fs)
	nowFlag := fs.String("now", "", "processing time, RFC 3339 (default: the clock), for reproducible output")
	quarantineDays := fs.Int("quarantine-days", int(wire.Defaults().QuarantineRetention/(24*time.Hour)), "days of event time a lead stays quarantined without a counting consent before it is purged (0: keep)")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "leadpipe classify: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 1 {
		return fail("give at most one input FILE, not %d", fs.NArg())
	}

	policy := classify.DefaultPolicy()
	if *policyFile != "" {
		p, err := classify.LoadPolicy(*policyFile)
		if err != nil {
			return fail("%v", err)
		}
		policy = p
	}
	keyer, err := keys.keyer()
	if err != nil {
		return fail("%v", err)
	}
	clock := time.Now
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return fail("--now: %q is not an RFC 3339 time such as 2026-11-20T10:00:00Z", *nowFlag)
		}
		clock = func() time.Time { return t }
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

	if *quarantineDays < 0 {
		return fail("--quarantine-days must not be negative")
	}
	engine := classify.New(policy, keyer)
	if *rpoFile != "" {
		if engine.RPO, err = classify.LoadRPO(*rpoFile, keyer); err != nil {
			return fail("%v", err)
		}
	}
	engine.Explain = *explain
	engine.QuarantineRetention = time.Duration(*quarantineDays) * 24 * time.Hour
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	ignored := map[string]int{}
	n, invalid, err := classifyLines(ctx, engine, schemas.DefaultLimits(), in, out, clock, ignored)
	if err != nil {
		out.Flush()
		return fail("after line %d: %v", n, err)
	}
	if n == 0 {
		fmt.Fprintln(stderr, "leadpipe classify: the input holds no line: nothing classified")
	}
	if line := ignoredMethodsLine(ignored, "ignored"); line != "" {
		fmt.Fprintln(stderr, "leadpipe classify:", line)
	}
	if invalid > 0 {
		fmt.Fprintf(stderr, "leadpipe classify: %d of %d lines invalid\n", invalid, n)
		return 1
	}
	return 0
}

// invalidLine is the output of an input line that is not a valid event.
type invalidLine struct {
	Line     int    `json:"line"`
	Decision string `json:"decision"`
	Error    string `json:"error"`
}

// classifyLines classifies each line of in into out, sharing one State. It
// returns the number of lines read and of invalid ones; err is an error of
// reading, writing or ctx, never of an event.
func classifyLines(ctx context.Context, e *classify.Engine, l schemas.Limits, in io.Reader, out io.Writer, clock func() time.Time, ignored map[string]int) (lines, invalid int, err error) {
	st := classify.NewState()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	lines, err = eachLine(ctx, l, in, func(n int, line []byte, over int) error {
		var vs []any
		if over > 0 {
			vs = []any{tooLongLine(n, over, l)}
		} else {
			vs = classifyLine(e, l, line, st, clock(), n, ignored)
		}
		for _, v := range vs {
			if _, ok := v.(invalidLine); ok {
				invalid++
			}
		}
		for _, v := range vs {
			if err := enc.Encode(v); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
		return nil
	})
	return lines, invalid, err
}

// tooLongLine is the output of line n, over bytes long.
func tooLongLine(n, over int, l schemas.Limits) invalidLine {
	return invalidLine{n, classify.DecisionInvalid, fmt.Sprintf("message: is %d bytes, over the limit of %d", over, l.MaxMessageBytes)}
}

// eachLine calls fn with every non-blank line of in, without its line
// end, and its number; a line longer than the message limit comes with
// its length as over and no bytes. It returns the number of lines read;
// err is an error of reading, of ctx or of fn.
func eachLine(ctx context.Context, l schemas.Limits, in io.Reader, fn func(n int, line []byte, over int) error) (lines int, err error) {
	br := bufio.NewReaderSize(in, l.MaxMessageBytes+2)
	for {
		if err := ctx.Err(); err != nil {
			return lines, err
		}
		line, rerr := br.ReadSlice('\n')
		tooLong := 0
		for errors.Is(rerr, bufio.ErrBufferFull) {
			tooLong += len(line)
			line, rerr = br.ReadSlice('\n')
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return lines, fmt.Errorf("read input: %w", rerr)
		}
		if len(line) == 0 && tooLong == 0 {
			return lines, nil // end of input
		}
		lines++
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case tooLong > 0:
			err = fn(lines, nil, tooLong+len(line))
		case len(bytes.TrimSpace(line)) > 0:
			err = fn(lines, line, 0)
		}
		if err != nil || rerr != nil {
			return lines, err
		}
	}
}

// classifyLine returns the output values of one non-blank line: the
// records of the leads purged as the stream time moves to the event's,
// the record of its lead, then those of the other leads it re-classified.
// It counts in ignored the grants ignored for their method, by method.
func classifyLine(e *classify.Engine, l schemas.Limits, line []byte, st *classify.State, now time.Time, n int, ignored map[string]int) []any {
	ev, err := schemas.Decode(line, l)
	if err != nil {
		return []any{invalidLine{n, classify.DecisionInvalid, err.Error()}}
	}
	var out []any
	purged, res, err := applyEvent(e, ev, line, st, now)
	for _, o := range purged {
		out = append(out, o)
	}
	if err != nil {
		return append(out, invalidLine{n, classify.DecisionInvalid, err.Error()})
	}
	for _, m := range res.IgnoredMethods {
		ignored[m]++
	}
	out = append(out, res.Record)
	for _, o := range res.Others {
		out = append(out, o)
	}
	return out
}

// applyEvent is what leadpipe classify does with a decoded event: it
// purges the leads whose quarantine the event's time outlives, then
// applies the event.
func applyEvent(e *classify.Engine, ev schemas.Event, line []byte, st *classify.State, now time.Time) (purged []classify.Record, res classify.Result, err error) {
	if ev.EventType() != schemas.TypeBehavior {
		purged = e.ExpireAll(st, ev.Occurred(), now).Others
	}
	res, err = e.Apply(ev, line, st, now)
	return purged, res, err
}

// ignoredMethodsLine is the summary line of grants whose method is not an
// affirmative act (counts by the policy's label of the method, "other"
// for one it does not list), or "" when there is none. verb says what
// happened to them ("ignored", "will be ignored").
func ignoredMethodsLine(byMethod map[string]int, verb string) string {
	if len(byMethod) == 0 {
		return ""
	}
	total := 0
	var parts []string
	for _, m := range slices.Sorted(maps.Keys(byMethod)) {
		total += byMethod[m]
		parts = append(parts, fmt.Sprintf("%s %d", m, byMethod[m]))
	}
	line := fmt.Sprintf("%d grants %s because their method is not an affirmative act in the policy: %s", total, verb, strings.Join(parts, ", "))
	if byMethod["other"] > 0 {
		line += ` ("other": a method the policy does not list; if it is an affirmative act, add it to affirmative_methods with --policy)`
	}
	return line
}
