package classify

import (
	"testing"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

func rotationKeys(t *testing.T) (k1, k2 *pseudonym.Keyer) {
	t.Helper()
	k1, err := pseudonym.New([]byte("the-first-secret-key-of-32-bytes"), "k1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err = pseudonym.New([]byte("the-second-secret-key-32-bytes!!"), "k2")
	if err != nil {
		t.Fatal(err)
	}
	return k1, k2
}

// TestAKeyRotationKeepsTheSuppressionListWorking: an objection recorded
// under the HMAC key k1 suppresses, after the rotation to k2 (k1 kept as
// previous), a new lead with the same address or number, and the lead
// that objected keeps its history under its new key. Without the previous
// key, the new lead would be accepted: the keys of k1 would match nothing.
func TestAKeyRotationKeepsTheSuppressionListWorking(t *testing.T) {
	for _, tc := range []struct {
		name, objector, lead string
	}{
		{"an email address", contact("anna@example.com"), contact("ANNA@example.com")},
		{"a phone number", phoneContact("+49 30 1234567", "DE"), phoneContact("030 1234567", "DE")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k1, k2 := rotationKeys(t)
			st := NewState()
			before := New(DefaultPolicy(), k1)
			apply(t, before, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", tc.objector, formKind))
			apply(t, before, st, consentAt("c1", "L1", "2026-11-11T08:00:00Z", "all", "object"))

			after := New(DefaultPolicy(), k2.Rotated(k1))
			r := apply(t, after, st, leadAt("e2", "L2", "2026-11-12T12:00:00Z", tc.lead, formKind)).Record
			if r.Decision != DecisionSuppressed {
				t.Errorf("the new lead is %s (%s) after the rotation, want suppressed by the objection made under k1", r.Decision, r.Rule)
			}
			if r.KeyVersion != "k2" || r.LeadKey != k2.LeadKey("L2") {
				t.Errorf("the new lead is keyed %s under %s, want its k2 key", r.LeadKey[:8], r.KeyVersion)
			}
			// The objector, seen again, goes on under its k2 key with its
			// history: still suppressed by its own objection.
			r = apply(t, after, st, leadAt("e3", "L1", "2026-11-13T12:00:00Z", tc.objector, formKind)).Record
			if r.Decision != DecisionSuppressed || r.LeadKey != k2.LeadKey("L1") {
				t.Errorf("the objector after the rotation is %s under %s, want suppressed under its k2 key", r.Decision, r.LeadKey[:8])
			}
			if _, ok := st.leads[k1.LeadKey("L1")]; ok {
				t.Error("the objector's state is still kept under its k1 key")
			}

			// Without k1 as previous, nothing of k1 matches.
			st2 := NewState()
			apply(t, before, st2, leadAt("e1", "L1", "2026-11-10T12:00:00Z", tc.objector, formKind))
			apply(t, before, st2, consentAt("c1", "L1", "2026-11-11T08:00:00Z", "all", "object"))
			_, k2alone := rotationKeys(t)
			r = apply(t, New(DefaultPolicy(), k2alone), st2, leadAt("e2", "L2", "2026-11-12T12:00:00Z", tc.lead, formKind)).Record
			if r.Decision == DecisionSuppressed {
				t.Error("without the previous key the new lead is suppressed too: the test proves nothing")
			}
		})
	}
}
