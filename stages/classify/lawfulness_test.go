package classify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestEveryReasonTheEngineGivesForAnIgnoredGrantHasItsCategory: the
// reasons in the audits of every golden file, and a pre-ticked box and an
// unknown method, fall into the category the report counts them under,
// never "other". It fails when a reason's text changes in engine.go or
// policy.go and IgnoredReasonOf no longer recognises it.
func TestEveryReasonTheEngineGivesForAnIgnoredGrantHasItsCategory(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	seen := map[string]string{} // category → a golden file that shows it
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var results []struct {
			Audit struct {
				Ignored []IgnoredConsent `json:"ignored_consents"`
			}
		}
		if err := json.Unmarshal(b, &results); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range results {
			for _, ic := range r.Audit.Ignored {
				c := IgnoredReasonOf(ic.Purpose + ": " + ic.Why)
				if c == IgnoredOther {
					t.Errorf("%s: %q falls into no category", filepath.Base(f), ic.Why)
				}
				seen[c] = filepath.Base(f)
			}
		}
	}
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social))
	for i, method := range []string{"pre_ticked", "web_form"} {
		res := apply(t, e, st, consentAt("c"+method, "L1", "2026-11-11T1"+string(rune('0'+i))+":00:00Z", "email_marketing", "grant",
			`"method":"`+method+`","collection_point":"form:x","text_version":"v3"`))
		if len(res.Audit.IgnoredConsents) != 1 {
			t.Fatalf("a %s grant: ignored %+v, want one", method, res.Audit.IgnoredConsents)
		}
		if c := IgnoredReasonOf(res.Audit.IgnoredConsents[0].Why); c != IgnoredMethodNotAffirmative {
			t.Errorf("a %s grant is ignored as %s (%q), want %s", method, c, res.Audit.IgnoredConsents[0].Why, IgnoredMethodNotAffirmative)
		}
		seen[IgnoredMethodNotAffirmative] = method
	}
	for _, want := range IgnoredReasons {
		if _, ok := seen[want]; !ok && want != IgnoredOther {
			t.Errorf("no golden file or case shows a grant ignored as %s: add one", want)
		}
	}
}

func TestTheRulesListEveryRuleADecisionNames(t *testing.T) {
	var listed []string
	for _, r := range Rules() {
		listed = append(listed, r.Rule)
		if r.Law == "" || r.What == "" || r.Decision == "" {
			t.Errorf("rule %s has no law, decision or text: %+v", r.Rule, r)
		}
	}
	for _, rule := range []string{RuleSuppressedObjection, RuleSuppressedWithdrawal, RuleSuppressedErasure, RuleErased,
		RuleMinor, RuleThirdParty, RuleSocialNoConsent, RuleAccepted, RuleReleased, RuleQuarantineExpired} {
		if !slices.Contains(listed, rule) {
			t.Errorf("Rules() does not list %s", rule)
		}
	}
}

// TestLawfulnessFollowsThePolicy: every purpose is listed, consent first;
// consent's terms name the policy's methods and clock skew; sales_followup's contract
// names the policy's request types.
func TestLawfulnessFollowsThePolicy(t *testing.T) {
	p := *DefaultPolicy()
	p.AffirmativeMethods = []string{"double_opt_in"}
	p.SalesFollowupRequests = []string{"quote"}
	p.ClockSkew = 2 * time.Minute
	got := p.Lawfulness()
	if len(got) != len(purposeNames) {
		t.Fatalf("%d purposes, want %d", len(got), len(purposeNames))
	}
	for i, pb := range got {
		if pb.Purpose != purposeNames[i] || pb.Bases[0].Basis != BasisConsent || pb.Bases[0].Article != "Art. 6(1)(a)" {
			t.Errorf("purpose %d: %+v, want %s with consent first", i, pb, purposeNames[i])
		}
	}
	if w := p.ConsentTerms(); !strings.Contains(w, "one of the 1 affirmative methods") || !strings.Contains(w, "2m0s") {
		t.Errorf("consent's terms %q do not count the policy's one method and name its clock skew", w)
	}
	sales := got[pSales].Bases
	if len(sales) != 2 || sales[1].Basis != BasisContract || !strings.HasSuffix(sales[1].When, "one of quote") {
		t.Errorf("sales_followup: %+v, want consent then contract on a quote", sales)
	}
	email := got[pEmail].Bases
	if len(email) != 2 || email[1].Basis != BasisLegitimateInterests || email[1].Article != "Art. 6(1)(f)" {
		t.Errorf("email_marketing: %+v, want consent then the soft opt-in", email)
	}
}

func TestComparePolicies(t *testing.T) {
	if got := ComparePolicies(DefaultPolicy(), DefaultPolicy()); len(got) != 0 {
		t.Errorf("the default against itself: %+v, want no change", got)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "next.yaml")
	if err := os.WriteFile(path, []byte(`extends: default
policy_version: "2027-01.1"
age_of_digital_consent: {countries: {IT: 16, PT: 13}}
consent_clock_skew: 1m
not_affirmative_methods: [checkbox]
own_hosts: [shop.example.it]
networks: {mastodon: {hosts: [mastodon.social], aliases: [mastodon]}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	next, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	got := ComparePolicies(DefaultPolicy(), next)
	want := []PolicyChange{
		{"policy_version", "2026-12.1", "2027-01.1"},
		{"age_of_digital_consent.countries.IT", "14", "16"},
		{"age_of_digital_consent.countries.PT", "", "13"},
		{"consent_clock_skew", "5m0s", "1m0s"},
		{"affirmative_methods", "- checkbox", ""},
		{"not_affirmative_methods", "", "+ checkbox"},
		{"own_hosts", "", "+ shop.example.it"},
		{"networks.mastodon", "", "added"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes\n%+v\nwant\n%+v", got, want)
	}
}
