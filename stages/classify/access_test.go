package classify

import (
	"slices"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestAccessShowsWhatIsHeldAboutALead: the answer to an access request
// holds the lead's current decision with the rules evaluated, its consent
// history oldest first, the suppressions in force through another lead of
// the same address, its contact keys and events; an unknown lead key
// holds nothing, and ContactLeads finds the leads of an address.
func TestAccessShowsWhatIsHeldAboutALead(t *testing.T) {
	k := pseudonym.Development()
	e := New(DefaultPolicy(), k)
	st := NewState()
	grant := `{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z","method":"checkbox","collection_point":"form:x","text_version":"v3","proof_ref":"prf-1"}`
	apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", contact("anna@example.com"), formKind, consents(grant)))
	apply(t, e, st, consentAt("c1", "L1", "2026-11-09T12:00:00Z", "sms_marketing", "grant", `"method":"double_opt_in","text_version":"v3","proof_ref":"prf-2"`))
	apply(t, e, st, leadAt("e2", "L2", "2026-11-11T12:00:00Z", contact("anna+x@example.com"), formKind))
	apply(t, e, st, consentAt("c2", "L2", "2026-11-12T12:00:00Z", "all", "object"))

	a, ok := e.Access(st, k.LeadKey("L1"), time.Now())
	if !ok {
		t.Fatal("nothing held about L1")
	}
	if a.Current.Decision != DecisionSuppressed || a.Current.Rule != RuleSuppressedObjection || len(a.Current.Explain) == 0 {
		t.Errorf("current %s/%s with %d steps, want suppressed by the objection under the same address, explained", a.Current.Decision, a.Current.Rule, len(a.Current.Explain))
	}
	if len(a.Consents) != 2 || a.Consents[0].EventID != "e1" || a.Consents[1].EventID != "c1" {
		t.Errorf("consent history %+v, want e1's grant then c1's", a.Consents)
	}
	if len(a.Suppressions) != 1 || a.Suppressions[0].EventID != "c2" || a.Suppressions[0].Through == "lead" {
		t.Errorf("suppressions %+v, want c2's objection through a contact key", a.Suppressions)
	}
	if !slices.Equal(a.Events, []string{"e1", "c1"}) || len(a.ContactKeys) != 1 {
		t.Errorf("events %v, contact keys %v", a.Events, a.ContactKeys)
	}
	if ids := st.ContactLeads(k.EmailKey("anna@example.com")); !slices.Equal(ids, []string{"L1", "L2"}) && !slices.Equal(ids, []string{"L2", "L1"}) {
		t.Errorf("leads of the address %v, want L1 and L2", ids)
	}
	if _, ok := e.Access(st, k.LeadKey("L9"), time.Now()); ok {
		t.Error("something is held about a lead never seen")
	}
}
