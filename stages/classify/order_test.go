package classify

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// leadAt and consentAt build events at a given occurred_at (RFC 3339).
func leadAt(id, leadID, at string, fields ...string) string {
	return strings.Replace(lead(id, leadID, fields...), "2026-11-10T12:00:00Z", at, 1)
}

func consentAt(id, leadID, at, purpose, action string, fields ...string) string {
	return strings.Replace(consent(id, leadID, purpose, action, fields...), "2026-11-12T08:00:00Z", at, 1)
}

const (
	social    = `"source":{"kind":"social_lead_form","network":"linkedin"}`
	mario     = `"contact":{"email":"mario.rossi@example.it","country":"IT","birth_date":"1980-05-01"}`
	marioAlt  = `"contact":{"email":"Mario.Rossi@Example.IT","country":"IT"}`
	profGrant = `"method":"double_opt_in","collection_point":"email:confirm","text_version":"privacy-v3","proof_ref":"doi-9"`
)

// apply runs one event, failing the test on an error, and checks the
// changelog values of the keys it changed (checkChangelogValues).
func apply(t testing.TB, e *Engine, st *State, raw string) Result {
	t.Helper()
	ev, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
	if err != nil {
		t.Fatalf("does not decode: %v\n%s", err, raw)
	}
	res, err := e.Apply(ev, []byte(raw), st, testNow)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, raw)
	}
	checkChangelogValues(t, st, res.Changed)
	return res
}

// finals runs events in order and returns the last record of every lead,
// by lead key, with what may differ between orders left out: the event
// that triggered it, its time, the sequence and explain.
func finals(t testing.TB, e *Engine, events []string) map[string]Record {
	t.Helper()
	st := NewState()
	out := map[string]Record{}
	keep := func(r Record) {
		if r.Decision == DecisionNoLead || r.Decision == DecisionDuplicate {
			return
		}
		if prev, ok := out[r.LeadKey]; ok && prev.Seq > r.Seq {
			t.Fatalf("lead %s: record seq %d after seq %d", r.LeadKey[:8], r.Seq, prev.Seq)
		}
		out[r.LeadKey] = r
	}
	for _, raw := range events {
		res := apply(t, e, st, raw)
		keep(res.Record)
		for _, o := range res.Others {
			keep(o)
		}
	}
	for k, r := range out {
		r.EventID, r.OccurredAt, r.Seq, r.Explain, r.LeftQuarantine = "", time.Time{}, 0, nil, false
		out[k] = r
	}
	return out
}

// scenario is a set of events about a few leads that exercises every kind
// of interaction: late consents, objections before leads, the same email
// under two lead ids, an erasure, a release, ties.
var scenario = []string{
	leadAt("e1", "L1", "2026-11-10T12:00:00Z", mario, formKind, consents(emailOK)),
	leadAt("e2", "L2", "2026-11-11T12:00:00Z", marioAlt, `"source":{"kind":"import","import_batch":"b-9"}`, consents(emailOK)),
	consentAt("c1", "L1", "2026-11-12T08:00:00Z", "all", "object"),
	consentAt("c2", "L2", "2026-11-13T08:00:00Z", "email_marketing", "grant", grantProof),
	leadAt("e3", "L3", "2026-11-10T09:00:00Z", `"contact":{"email":"luca@example.it","country":"IT"}`, social),
	consentAt("c3", "L3", "2026-11-11T09:00:00Z", "email_marketing", "grant", grantProof),
	consentAt("c4", "L3", "2026-11-11T09:00:00Z", "email_marketing", "withdraw"),
	consentAt("c5", "L3", "2026-11-12T09:00:00Z", "sms_marketing", "grant", profGrant),
	consentAt("c6", "L4", "2026-11-09T09:00:00Z", "all", "erase"),
	leadAt("e4", "L4", "2026-11-08T09:00:00Z", `"contact":{"email":"anna@example.org","country":"DE"}`, formKind),
	leadAt("e5", "L5", "2026-11-10T10:00:00Z", `"contact":{"email":"anna@example.org","country":"DE"}`, formKind, consents(profOK)),
	leadAt("e6", "L6", "2026-11-10T10:00:00Z", `"contact":{"email":"eva@example.net","country":"AT"}`, social),
	leadAt("e7", "L6", "2026-11-10T10:00:00Z", `"contact":{"email":"eva@example.net","country":"AT"}`, formKind),
	consentAt("c7", "L6", "2026-11-11T10:00:00Z", "profiling", "grant", profGrant),
	consentAt("c8", "L7", "2026-11-11T10:00:00Z", "email_marketing", "grant", grantProof),
	leadAt("e8", "L7", "2026-11-12T10:00:00Z", `"contact":{"email":"noor@example.net","country":"NL"}`, social),
	consentAt("c9", "L7", "2026-11-13T10:00:00Z", "email_marketing", "withdraw"),
}

