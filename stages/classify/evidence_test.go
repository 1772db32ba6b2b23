package classify

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestABlankProofFieldCountsAsMissing: a method, text_version,
// collection_point or proof_ref that is empty or only whitespace proves
// nothing, in a consent event and in a lead event's consents alike.
func TestABlankProofFieldCountsAsMissing(t *testing.T) {
	for _, tc := range []struct{ name, proof, missing string }{
		{"a method of one space", `"method":" ","collection_point":"form:x","text_version":"v3"`, "method"},
		{"a method of tabs and newlines", `"method":"\t\n","collection_point":"form:x","text_version":"v3"`, "method"},
		{"a text_version of spaces", `"method":"checkbox","collection_point":"form:x","text_version":"   "`, "text_version"},
		{"a blank collection_point and no proof_ref", `"method":"checkbox","collection_point":" ","text_version":"v3"`, "collection_point or proof_ref"},
		{"a blank proof_ref and no collection_point", `"method":"checkbox","proof_ref":"\t","text_version":"v3"`, "collection_point or proof_ref"},
		{"both blank", `"method":"checkbox","collection_point":" ","proof_ref":" ","text_version":"v3"`, "collection_point or proof_ref"},
		{"a non-breaking space as the method", `"method":"\u00a0","collection_point":"form:x","text_version":"v3"`, "method"},
	} {
		t.Run("consent event: "+tc.name, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			st := NewState()
			apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social))
			res := apply(t, e, st, consentAt("c1", "L1", "2026-11-11T12:00:00Z", "email_marketing", "grant", tc.proof))
			if res.Record.Decision != DecisionQuarantined || len(res.Audit.IgnoredConsents) != 1 || !strings.Contains(res.Audit.IgnoredConsents[0].Why, "no "+tc.missing) {
				t.Errorf("decision %s, ignored %+v; want quarantined, the grant ignored for no %s", res.Record.Decision, res.Audit.IgnoredConsents, tc.missing)
			}
		})
		t.Run("lead event: "+tc.name, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			grant := `{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z",` + tc.proof + `}`
			res := apply(t, e, NewState(), leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social, consents(grant)))
			if res.Record.Decision != DecisionQuarantined || len(res.Audit.IgnoredConsents) != 1 {
				t.Errorf("decision %s, ignored %+v; want quarantined, the grant ignored", res.Record.Decision, res.Audit.IgnoredConsents)
			}
		})
	}
}

// TestOnlyAnAffirmativeActCounts: a grant counts only if its method is one
// the policy lists as an affirmative act, compared trimmed, in any case,
// with spaces or hyphens for underscores. A pre-ticked box, opt-out,
// implied or inferred consent and unknown methods never count, in a
// consent event and in a lead event's consents alike, and the audit says
// why without repeating a method the policy does not know.
func TestOnlyAnAffirmativeActCounts(t *testing.T) {
	const named, unknown = "is not an affirmative act", "not one the policy lists"
	for _, tc := range []struct {
		method string
		why    string // "" when the grant counts
	}{
		{"checkbox", ""},
		{"double_opt_in", ""},
		{"Double Opt-In", ""},
		{"  DOUBLE_OPT_IN\t", ""},
		{"double opt in", ""},
		{"signed_form", ""},
		{"recorded_call", ""},
		{"pref_center", ""},
		{"preference_center", ""},
		{"Preference Center", ""},
		{"preference_centre", ""},
		{"lead_form_checkbox", ""},
		{"pre_ticked", named},
		{"Pre-Ticked", named},
		{"pre_checked", named},
		{"opt_out", named},
		{"implied", named},
		{"inferred", named},
		{"soft_opt_in", named},
		{"continued_browsing", named},
		{"badge_scan", named},
		{"third_party", named},
		{"web_form", unknown},
		{"phone_call", unknown},
		{"checkboxes", unknown},
		{"check box ticked by anna.rossi@example.com", unknown},
		{"✓", unknown},
	} {
		check := func(t *testing.T, res Result, counted bool) {
			t.Helper()
			switch {
			case tc.why == "" && !counted:
				t.Errorf("decision %s, ignored %+v; want the grant to count", res.Record.Decision, res.Audit.IgnoredConsents)
			case tc.why != "" && (counted || len(res.Audit.IgnoredConsents) != 1 || !strings.Contains(res.Audit.IgnoredConsents[0].Why, tc.why)):
				t.Errorf("decision %s, ignored %+v; want the grant ignored because it %s", res.Record.Decision, res.Audit.IgnoredConsents, tc.why)
			case tc.why == unknown && strings.Contains(res.Audit.IgnoredConsents[0].Why, tc.method):
				t.Errorf("the reason %q repeats a method the policy does not know", res.Audit.IgnoredConsents[0].Why)
			}
		}
		proof := `"method":` + strconv.Quote(tc.method) + `,"collection_point":"form:x","text_version":"v3","proof_ref":"prf-1"`
		t.Run("consent event: "+tc.method, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			st := NewState()
			apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social))
			res := apply(t, e, st, consentAt("c1", "L1", "2026-11-11T12:00:00Z", "email_marketing", "grant", proof))
			check(t, res, res.Record.Decision == DecisionAccepted && res.Record.Purposes.EmailMarketing.Basis == BasisConsent)
		})
		t.Run("lead event: "+tc.method, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			grant := `{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z",` + proof + `}`
			res := apply(t, e, NewState(), leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social, consents(grant)))
			check(t, res, res.Record.Decision == DecisionAccepted && res.Record.Purposes.EmailMarketing.Basis == BasisConsent)
		})
	}
}

