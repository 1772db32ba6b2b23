package classify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var testNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// run classifies events in order against one State, as the stream does,
// and checks the changelog value of every state key each event changed
// (checkChangelogValues).
func run(t testing.TB, e *Engine, st *State, events ...string) []Result {
	t.Helper()
	var out []Result
	for i, raw := range events {
		ev, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
		if err != nil {
			t.Fatalf("event %d does not decode: %v", i, err)
		}
		res, err := e.Apply(ev, []byte(raw), st, testNow)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		checkChangelogValues(t, st, res.Changed)
		out = append(out, res)
	}
	return out
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	file := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "_")
	path := filepath.Join("testdata", strings.Trim(file, "_")+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n%s", path, got)
	}
}

// Event builders: a lead with the fields of each case merged into a base.
const (
	proofIT  = `"at":"2026-11-01T09:00:00Z","method":"checkbox","collection_point":"form:contact-it","text_version":"privacy-v3","proof_ref":"proof-123"`
	emailOK  = `{"purpose":"email_marketing","status":"granted",` + proofIT + `}`
	smsOK    = `{"purpose":"sms_marketing","status":"granted",` + proofIT + `}`
	profOK   = `{"purpose":"profiling","status":"granted",` + proofIT + `}`
	adultIT  = `"contact":{"email":"Mario.Rossi@Example.it","first_name":"Mario","country":"IT","birth_date":"1980-05-01"}`
	formKind = `"source":{"kind":"web_form","url":"https://shop.example.it/contact"}`
)

func lead(id, lead string, fields ...string) string {
	s := `{"type":"lead","event_id":"` + id + `","occurred_at":"2026-11-10T12:00:00Z","lead_id":"` + lead + `"`
	for _, f := range fields {
		s += "," + f
	}
	return s + "}"
}

func consent(id, lead, purpose, action string, fields ...string) string {
	s := `{"type":"consent","event_id":"` + id + `","occurred_at":"2026-11-12T08:00:00Z","lead_id":"` + lead +
		`","purpose":"` + purpose + `","action":"` + action + `"`
	for _, f := range fields {
		s += "," + f
	}
	return s + "}"
}

func consents(entries ...string) string { return `"consents":[` + strings.Join(entries, ",") + `]` }

const grantProof = `"method":"double_opt_in","collection_point":"email:confirm","text_version":"privacy-v3","proof_ref":"doi-77"`

// want is what a case checks on the last result, beside its golden file.
type want struct {
	decision, rule, reason string
	bases                  map[string]string // purpose -> basis
	ignored                int               // ignored consents of the last event
}