func TestTheFinalRecordOfEveryLeadDoesNotDependOnTheOrderOfItsEvents(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	want := finals(t, e, scenario)
	if len(want) != 7 {
		t.Fatalf("%d leads classified, want 7", len(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		events := append([]string(nil), scenario...)
		// Duplicate some events: a replay or a client retry.
		for range rng.IntN(5) {
			events = append(events, events[rng.IntN(len(events))])
		}
		rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
		got := finals(t, e, events)
		for k, w := range want {
			if g := got[k]; !reflect.DeepEqual(g, w) {
				gj, _ := json.Marshal(g)
				wj, _ := json.Marshal(w)
				t.Fatalf("permutation %d: lead %s ends\n%s\nwant\n%s", i, k[:8], gj, wj)
			}
		}
	}
	// What the scenario is meant to show.
	key := func(id string) string { return pseudonym.Development().LeadKey(id) }
	for _, c := range []struct{ lead, decision, rule string }{
		{"L1", DecisionSuppressed, RuleSuppressedObjection},
		{"L2", DecisionSuppressed, RuleSuppressedObjection}, // the same email, another lead id
		{"L3", DecisionAccepted, RuleReleased},              // a grant and a withdrawal at one instant: the withdrawal wins; the SMS grant releases it
		{"L4", DecisionErased, RuleErased},                  // erased before its lead event was read
		{"L5", DecisionSuppressed, RuleSuppressedErasure},   // L4's email
		{"L6", DecisionAccepted, RuleAccepted},              // two lead events at one instant: e7 (the larger id) is the latest
		{"L7", DecisionQuarantined, RuleSocialNoConsent},    // released by c8, withdrawn by c9
	} {
		if r := want[key(c.lead)]; r.Decision != c.decision || r.Rule != c.rule {
			t.Errorf("%s: %s %s, want %s %s", c.lead, r.Decision, r.Rule, c.decision, c.rule)
		}
	}
	if r := want[key("L3")]; r.Purposes.EmailMarketing.Basis != BasisNone || r.Purposes.SMSMarketing.Basis != BasisConsent {
		t.Errorf("L3 purposes %+v", r.Purposes)
	}
	if r := want[key("L4")]; r.LeadID != "" || r.Origin != (Origin{}) {
		t.Errorf("the erased lead's record keeps its lead id or origin: %+v", r)
	}
}

func TestAnObjectionReachesAnAcceptedLeadWithTheSameEmailAndALaterGrantDoesNotCount(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", mario, formKind, consents(emailOK)))
	if r := apply(t, e, st, leadAt("e2", "L2", "2026-11-11T12:00:00Z", marioAlt, formKind, consents(emailOK))).Record; r.Decision != DecisionAccepted {
		t.Fatalf("L2 is %s before the objection", r.Decision)
	}
	res := apply(t, e, st, consentAt("c1", "L1", "2026-11-12T08:00:00Z", "all", "object"))
	if len(res.Others) != 1 || res.Others[0].LeadID != "L2" || res.Others[0].Decision != DecisionSuppressed {
		t.Fatalf("the objection re-classified %+v, want L2 suppressed", res.Others)
	}
	if r := apply(t, e, st, consentAt("c2", "L2", "2026-11-13T08:00:00Z", "email_marketing", "grant", grantProof)); r.Record.Decision != DecisionSuppressed || len(r.Audit.IgnoredConsents) != 1 {
		t.Errorf("a later grant for L2: %s, ignored %+v", r.Record.Decision, r.Audit.IgnoredConsents)
	}
}

func TestAnErasureReadBeforeItsLeadErasesTheLeadWhenItArrives(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	if r := apply(t, e, st, consentAt("c1", "L1", "2026-11-12T08:00:00Z", "all", "erase")).Record; r.Decision != DecisionErased || r.LeadID != "" {
		t.Fatalf("the erasure of an unseen lead is %s with lead id %q, want erased with none", r.Decision, r.LeadID)
	}
	r := apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", mario, formKind, consents(emailOK))).Record
	if r.Decision != DecisionErased || r.LeadID != "" || r.Key != "L1" {
		t.Errorf("the lead arriving after its erasure: decision %s lead_id %q key %q", r.Decision, r.LeadID, r.Key)
	}
	if s := jsonOf(t, st); strings.Contains(s, `"L1"`) || strings.Contains(s, "privacy-v3") {
		t.Errorf("the erased lead's facts came into state: %s", s)
	}
}

func TestAReleaseFromQuarantineIsFlaggedForATombstone(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	if r := apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, social)).Record; r.Decision != DecisionQuarantined || r.LeftQuarantine {
		t.Fatalf("the social lead: %s, left quarantine %v", r.Decision, r.LeftQuarantine)
	}
	r := apply(t, e, st, consentAt("c1", "L1", "2026-11-12T08:00:00Z", "email_marketing", "grant", grantProof)).Record
	if r.Decision != DecisionAccepted || r.Rule != RuleReleased || !r.LeftQuarantine {
		t.Errorf("the release: %s %s, left quarantine %v", r.Decision, r.Rule, r.LeftQuarantine)
	}
}