// TestABirthDateOutsideALifetimeIsInvalid: a birth date after the event or
// more than 120 years before it is a field error, never "age unknown".
func TestABirthDateOutsideALifetimeIsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, birth string
		valid       bool
	}{
		{"a birth date after occurred_at", "2026-11-11", false},
		{"a birth date far in the future", "2099-01-01", false},
		{"a birth date the day of the event", "2026-11-10", true},
		{"a birth date 120 years before, to the day", "1906-11-10", true},
		{"a birth date 120 years and a day before", "1906-11-09", false},
		{"a birth date in 1800", "1800-01-01", false},
		{"an ordinary adult", "1980-05-01", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := leadAt("e1", "L1", "2026-11-10T12:00:00Z", `"contact":{"country":"IT","birth_date":"`+tc.birth+`"}`, formKind)
			_, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
			var fe *schemas.FieldError
			switch {
			case tc.valid && err != nil:
				t.Errorf("decode: %v, want valid", err)
			case !tc.valid && (!errors.As(err, &fe) || fe.Field != "contact.birth_date"):
				t.Errorf("decode: %v, want an error naming contact.birth_date", err)
			case !tc.valid && strings.Contains(err.Error(), tc.birth):
				t.Errorf("the error %q repeats the value", err)
			}
		})
	}
}

// TestTheSocialRuleReadsTheLeadsRequest: a social lead is released for want
// of consent only by a basis for email, SMS or phone marketing, or by a
// request of its own that grounds sales_followup; a consent to
// sales_followup alone does not release it.
func TestTheSocialRuleReadsTheLeadsRequest(t *testing.T) {
	salesGrant := `{"purpose":"sales_followup","status":"granted","at":"2026-11-01T09:00:00Z","method":"checkbox","collection_point":"form:x","text_version":"v3"}`
	for _, tc := range []struct {
		name   string
		events []string
		want   string
		rule   string
	}{
		{"a consent to sales_followup in the lead event, no request", []string{
			leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social, consents(salesGrant))}, DecisionQuarantined, RuleSocialNoConsent},
		{"a consent event to sales_followup, no request", []string{
			leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social),
			consentAt("c1", "L1", "2026-11-11T12:00:00Z", "sales_followup", "grant", grantProof)}, DecisionQuarantined, RuleSocialNoConsent},
		{"a demo request", []string{
			leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social, `"request":{"type":"demo"}`)}, DecisionAccepted, RuleAccepted},
		{"a consent to sales_followup and a quote request", []string{
			leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social, `"request":{"type":"quote"}`, consents(salesGrant))}, DecisionAccepted, RuleAccepted},
		{"a newsletter request and a consent to sales_followup", []string{
			leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social, `"request":{"type":"newsletter"}`, consents(salesGrant))}, DecisionQuarantined, RuleSocialNoConsent},
		{"a consent to sales_followup and one to email marketing", []string{
			leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social, consents(salesGrant, emailOK))}, DecisionAccepted, RuleAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			r := finals(t, e, tc.events)[pseudonym.Development().LeadKey("L1")]
			if r.Decision != tc.want || r.Rule != tc.rule {
				t.Errorf("%s (%s), want %s (%s)", r.Decision, r.Rule, tc.want, tc.rule)
			}
		})
	}
}
