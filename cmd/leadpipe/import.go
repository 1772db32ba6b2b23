package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/sources"
)

const importSynopsis = `Usage: leadpipe import --source meta|linkedin|google-ads|segment|rudderstack|csv
                       [--sources FILE] [--list NAME] [--to stdout|kafka] FILE

Turns the lead payloads a platform gives (FILE: JSON lines, one payload a
line, or a JSON array of them; a CSV file for csv; - reads stdin) into
leadpipe's events. --to stdout (the default) writes them as JSON lines that
leadpipe classify reads, to try a mapping offline; --to kafka produces them
to leads.raw, consents.raw and behavior.raw.

Sources: meta, Meta Lead Ads lead objects (Graph API GET /{lead-id} with
custom_disclaimer_responses, or a bulk read of a form's leads); google-ads,
Google Ads lead form webhook bodies (no consent field: the leads have
none; test leads are left out); linkedin, LinkedIn Lead Sync lead form
responses (GET /rest/leadFormResponses/{id}), and its DELETED
notifications, which become erasure requests (to consents.raw).

segment, rudderstack: messages of Segment's spec (RudderStack's follows it):
identify becomes a lead (traits to contact; the consent envelope,
Segment's context.consent.categoryPreferences or RudderStack's
context.consentManagement, to consents through the sources file's
segment.categories or rudderstack.categories); a track of "Segment
Consent Preference Updated" becomes consent events; page and the tracks
Product Viewed, Product Added, Order Completed, Products Searched become
behavior. A message WITHOUT a consent envelope gives no consent (both CDPs
would let it through: leadpipe fails closed), counted in the summary.
Other messages are left out, listed in the rejects file as such.

csv: a list file (bought, partner, badge scans, a CRM export) read by the
mapping csv.lists.NAME of the sources file (--list NAME; the only one if
there is one): contact columns, source kind, supplier or partner, list id,
consent and proof columns. Event ids derive from the id column, else from
the list, the file's name and the row.

What each form's consent boxes grant is written in --sources (sources.yaml,
see docs/sources.md). Nothing is guessed: a form or box the file
does not map gives no consent (a social lead is quarantined), and a box the
form ticks by default is never a consent. Each is counted in the summary
on stderr; leadpipe sources check lists them. Event ids derive from the
platform's lead ids, so importing a file again makes no second lead.

A payload that cannot be read is written to --rejects (default FILE.rejects)
with its line and the field, never its value. Exit status: 0 when every
payload became an event, 1 when some were rejected or Kafka failed, 2 on
bad usage.

Example:
  leadpipe import --source meta --sources sources.yaml leads.jsonl | leadpipe classify --dev-key`

// importSummary is what an import could not map, by form: the summary
// line and leadpipe sources check.
type importSummary struct {
	payloads, events, rejected int
	tests                      int            // test leads left out (Google's is_test)
	ignored                    int            // CDP messages leadpipe maps to nothing
	noConsentObject            int            // CDP messages without a consent envelope
	ignoredMethods             map[string]int // grants the policy will ignore for their method, by its label
	unmappedForms              map[string]int // form id → leads
	unmappedBoxes              map[string]int // form id + " " + key → answers
	preTicked                  map[string]int
	unreadable                 map[string]int
}

func newImportSummary() *importSummary {
	return &importSummary{unmappedForms: map[string]int{}, unmappedBoxes: map[string]int{}, preTicked: map[string]int{}, unreadable: map[string]int{},
		ignoredMethods: map[string]int{}}
}

func (s *importSummary) add(r sources.Report) {
	if r.NoConsentObject {
		s.noConsentObject++
	}
	if r.UnmappedForm {
		s.unmappedForms[r.Form]++
	}
	for _, k := range r.UnmappedCheckboxes {
		s.unmappedBoxes[r.Form+" "+k]++
	}
	for _, k := range r.PreTicked {
		s.preTicked[r.Form+" "+k]++
	}
	for _, k := range r.Unreadable {
		s.unreadable[r.Form+" "+k]++
	}
}

