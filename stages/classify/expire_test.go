package classify

import (
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// expiryNow is the processing time of the retention tests: after every
// event, so that no consent is in the future.
var expiryNow = time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)

// stream runs events through e and st as the stream stage does: Expire at
// each event's time, then the event. It returns every record emitted, in
// order.
func stream(t *testing.T, e *Engine, st *State, events ...string) []Record {
	t.Helper()
	var out []Record
	for _, raw := range events {
		ev, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
		if err != nil {
			t.Fatalf("does not decode: %v\n%s", err, raw)
		}
		x := e.ExpireAll(st, ev.Occurred(), expiryNow)
		out = append(out, x.Others...)
		res, err := e.Apply(ev, []byte(raw), st, expiryNow)
		if err != nil {
			t.Fatal(err)
		}
		if res.Record.Decision != DecisionNoLead && res.Record.Decision != DecisionDuplicate {
			out = append(out, res.Record)
		}
		out = append(out, res.Others...)
	}
	return out
}

// last is the last record of each lead key.
func last(recs []Record) map[string]Record {
	m := map[string]Record{}
	for _, r := range recs {
		m[r.LeadKey] = r
	}
	return m
}

// tick is a lead event of another lead at time at, to move the stream
// time on.
func tick(n int, at string) string {
	return leadAt("tick-"+at, "T"+strings.Repeat("x", n), at, formKind)
}

// TestAQuarantinedLeadWithoutConsentIsPurgedAfterTheRetention: a lead
// quarantined for want of consent is purged once the stream time passes
// the start of its quarantine plus the retention, and only then; a lead
// released in time, suppressed, accepted or quarantined again later is
// purged by its own clock or not at all.
func TestAQuarantinedLeadWithoutConsentIsPurgedAfterTheRetention(t *testing.T) {
	const q0 = "2026-11-10T12:00:00Z" // the social lead's quarantine starts
	grant := func(id, at string) string {
		return consentAt(id, "L1", at, "email_marketing", "grant", `"method":"double_opt_in","text_version":"v3","proof_ref":"doi-1"`)
	}
	for _, tc := range []struct {
		name   string
		events []string
		want   string // the final decision of L1
	}{
		{"a day before the deadline it is kept", []string{leadAt("e1", "L1", q0, social), tick(1, "2026-12-09T12:00:00Z")}, DecisionQuarantined},
		{"a second before the deadline it is kept", []string{leadAt("e1", "L1", q0, social), tick(1, "2026-12-10T11:59:59Z")}, DecisionQuarantined},
		{"at the deadline it is purged", []string{leadAt("e1", "L1", q0, social), tick(1, "2026-12-10T12:00:00Z")}, DecisionPurged},
		{"long after the deadline it is purged", []string{leadAt("e1", "L1", q0, social), tick(1, "2027-03-01T00:00:00Z")}, DecisionPurged},
		{"a consent before the deadline releases it and it stays", []string{leadAt("e1", "L1", q0, social), grant("c1", "2026-11-25T12:00:00Z"), tick(1, "2027-01-01T00:00:00Z")}, DecisionAccepted},
		{"a consent without proof does not save it", []string{leadAt("e1", "L1", q0, social),
			consentAt("c1", "L1", "2026-11-25T12:00:00Z", "email_marketing", "grant"), tick(1, "2027-01-01T00:00:00Z")}, DecisionPurged},
		{"a consent by a pre-ticked box does not save it", []string{leadAt("e1", "L1", q0, social),
			consentAt("c1", "L1", "2026-11-25T12:00:00Z", "email_marketing", "grant", `"method":"pre_ticked","text_version":"v3","proof_ref":"p"`), tick(1, "2027-01-01T00:00:00Z")}, DecisionPurged},
		{"released, then withdrawn: the new quarantine has its own clock", []string{leadAt("e1", "L1", q0, social), grant("c1", "2026-11-20T12:00:00Z"),
			consentAt("c2", "L1", "2026-12-01T12:00:00Z", "email_marketing", "withdraw"), tick(1, "2026-12-20T00:00:00Z")}, DecisionQuarantined},
		{"released, then withdrawn, past the new deadline", []string{leadAt("e1", "L1", q0, social), grant("c1", "2026-11-20T12:00:00Z"),
			consentAt("c2", "L1", "2026-12-01T12:00:00Z", "email_marketing", "withdraw"), tick(1, "2026-12-31T12:00:00Z")}, DecisionPurged},
		{"an objector is suppressed, not quarantined, and kept", []string{leadAt("e1", "L1", q0, social),
			consentAt("c1", "L1", "2026-11-11T12:00:00Z", "all", "object"), tick(1, "2027-01-01T00:00:00Z")}, DecisionSuppressed},
		{"an accepted lead is kept", []string{leadAt("e1", "L1", q0, formKind), tick(1, "2027-01-01T00:00:00Z")}, DecisionAccepted},
		{"a minor without parental consent is purged too", []string{leadAt("e1", "L1", q0, `"contact":{"country":"IT","birth_date":"2014-01-01"}`, formKind),
			tick(1, "2027-01-01T00:00:00Z")}, DecisionPurged},
		{"a purchased list without proof is purged too", []string{leadAt("e1", "L1", q0, `"source":{"kind":"purchased_list"}`), tick(1, "2027-01-01T00:00:00Z")}, DecisionPurged},
		{"its own later event moves the clock and is applied to a new history", []string{leadAt("e1", "L1", q0, social),
			leadAt("e2", "L1", "2027-01-01T00:00:00Z", social)}, DecisionQuarantined},
		{"a consent that arrives after the purge finds no lead", []string{leadAt("e1", "L1", q0, social), tick(1, "2027-01-01T00:00:00Z"),
			grant("c1", "2026-11-25T12:00:00Z")}, DecisionPurged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			e.QuarantineRetention = 30 * 24 * time.Hour
			st := NewState()
			recs := stream(t, e, st, tc.events...)
			lk := e.keyer.LeadKey("L1")
			r := last(recs)[lk]
			if r.Decision != tc.want {
				t.Fatalf("L1 ends %s (%s), want %s", r.Decision, r.Rule, tc.want)
			}
			ls := st.leads[lk]
			held := ls != nil && len(ls.Facts) > 0 // a consent read later is kept for a lead to come
			if r.Decision == DecisionPurged {
				if r.LeadID != "" || r.Key != "L1" || r.Rule != RuleQuarantineExpired || !r.LeftQuarantine {
					t.Errorf("purged record %+v: want no raw lead id in it, keyed by L1, rule quarantine_expired, leaving the quarantine", r)
				}
				if held {
					t.Error("the purged lead is still in the state")
				}
			}
		})
	}
}

