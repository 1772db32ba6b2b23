package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/analytics/report"
	"github.com/leadpipe/leadpipe/stages/classify"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestOneMonthAfterEndsOnTheSameDayOfTheNextMonthOrItsLastDay(t *testing.T) {
	for _, tc := range []struct{ request, due string }{
		{"2026-11-05T10:00:00Z", "2026-12-05T10:00:00Z"},
		{"2026-11-30T12:00:00Z", "2026-12-30T12:00:00Z"},
		{"2026-12-15T08:30:00Z", "2027-01-15T08:30:00Z"},
		{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z"},
		{"2028-01-31T10:00:00Z", "2028-02-29T10:00:00Z"},
		{"2026-03-31T23:59:59Z", "2026-04-30T23:59:59Z"},
		{"2026-05-31T22:00:00-02:00", "2026-07-01T00:00:00Z"}, // June 1st UTC
	} {
		if got := report.OneMonthAfter(at(tc.request)); !got.Equal(at(tc.due)) {
			t.Errorf("a request of %s is due %s, want %s", tc.request, got.Format(time.RFC3339), tc.due)
		}
	}
}

// fullAccountability has a row in every part, one of each case.
func fullAccountability() *analytics.Accountability {
	return &analytics.Accountability{
		OriginDecisions: []analytics.OriginDecision{{Channel: "social", Decision: "quarantined", Leads: 8}, {Channel: "web", Decision: "accepted", Leads: 10}},
		OriginBases: []analytics.OriginBasis{{Channel: "web", Purpose: "email_marketing", Basis: "consent", Leads: 6},
			{Channel: "web", Purpose: "email_marketing", Basis: "none", Leads: 4}, {Channel: "social", Purpose: "email_marketing", Basis: "none", Leads: 8}},
		Quarantine: analytics.QuarantineFlow{Entered: 13, Released: 7, MedianWait: 96 * time.Hour, WaitingAtEnd: 8, Purged: 2},
		Erasures: []analytics.ErasureTiming{
			{ErasureID: strings.Repeat("a", 64), Requested: at("2026-11-05T10:00:00Z"), Completed: at("2026-12-05T10:00:00Z"), Verified: true},
			{ErasureID: strings.Repeat("b", 64), Requested: at("2026-11-05T10:00:00Z"), Completed: at("2026-12-05T10:00:01Z"), Verified: true},
			{ErasureID: strings.Repeat("c", 64), Requested: at("2026-01-31T10:00:00Z"), Completed: at("2026-03-01T09:00:00Z")},
		},
		PendingErasures: []analytics.PendingErasure{{Requested: at("2026-11-01T10:00:00Z"), Leads: 2}, {Requested: at("2026-11-25T09:00:00Z"), Leads: 1}},
		IgnoredGrants: []analytics.IgnoredGrant{
			{Purpose: "email_marketing", Why: "method pre_ticked is not an affirmative act of the person (GDPR Recital 32; CJEU C-673/17 Planet49)", Grants: 3},
			{Purpose: "profiling", Why: "its method is not one the policy lists as an affirmative act (GDPR Art. 4(11), Recital 32)", Grants: 1},
			{Purpose: "email_marketing", Why: "no proof of consent: it has no text_version", Grants: 2},
			{Purpose: "sms_marketing", Why: "occurred_at is in the future, beyond 5m0s of clock skew", Grants: 1},
		},
		PolicyVersions: []analytics.PolicyVersionUse{
			{Version: "2026-11.1", First: at("2026-11-01T08:00:00Z"), Last: at("2026-11-10T08:00:00Z"), Decisions: 4},
			{Version: "2026-12.1", First: at("2026-11-15T08:00:00Z"), Last: at("2026-11-30T08:00:00Z"), Decisions: 8},
		},
		Removals: []analytics.Removal{{Reason: "retention", Table: "behavior_events", Action: "delete", Runs: 1, Rows: 5}},
	}
}

func options() report.Options {
	return report.Options{From: at("2026-11-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z"), Now: at("2026-12-08T10:00:00Z"),
		Database: "leadpipe", Policy: classify.DefaultPolicy(), PolicySource: "built-in", Retention: analytics.DefaultRetention(), QuarantineDays: 30}
}

// TestAnErasureReceiptLaterThanOneMonthIsFlagged: a receipt on the
// deadline is in time, one a second later is late, and one of a request of
// 31 January is late from 28 February on; a pending request is overdue
// once its month has passed at the report's time.
func TestAnErasureReceiptLaterThanOneMonthIsFlagged(t *testing.T) {
	r := report.Assemble(fullAccountability(), options(), report.LedgerSection{})
	var late []bool
	for _, e := range r.Requests.Erasure.Receipts {
		late = append(late, e.Late)
	}
	if want := []bool{false, true, true}; !slices.Equal(late, want) || r.Requests.Erasure.Late != 2 {
		t.Errorf("late %v (%d), want %v (2)", late, r.Requests.Erasure.Late, want)
	}
	if s := r.Requests.Erasure.Receipts[1].Seconds; s != 30*86400+1 {
		t.Errorf("time to receipt %d s, want 30 days and a second", s)
	}
	var overdue []bool
	for _, p := range r.Requests.Erasure.Pending {
		overdue = append(overdue, p.Overdue)
	}
	if want := []bool{true, false}; !slices.Equal(overdue, want) || r.Requests.Erasure.Overdue != 1 {
		t.Errorf("overdue %v (%d), want %v (1)", overdue, r.Requests.Erasure.Overdue, want)
	}
	for _, format := range []string{"md", "html"} {
		var b bytes.Buffer
		if err := report.Write(&b, r, format); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(b.String(), "late: more than one month"); n != 2 {
			t.Errorf("%s flags %d receipts as late, want 2", format, n)
		}
	}
}

// TestIgnoredGrantsAreCountedByReasonEveryReasonListed: the audit's
// reasons fall into their categories, every category is listed (zero
// included), the three of the consent's collection first.
func TestIgnoredGrantsAreCountedByReasonEveryReasonListed(t *testing.T) {
	r := report.Assemble(fullAccountability(), options(), report.LedgerSection{})
	got := map[string]uint64{}
	var order []string
	for _, g := range r.IgnoredGrants {
		got[g.Reason] = g.Grants
		order = append(order, g.Reason)
	}
	if strings.Join(order, ",") != strings.Join(classify.IgnoredReasons, ",") {
		t.Errorf("reasons listed %v, want %v", order, classify.IgnoredReasons)
	}
	if got[classify.IgnoredMethodNotAffirmative] != 4 || got[classify.IgnoredProofMissing] != 2 || got[classify.IgnoredFutureDated] != 1 || r.IgnoredTotal() != 7 {
		t.Errorf("by reason %v, want 4 not affirmative, 2 without proof, 1 in the future", got)
	}
	if by := r.IgnoredGrants[0].ByPurpose; len(by) != 2 || by[0] != (report.PurposeCount{Purpose: "email_marketing", Grants: 3}) {
		t.Errorf("not affirmative by purpose %+v, want email_marketing 3, profiling 1", by)
	}
}

// TestPolicyChangesAreShownWhenBothTextsAreKnown: with the older text in
// the history, the step lists the changed settings; without it, the step
// says it is not known.
func TestPolicyChangesAreShownWhenBothTextsAreKnown(t *testing.T) {
	o := options()
	older := *classify.DefaultPolicy()
	older.Version = "2026-11.1"
	older.AffirmativeMethods = append([]string{"web_form"}, older.AffirmativeMethods...)
	newer := *classify.DefaultPolicy()
	newer.Version = "2026-12.1"
	o.Policy = &newer
	r := report.Assemble(fullAccountability(), o, report.LedgerSection{})
	if s := r.PolicyVersions.Changes; len(s) != 1 || s[0].Known || len(s[0].Changes) != 0 || r.PolicyVersions.Versions[0].Known || !r.PolicyVersions.Versions[1].Known {
		t.Errorf("without the older text: %+v", r.PolicyVersions)
	}
	o.History = map[string]*classify.Policy{"2026-11.1": &older}
	r = report.Assemble(fullAccountability(), o, report.LedgerSection{})
	want := []classify.PolicyChange{{Setting: "policy_version", Was: "2026-11.1", Now: "2026-12.1"}, {Setting: "affirmative_methods", Was: "- web_form"}}
	if s := r.PolicyVersions.Changes; len(s) != 1 || !s[0].Known || len(s[0].Changes) != 2 || s[0].Changes[0] != want[0] || s[0].Changes[1] != want[1] {
		t.Errorf("with the older text: %+v, want %+v", r.PolicyVersions.Changes, want)
	}
}

// schema compiles docs/report.schema.json.
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTheJSONFollowsItsSchema: the JSON of a report with every part
// filled, a ledger with a break and one not checked, is valid against
// docs/report.schema.json (every field required, none unknown), and
// decodes strictly back into a Report.
func TestTheJSONFollowsItsSchema(t *testing.T) {
	s := schema(t)
	for _, ledger := range []report.LedgerSection{
		{Note: "not checked: no ledger"},
		{Checked: true, Partitions: 3, Records: 120, Anchors: 4, SignedAnchors: 4, ErasedAccounted: 1, Break: &report.LedgerBreak{Partition: 1, Offset: 17, Kind: "altered"}},
	} {
		var b bytes.Buffer
		if err := report.Write(&b, report.Assemble(fullAccountability(), options(), ledger), "json"); err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(doc); err != nil {
			t.Errorf("the JSON does not follow docs/report.schema.json: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
		dec.DisallowUnknownFields()
		var back report.Report
		if err := dec.Decode(&back); err != nil {
			t.Errorf("the JSON does not decode strictly into a Report: %v", err)
		}
	}
}

// TestTheMarkdownTablesAreWhole: every row of every Markdown table has as
// many cells as its header, so that it renders when pasted into a DPIA.
func TestTheMarkdownTablesAreWhole(t *testing.T) {
	var b bytes.Buffer
	r := report.Assemble(fullAccountability(), options(), report.LedgerSection{})
	if err := report.Write(&b, r, "md"); err != nil {
		t.Fatal(err)
	}
	cells := func(line string) int { return strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") }
	header := 0
	tables := 0
	for i, line := range strings.Split(b.String(), "\n") {
		switch {
		case !strings.HasPrefix(line, "|"):
			header = 0
		case header == 0:
			header = cells(line)
			tables++
		case cells(line) != header:
			t.Errorf("line %d has %d cell borders, its table's header %d:\n%s", i+1, cells(line), header, line)
		}
	}
	if tables < 12 {
		t.Errorf("%d tables, want every part's", tables)
	}
}

func TestAFormatThatIsNotOneIsRefused(t *testing.T) {
	r := report.Assemble(fullAccountability(), options(), report.LedgerSection{})
	if err := report.Write(&bytes.Buffer{}, r, "pdf"); err == nil || !strings.Contains(err.Error(), "md, html, json") {
		t.Errorf("format pdf: %v, want an error naming md, html, json", err)
	}
}