// countMethods counts the grants of ev whose method the policy does not
// take as an affirmative act.
func (s *importSummary) countMethods(p *classify.Policy, ev schemas.Event) {
	count := func(method string) {
		if label, ok := p.MethodLabel(method); !ok {
			s.ignoredMethods[label]++
		}
	}
	switch e := ev.(type) {
	case *schemas.Lead:
		for _, c := range e.Consents {
			if c.Status == "granted" {
				count(c.Method)
			}
		}
	case *schemas.Consent:
		if e.Action == "grant" {
			count(e.Method)
		}
	}
}

// unmapped reports whether anything seen gave no consent for want of a mapping.
func (s *importSummary) unmapped() bool {
	return len(s.unmappedForms)+len(s.unmappedBoxes)+len(s.preTicked)+len(s.unreadable)+s.noConsentObject > 0
}

// lines are the summary's lines on what gave no consent, sorted.
func (s *importSummary) lines(source string) []string {
	var out []string
	list := func(m map[string]int, what string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			form, key, _ := strings.Cut(k, " ")
			switch {
			case form == "":
				out = append(out, fmt.Sprintf("%s category %s: %s (%d answers): no consent from it", source, key, what, m[k]))
			case source == "csv":
				out = append(out, fmt.Sprintf("csv list %s, column %s: %s (%d rows): no consent from it", form, key, what, m[k]))
			case key == "":
				out = append(out, fmt.Sprintf("%s form %s: %s (%d leads): no consent from it", source, form, what, m[k]))
			default:
				out = append(out, fmt.Sprintf("%s form %s, checkbox %s: %s (%d answers): no consent from it", source, form, key, what, m[k]))
			}
		}
	}
	list(s.unmappedForms, "not in the sources file")
	list(s.unmappedBoxes, "not in the sources file")
	list(s.preTicked, "ticked by default by the form")
	list(s.unreadable, "an answer it cannot read (neither yes nor no, or given twice)")
	return out
}

func cmdImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	kcfg := pipeline.DefaultConfig()
	fs := newFlagSet("import", importSynopsis, stdout, stderr)
	source := fs.String("source", "", "the platform the payloads come from: meta, linkedin, google-ads, segment, rudderstack, csv")
	list := fs.String("list", "", "csv: the list's mapping in the sources file (csv.lists.NAME; default: the only one)")
	sourcesFile := fs.String("sources", "", "sources.yaml: what each form's consent boxes grant (none: no box gives consent)")
	to := fs.String("to", "stdout", "stdout (JSON lines for leadpipe classify), or kafka (leads.raw)")
	policyFile := fs.String("policy", "", "the policy classify will run (default: the embedded one): the summary counts the grants whose method it does not take as an affirmative act")
	rejects := fs.String("rejects", "", "file of the rejected payloads' lines and fields (default: FILE.rejects; stderr for -)")
	kcfg.RegisterConnFlags(fs)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	var err error
	switch {
	case *source == "":
		err = fmt.Errorf("--source is required: %s", strings.Join(importSources, ", "))
	case !slices.Contains(importSources, *source):
		err = fmt.Errorf("--source %s is not supported yet; the sources are %s", *source, strings.Join(importSources, ", "))
	case *to != "stdout" && *to != "kafka":
		err = fmt.Errorf("--to must be stdout or kafka, not %q", *to)
	case fs.NArg() != 1:
		err = errors.New("give one FILE of payloads (- for stdin)")
	case *to == "kafka":
		err = kcfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe import: %v\n", err)
		return 2
	}
	policy := classify.DefaultPolicy()
	if *policyFile != "" {
		if policy, err = classify.LoadPolicy(*policyFile); err != nil {
			fmt.Fprintf(stderr, "leadpipe import: %v\n", err)
			return 2
		}
	}
	mapping := &sources.Config{}
	if *sourcesFile != "" {
		if mapping, err = sources.LoadConfig(*sourcesFile); err != nil {
			fmt.Fprintf(stderr, "leadpipe import: %v\n", err)
			return 2
		}
	} else {
		fmt.Fprintln(stderr, "leadpipe import: no --sources file: no consent box of any form gives consent")
	}
	var listName string
	var listMapping *sources.CSVList
	if *source == "csv" {
		if listName, listMapping, err = csvList(mapping, *list); err != nil {
			fmt.Fprintf(stderr, "leadpipe import: %v\n", err)
			return 2
		}
	}
	in, name, closeIn, err := openInput(fs.Arg(0), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe import: %v\n", err)
		return 2
	}
	defer closeIn()
	if *rejects == "" && name != "-" {
		*rejects = name + ".rejects"
	}
	var rejectsFile *os.File
	defer func() {
		if rejectsFile != nil {
			rejectsFile.Close()
		}
	}()
	// reject writes a payload's position and field to the rejects file,
	// created at the first one (stderr for stdin, or if it cannot be).
	reject := func(pos string, err error) {
		if rejectsFile == nil && *rejects != "" {
			f, cerr := os.Create(*rejects)
			if cerr != nil {
				fmt.Fprintf(stderr, "leadpipe import: %v; rejected payloads go to stderr\n", cerr)
				*rejects = ""
			}
			rejectsFile = f
		}
		if rejectsFile == nil {
			fmt.Fprintf(stderr, "leadpipe import: rejected %s: %v\n", pos, err)
			return
		}
		fmt.Fprintf(rejectsFile, "%s: %v\n", pos, err)
	}

	var produce func(schemas.Event, []byte) error
	var flush func() error
	switch *to {
	case "stdout":
		w := bufio.NewWriter(stdout)
		produce = func(_ schemas.Event, v []byte) error {
			w.Write(v)
			return w.WriteByte('\n')
		}
		flush = w.Flush
	case "kafka":
		w := pipeline.NewWriter(&kcfg)
		defer w.Close()
		var batch []kafka.Message
		flush = func() error {
			if len(batch) == 0 {
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			err := w.WriteMessages(wctx, batch...)
			batch = batch[:0]
			return err
		}
		produce = func(ev schemas.Event, v []byte) error {
			topic, key := pipeline.TopicLeadsRaw, ev.LeadID()
			switch e := ev.(type) {
			case *schemas.Consent:
				topic = pipeline.TopicConsentsRaw // a deletion's erasure request, a CDP's consent change
			case *schemas.Behavior:
				topic = pipeline.TopicBehaviorRaw
				if key == "" {
					key = e.AnonymousID
				}
			}
			batch = append(batch, kafka.Message{Topic: kcfg.Topic(topic), Key: []byte(key), Value: v})
			if len(batch) == 1000 {
				return flush()
			}
			return nil
		}
	}

	sum := newImportSummary()
	limits := schemas.DefaultLimits()
	// emit checks and writes one payload's events, or rejects it.
	emit := func(pos string, evs []schemas.Event, report sources.Report, err error) error {
		sum.payloads++
		switch {
		case errors.Is(err, sources.ErrTestLead):
			sum.tests++
			return nil
		case errors.Is(err, sources.ErrIgnored):
			sum.ignored++
			reject(pos, fmt.Errorf("left out: %w", err))
			return nil
		}
		values := make([][]byte, len(evs))
		for i, ev := range evs {
			if err == nil {
				values[i], err = json.Marshal(ev)
			}
			if err == nil {
				// The event must be one leadpipe decodes: what classify would
				// dead-letter is rejected here, with its field.
				_, err = schemas.Decode(values[i], limits)
			}
		}
		if err != nil {
			sum.rejected++
			reject(pos, err)
			return nil
		}
		sum.add(report)
		for i, ev := range evs {
			sum.countMethods(policy, ev)
			sum.events++
			if err := produce(ev, values[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if *source == "csv" {
		err = sources.CSVRows(in, listName, filepath.Base(name), listMapping, func(line int, lead *schemas.Lead, report sources.Report, err error) error {
			var evs []schemas.Event
			if lead != nil {
				evs = []schemas.Event{lead}
			}
			return emit(fmt.Sprintf("line %d", line), evs, report, err)
		})
	} else {
		err = readPayloads(in, func(pos string, payload []byte) error {
			evs, report, err := adapt(*source, payload, mapping)
			return emit(pos, evs, report, err)
		})
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe import: %v\n", err)
		return 1
	}
	what := "payloads"
	if *source == "csv" {
		what = "rows"
	}
	fmt.Fprintf(stderr, "leadpipe import: %d %s from %s: %d events written to %s, %d rejected", sum.payloads, what, *source, sum.events, *to, sum.rejected)
	if sum.rejected > 0 && *rejects != "" {
		fmt.Fprintf(stderr, " (their lines and fields: %s)", *rejects)
	}
	if sum.tests > 0 {
		fmt.Fprintf(stderr, ", %d test leads left out", sum.tests)
	}
	if sum.ignored > 0 {
		fmt.Fprintf(stderr, ", %d messages left out (not identify, page or a mapped track; listed in %s)", sum.ignored, cmp.Or(*rejects, "stderr"))
	}
	fmt.Fprintln(stderr)
	if sum.noConsentObject > 0 {
		fmt.Fprintf(stderr, "leadpipe import: %d %s messages had no consent envelope: no consent from them (fail closed; %s would let them through)\n", sum.noConsentObject, *source, *source)
	}
	if *source == "google-ads" && sum.events > 0 {
		fmt.Fprintln(stderr, "leadpipe import: a Google Ads lead form carries no consent: these leads have none for any purpose")
	}
	if line := ignoredMethodsLine(sum.ignoredMethods, "will be ignored by classify"); line != "" {
		fmt.Fprintln(stderr, "leadpipe import:", line)
	}
	for _, l := range sum.lines(*source) {
		fmt.Fprintln(stderr, "leadpipe import:", l)
	}
	if sum.payloads == 0 {
		fmt.Fprintln(stderr, "leadpipe import: the file holds no payload")
	}
	if sum.rejected > 0 {
		return 1
	}
	return 0
}

// importSources are the sources import reads.
var importSources = []string{"meta", "linkedin", "google-ads", "segment", "rudderstack", "csv"}

// adapt maps one payload of source to its events.
func adapt(source string, payload []byte, mapping *sources.Config) ([]schemas.Event, sources.Report, error) {
	one := func(ev schemas.Event, r sources.Report, err error) ([]schemas.Event, sources.Report, error) {
		if err != nil {
			return nil, r, err
		}
		return []schemas.Event{ev}, r, nil
	}
	switch source {
	case "google-ads":
		l, r, err := sources.FromGoogleAds(payload)
		return one(&l, r, err)
	case "linkedin":
		return one(sources.FromLinkedIn(payload, mapping))
	case "segment":
		return sources.FromSegment(payload, mapping)
	case "rudderstack":
		return sources.FromRudderStack(payload, mapping)
	}
	l, r, err := sources.FromMeta(payload, mapping)
	return one(&l, r, err)
}

// csvList is the list mapping --list names, or the only one.
func csvList(mapping *sources.Config, name string) (string, *sources.CSVList, error) {
	lists := mapping.CSV.Lists
	if name == "" && len(lists) == 1 {
		for n := range lists {
			name = n
		}
	}
	l, ok := lists[name]
	if !ok {
		return "", nil, fmt.Errorf("--list: the sources file maps the lists %q; name one", slices.Sorted(maps.Keys(lists)))
	}
	return name, &l, nil
}