// TestAPurgeForgetsTheLeadEverywhere: the purged lead's state key is
// deleted, its email keys forget it (and go when nothing else is left),
// the audit says retention, and the other leads of its address keep what
// the address holds: a later objection there still reaches a new lead.
func TestAPurgeForgetsTheLeadEverywhere(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	e.QuarantineRetention = 30 * 24 * time.Hour
	st := NewState()
	k := e.keyer
	stream(t, e, st,
		leadAt("e1", "L1", "2026-11-10T12:00:00Z", contact("anna@example.com"), social),
		leadAt("e2", "L2", "2026-11-10T12:00:00Z", contact("bob@example.com"), social),
		leadAt("e3", "L3", "2026-11-11T12:00:00Z", contact("bob@example.com"), formKind),
	)
	x := e.ExpireAll(st, time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC), expiryNow)
	if len(x.Others) != 2 {
		t.Fatalf("purged %d leads, want L1 and L2", len(x.Others))
	}
	for _, key := range []string{LeadStateKey(k.LeadKey("L1")), LeadStateKey(k.LeadKey("L2")), ContactStateKey(k.EmailKey("anna@example.com")), ContactStateKey(k.EmailKey("bob@example.com"))} {
		if !strings.Contains(strings.Join(x.Changed, " "), key) {
			t.Errorf("state key %s not changed by the purge", key[:12])
		}
	}
	for _, key := range []string{LeadStateKey(k.LeadKey("L1")), ContactStateKey(k.EmailKey("anna@example.com"))} {
		if _, ok := st.Encode(key); ok {
			t.Errorf("state key %s still held: it should be a tombstone", key[:12])
		}
	}
	if ids := st.ContactLeads(k.EmailKey("bob@example.com")); len(ids) != 1 || ids[0] != "L3" {
		t.Errorf("bob's address holds leads %v, want only L3", ids)
	}
	recs := stream(t, e, st,
		consentAt("c3", "L3", "2026-12-12T12:00:00Z", "all", "object"),
		leadAt("e4", "L4", "2026-12-13T12:00:00Z", contact("bob@example.com"), formKind))
	if r := last(recs)[k.LeadKey("L4")]; r.Decision != DecisionSuppressed {
		t.Errorf("a new lead of the objector's address is %s, want suppressed", r.Decision)
	}
	if a := e.ReclassificationAudit(&x.Others[0], expiryNow); a.EventType != EventTypeRetention || a.Decision != DecisionPurged {
		t.Errorf("audit %+v, want event type retention, decision purged", a)
	}
}