func TestADuplicateChangesNothingAndAReusedEventIDIsRefused(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	ev := leadAt("e1", "L1", "2026-11-10T12:00:00Z", mario, formKind, consents(emailOK))
	first := apply(t, e, st, ev)
	before := jsonOf(t, st)
	dup := apply(t, e, st, ev)
	if !dup.Duplicate || dup.Audit.Decision != DecisionDuplicate || len(dup.Changed) != 0 || len(dup.Others) != 0 {
		t.Errorf("the duplicate: %+v", dup)
	}
	if after := jsonOf(t, st); after != before {
		t.Errorf("a duplicate changed the state:\n%s\nwas\n%s", after, before)
	}
	if dup.Audit.InputSHA256 != first.Audit.InputSHA256 {
		t.Error("the duplicate's audit names another input")
	}
	reused := strings.Replace(ev, `"country":"IT"`, `"country":"FR"`, 1)
	d, err := schemas.Decode([]byte(reused), schemas.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Apply(d, []byte(reused), st, testNow)
	if !errors.Is(err, ErrEventIDReused) || !strings.Contains(err.Error(), "event_id") {
		t.Errorf("an event id reused with other content: %v", err)
	}
	if after := jsonOf(t, st); after != before {
		t.Error("a refused event changed the state")
	}
}

func TestAtEqualTimesADenialWinsOverAGrantWhicheverIsReadFirst(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	l := leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, formKind)
	g := consentAt("c2", "L1", "2026-11-12T08:00:00Z", "email_marketing", "grant", grantProof)
	w := consentAt("c1", "L1", "2026-11-12T08:00:00Z", "email_marketing", "withdraw")
	for _, order := range [][]string{{l, g, w}, {l, w, g}, {w, g, l}} {
		r := finals(t, e, order)[pseudonym.Development().LeadKey("L1")]
		if b := r.Purposes.EmailMarketing; b.Basis != BasisNone || !strings.Contains(b.Evidence, "withdrawn") {
			t.Errorf("email_marketing %+v, want none by the withdrawal", b)
		}
	}
}

// TestAtEqualTimesTwoGrantsStandByTheirEventIDsWhicheverIsReadFirst feeds
// two grants of one purpose made at the same instant, with different
// proofs, in both orders: the standing statement, and so the basis's
// evidence and the audit's proofs, are those of the larger event id either
// way. Without the event-id tie-break the two compare equal, and the one
// read second is dropped as a copy of the first.
func TestAtEqualTimesTwoGrantsStandByTheirEventIDsWhicheverIsReadFirst(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	l := leadAt("e1", "L1", "2026-11-10T12:00:00Z", adultIT, formKind)
	a := consentAt("c1", "L1", "2026-11-12T08:00:00Z", "email_marketing", "grant",
		`"method":"checkbox","collection_point":"signup-form","text_version":"privacy-v3","proof_ref":"box-1"`)
	b := consentAt("c2", "L1", "2026-11-12T08:00:00Z", "email_marketing", "grant", grantProof)
	for _, order := range [][]string{{l, a, b}, {l, b, a}} {
		r := finals(t, e, order)[pseudonym.Development().LeadKey("L1")]
		if ev := r.Purposes.EmailMarketing.Evidence; !strings.Contains(ev, "c2") {
			t.Errorf("email_marketing evidence %q: want the grant c2 (the larger event id), whichever was read first", ev)
		}
	}
}