func TestPolicyRules(t *testing.T) {
	cases := []struct {
		name   string
		events []string
		want   want
	}{
		{
			name:   "a web form lead with a proven email consent is accepted with consent as the basis of email marketing",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(emailOK))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent", "sms_marketing": "none", "profiling": "none"}},
		},
		{
			name:   "consent to email marketing does not cover profiling or sms",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(emailOK))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"profiling": "none", "sms_marketing": "none", "phone_marketing": "none"}},
		},
		{
			name:   "a web form lead without any consent is accepted with every marketing purpose none",
			events: []string{lead("e1", "L1", adultIT, formKind)},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none", "sales_followup": "none"}},
		},
		{
			name:   "a consent without text_version is ignored and the audit says why",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(`{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z","method":"checkbox","proof_ref":"p1"}`))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none"}, ignored: 1},
		},
		{
			name:   "a consent without collection_point or proof_ref is ignored",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(`{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z","method":"checkbox","text_version":"v1"}`))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none"}, ignored: 1},
		},
		{
			name:   "a consent without at or method is ignored",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(`{"purpose":"email_marketing","status":"granted","text_version":"v1","proof_ref":"p"}`))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none"}, ignored: 1},
		},
		{
			name:   "a consent dated more than five minutes after now is ignored as future",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(`{"purpose":"email_marketing","status":"granted","at":"2026-11-20T10:06:00Z","method":"checkbox","text_version":"v1","proof_ref":"p"}`))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none"}, ignored: 1},
		},
		{
			name:   "a consent dated four minutes after now counts within the clock skew",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(`{"purpose":"email_marketing","status":"granted","at":"2026-11-20T10:04:00Z","method":"checkbox","text_version":"v1","proof_ref":"p"}`))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name: "at equal times a denial wins over a grant for the same purpose",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(emailOK,
				`{"purpose":"email_marketing","status":"denied","at":"2026-11-01T09:00:00Z"}`))},
			want: want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none"}},
		},
		{
			name: "the latest statement by time wins whatever the order in the event",
			events: []string{lead("e1", "L1", adultIT, formKind, consents(
				`{"purpose":"email_marketing","status":"granted","at":"2026-11-02T09:00:00Z","method":"checkbox","text_version":"v2","proof_ref":"p2"}`,
				`{"purpose":"email_marketing","status":"denied","at":"2026-11-01T09:00:00Z"}`))},
			want: want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name:   "an Italian lead of thirteen without parental consent is quarantined and its consents do not count",
			events: []string{lead("e1", "L1", `"contact":{"email":"kid@example.it","country":"IT","birth_date":"2013-06-01"}`, formKind, consents(emailOK))},
			want:   want{decision: "quarantined", rule: RuleMinor, reason: RuleMinor, ignored: 1},
		},
		{
			name:   "an Italian lead of fourteen is not a minor for digital consent",
			events: []string{lead("e1", "L1", `"contact":{"email":"teen@example.it","country":"IT","birth_date":"2012-11-10"}`, formKind, consents(emailOK))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name:   "a German lead of fifteen is a minor under the German age of sixteen",
			events: []string{lead("e1", "L1", `"contact":{"country":"DE","birth_date":"2011-01-01"}`, formKind)},
			want:   want{decision: "quarantined", rule: RuleMinor, reason: RuleMinor},
		},
		{
			name:   "a minor with proven parental consent is classified normally",
			events: []string{lead("e1", "L1", `"contact":{"country":"IT","birth_date":"2014-01-01"}`, formKind, consents(emailOK), `"parental_consent":{"at":"2026-11-01T09:00:00Z","method":"signed_form","proof_ref":"parent-9"}`)},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name:   "a minor whose parental consent has no proof_ref stays quarantined",
			events: []string{lead("e1", "L1", `"contact":{"country":"IT","birth_date":"2014-01-01"}`, formKind, `"parental_consent":{"at":"2026-11-01T09:00:00Z","method":"signed_form"}`)},
			want:   want{decision: "quarantined", rule: RuleMinor},
		},
		{
			name:   "a purchased list without a supplier is quarantined for third party without proof",
			events: []string{lead("e1", "L1", adultIT, `"source":{"kind":"purchased_list","list_id":"L-2026"}`, consents(emailOK))},
			want:   want{decision: "quarantined", rule: RuleThirdParty, reason: RuleThirdParty},
		},
		{
			name:   "a purchased list naming its supplier but without a counting consent is quarantined",
			events: []string{lead("e1", "L1", adultIT, `"source":{"kind":"purchased_list","supplier":"ListCo"}`)},
			want:   want{decision: "quarantined", rule: RuleThirdParty},
		},
		{
			name:   "a purchased list naming its supplier with a counting consent is accepted",
			events: []string{lead("e1", "L1", adultIT, `"source":{"kind":"purchased_list","supplier":"ListCo"}`, consents(emailOK))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name:   "a partner lead naming its partner_id with a counting consent is accepted",
			events: []string{lead("e1", "L1", adultIT, `"source":{"kind":"partner","partner_id":"P-7"}`, consents(smsOK))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"sms_marketing": "consent"}},
		},
		{
			name:   "a partner lead by utm_medium affiliate without partner_id is quarantined",
			events: []string{lead("e1", "L1", adultIT, `"source":{"url":"https://shop.example.it/?utm_source=deals&utm_medium=affiliate"}`, consents(emailOK))},
			want:   want{decision: "quarantined", rule: RuleThirdParty},
		},
		{
			name:   "an existing customer whose email came from a purchase gets email marketing on the soft opt-in",
			events: []string{lead("e1", "L1", adultIT, formKind, `"relationship":{"customer":true,"email_from_purchase":true,"last_purchase_at":"2026-10-01T10:00:00Z"}`)},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "legitimate_interests", "sms_marketing": "none", "profiling": "none"}},
		},
		{
			name:   "the soft opt-in does not apply to a customer who denied email marketing",
			events: []string{lead("e1", "L1", adultIT, formKind, `"relationship":{"customer":true,"email_from_purchase":true}`, consents(`{"purpose":"email_marketing","status":"denied","at":"2026-11-01T09:00:00Z"}`))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none"}},
		},
		{
			name:   "the soft opt-in needs the email to come from a purchase",
			events: []string{lead("e1", "L1", adultIT, formKind, `"relationship":{"customer":true}`)},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none"}},
		},
		{
			name:   "a quote request grounds sales followup on contract",
			events: []string{lead("e1", "L1", adultIT, formKind, `"request":{"type":"quote"}`)},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"sales_followup": "contract", "email_marketing": "none"}},
		},
		{
			name:   "a newsletter request does not ground sales followup",
			events: []string{lead("e1", "L1", adultIT, formKind, `"request":{"type":"newsletter"}`)},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"sales_followup": "none"}},
		},
		{
			name:   "a social lead form lead without consent is quarantined as social without consent",
			events: []string{lead("e1", "L1", adultIT, `"source":{"kind":"social_lead_form","network":"LinkedIn"}`)},
			want:   want{decision: "quarantined", rule: RuleSocialNoConsent, reason: RuleSocialNoConsent},
		},
		{
			name:   "a social lead with only a profiling consent is still quarantined",
			events: []string{lead("e1", "L1", adultIT, `"source":{"kind":"social","network":"fb"}`, consents(profOK))},
			want:   want{decision: "quarantined", rule: RuleSocialNoConsent},
		},
		{
			name:   "a social lead with an email consent is accepted",
			events: []string{lead("e1", "L1", adultIT, `"source":{"kind":"social_lead_form","network":"linkedin"}`, consents(emailOK))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name:   "a social lead that asked for a demo is accepted for sales followup only",
			events: []string{lead("e1", "L1", adultIT, `"source":{"url":"https://shop.example.it/demo?fbclid=abc"}`, `"request":{"type":"demo"}`)},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"sales_followup": "contract", "email_marketing": "none"}},
		},
		{
			name: "a counting consent event releases a quarantined social lead",
			events: []string{
				lead("e1", "L1", adultIT, `"source":{"kind":"social_lead_form","network":"linkedin"}`),
				consent("c1", "L1", "email_marketing", "grant", grantProof),
			},
			want: want{decision: "accepted", rule: RuleReleased, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name: "a consent event without proof does not release a quarantined lead",
			events: []string{
				lead("e1", "L1", adultIT, `"source":{"kind":"social_lead_form","network":"linkedin"}`),
				consent("c1", "L1", "email_marketing", "grant", `"method":"checkbox"`),
			},
			want: want{decision: "quarantined", rule: RuleSocialNoConsent, ignored: 1},
		},
		{
			name: "a grant for all purposes does not count because consent must be specific",
			events: []string{
				lead("e1", "L1", adultIT, `"source":{"kind":"social_lead_form","network":"linkedin"}`),
				consent("c1", "L1", "all", "grant", grantProof),
			},
			want: want{decision: "quarantined", rule: RuleSocialNoConsent, ignored: 1},
		},
		{
			name: "a consent event for a minor without parental consent is ignored",
			events: []string{
				lead("e1", "L1", `"contact":{"country":"IT","birth_date":"2014-01-01"}`, formKind),
				consent("c1", "L1", "email_marketing", "grant", grantProof),
			},
			want: want{decision: "quarantined", rule: RuleMinor, ignored: 1},
		},
		{
			name: "withdrawing email marketing sets it to none and keeps the lead accepted",
			events: []string{
				lead("e1", "L1", adultIT, formKind, consents(emailOK, smsOK)),
				consent("c1", "L1", "email_marketing", "withdraw"),
			},
			want: want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "none", "sms_marketing": "consent"}},
		},
		{
			name: "withdrawing all puts the lead on the suppression list",
			events: []string{
				lead("e1", "L1", adultIT, formKind, consents(emailOK)),
				consent("c1", "L1", "all", "withdraw"),
			},
			want: want{decision: "suppressed", rule: RuleSuppressedWithdrawal, reason: ReasonObjection, bases: map[string]string{"email_marketing": "none"}},
		},
		{
			name: "an objection suppresses the lead",
			events: []string{
				lead("e1", "L1", adultIT, formKind, consents(emailOK)),
				consent("c1", "L1", "email_marketing", "object"),
			},
			want: want{decision: "suppressed", rule: RuleSuppressedObjection, reason: ReasonObjection},
		},
		{
			name: "a lead re-imported under a new lead id is caught by the keyed hash of its email",
			events: []string{
				lead("e1", "L1", adultIT, formKind, consents(emailOK)),
				consent("c1", "L1", "all", "object"),
				lead("e2", "L2", `"contact":{"email":"MARIO.ROSSI@example.IT","country":"IT"}`, `"source":{"kind":"import","import_batch":"b-9"}`, consents(emailOK)),
			},
			want: want{decision: "suppressed", rule: RuleSuppressedObjection, reason: ReasonObjection, ignored: 1},
		},
		{
			name: "an erasure returns erased and a later lead event of the lead stays erased",
			events: []string{
				lead("e1", "L1", adultIT, formKind, consents(emailOK)),
				consent("c1", "L1", "all", "erase"),
				lead("e2", "L1", adultIT, formKind, consents(emailOK)),
			},
			want: want{decision: "erased", rule: RuleErased, reason: ReasonErasure, ignored: 1},
		},
		{
			name: "the erasure event itself is classified erased",
			events: []string{
				lead("e1", "L1", adultIT, formKind, consents(emailOK)),
				consent("c1", "L1", "all", "erase"),
			},
			want: want{decision: "erased", rule: RuleErased, reason: ReasonErasure},
		},
		{
			name:   "a consent event for a lead never seen returns no_lead",
			events: []string{consent("c1", "L9", "email_marketing", "grant", grantProof)},
			want:   want{decision: "no_lead", rule: RuleNoLead},
		},
		{
			name: "a consent seen before its social lead releases the lead when it arrives",
			events: []string{
				consent("c1", "L9", "email_marketing", "grant", grantProof),
				lead("e1", "L9", adultIT, `"source":{"kind":"social","network":"instagram"}`),
			},
			want: want{decision: "accepted", rule: RuleReleased, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name: "an objection seen before its lead suppresses the lead when it arrives",
			events: []string{
				consent("c1", "L9", "all", "object"),
				lead("e1", "L9", adultIT, formKind, consents(emailOK)),
			},
			want: want{decision: "suppressed", rule: RuleSuppressedObjection, ignored: 1},
		},
		{
			name: "a grant after an objection does not lift the suppression",
			events: []string{
				lead("e1", "L1", adultIT, formKind),
				consent("c1", "L1", "all", "object"),
				consent("c2", "L1", "email_marketing", "grant", grantProof),
			},
			want: want{decision: "suppressed", rule: RuleSuppressedObjection, ignored: 1},
		},
		{
			name:   "a grant by a pre-ticked box does not count and the audit names the method",
			events: []string{lead("e1", "L1", adultIT, social, consents(`{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z","method":"pre_ticked","collection_point":"form:x","text_version":"v3","proof_ref":"p1"}`))},
			want:   want{decision: "quarantined", rule: RuleSocialNoConsent, bases: map[string]string{"email_marketing": "none"}, ignored: 1},
		},
		{
			name:   "a grant by a method the policy does not list does not count and the audit does not repeat it",
			events: []string{lead("e1", "L1", adultIT, social, consents(`{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z","method":"ticked by mario.rossi","collection_point":"form:x","text_version":"v3","proof_ref":"p1"}`))},
			want:   want{decision: "quarantined", rule: RuleSocialNoConsent, bases: map[string]string{"email_marketing": "none"}, ignored: 1},
		},
		{
			name:   "a grant by double opt-in written in words counts",
			events: []string{lead("e1", "L1", adultIT, social, consents(`{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z","method":" Double Opt-In ","collection_point":"form:x","text_version":"v3","proof_ref":"p1"}`))},
			want:   want{decision: "accepted", rule: RuleAccepted, bases: map[string]string{"email_marketing": "consent"}},
		},
		{
			name: "an objection made under one lead id reaches a lead with the same phone number written nationally",
			events: []string{
				lead("e1", "L1", `"contact":{"phone":"+39 333 555 0101","country":"IT"}`, formKind),
				consent("c1", "L1", "all", "object"),
				lead("e2", "L2", `"contact":{"phone":"333-555-0101","country":"IT","email":"other@example.it"}`, formKind),
			},
			want: want{decision: "suppressed", rule: RuleSuppressedObjection},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			e.Explain = true
			res := run(t, e, NewState(), tc.events...)
			last := res[len(res)-1]
			rec := last.Record
			if rec.Decision != tc.want.decision || rec.Rule != tc.want.rule {
				t.Errorf("decision %s rule %s, want %s rule %s", rec.Decision, rec.Rule, tc.want.decision, tc.want.rule)
			}
			if tc.want.reason != "" && rec.Reason != tc.want.reason {
				t.Errorf("reason %q, want %q", rec.Reason, tc.want.reason)
			}
			for p, b := range tc.want.bases {
				if got := rec.Purposes.Get(p); got == nil || got.Basis != b {
					t.Errorf("purpose %s: basis %+v, want %s", p, got, b)
				}
			}
			if n := len(last.Audit.IgnoredConsents); n != tc.want.ignored {
				t.Errorf("%d ignored consents %+v, want %d", n, last.Audit.IgnoredConsents, tc.want.ignored)
			}
			checkNoPersonalData(t, res)
			golden(t, tc.name, res)
		})
	}
}

// checkNoPersonalData fails when a record or audit holds an email, a name
// or a phone number of the test events.
func checkNoPersonalData(t *testing.T, res []Result) {
	t.Helper()
	for _, r := range res {
		b, _ := json.Marshal(r)
		for _, pd := range []string{"Mario", "Rossi", "mario", "rossi", "MARIO", "@example", "kid@", "teen@"} {
			if bytes.Contains(b, []byte(pd)) {
				t.Errorf("result holds personal data %q: %s", pd, b)
			}
		}
	}
}