// TestExpiryOutlivesARestore: a State restored from its changelog knows
// its quarantined leads and its stream time, and purges as the original.
func TestExpiryOutlivesARestore(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	e.QuarantineRetention = 30 * 24 * time.Hour
	st := NewState()
	stream(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", social), leadAt("e2", "L2", "2026-11-20T12:00:00Z", social))
	restored := NewState()
	for k := range st.leads {
		v, _ := st.Encode(LeadStateKey(k))
		if err := restored.Restore(LeadStateKey(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if !restored.streamTime.Equal(st.streamTime) {
		t.Errorf("stream time %v after the restore, want %v", restored.streamTime, st.streamTime)
	}
	x := e.ExpireAll(restored, time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC), expiryNow)
	if len(x.Others) != 1 || x.Others[0].Key != "L1" {
		t.Errorf("purged %v after the restore, want L1 only", x.Others)
	}
}

// TestNoRetentionKeepsEveryQuarantinedLead: without a retention nothing is
// purged, however late the stream time.
func TestNoRetentionKeepsEveryQuarantinedLead(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	recs := stream(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", social), tick(1, "2027-05-01T00:00:00Z"))
	if r := last(recs)[e.keyer.LeadKey("L1")]; r.Decision != DecisionQuarantined {
		t.Errorf("L1 is %s, want quarantined", r.Decision)
	}
}

// TestAnEventFarInTheFutureNeitherAppliesNorPurges: an event dated more
// than MaxEventSkew after the processing time is refused, and the stream
// time does not follow it: it cannot purge a partition's quarantined leads
// at once.
func TestAnEventFarInTheFutureNeitherAppliesNorPurges(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	e.QuarantineRetention = 30 * 24 * time.Hour
	st := NewState()
	now := time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)
	raw := leadAt("e1", "L1", "2026-11-10T12:00:00Z", social)
	ev, _ := schemas.Decode([]byte(raw), schemas.DefaultLimits())
	if _, err := e.Apply(ev, []byte(raw), st, now); err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{"9999-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2026-11-12T00:00:01Z"} {
		raw := tick(2, at)
		ev, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if x := e.Expire(st, ev.Occurred(), now); len(x.Others) != 0 {
			t.Errorf("an event dated %s purged %d leads", at, len(x.Others))
		}
		if _, err := e.Apply(ev, []byte(raw), st, now); err == nil || !strings.Contains(err.Error(), "occurred_at") {
			t.Errorf("an event dated %s: %v; want it refused, naming occurred_at", at, err)
		}
	}
	if ls := st.leads[e.keyer.LeadKey("L1")]; ls == nil || !ls.Quarantined {
		t.Error("the quarantined lead is gone")
	}
	// Within the skew an event is applied.
	raw = tick(3, "2026-11-11T23:00:00Z")
	ev, _ = schemas.Decode([]byte(raw), schemas.DefaultLimits())
	if _, err := e.Apply(ev, []byte(raw), st, now); err != nil {
		t.Errorf("an event 23 h ahead: %v; want it applied", err)
	}
}
