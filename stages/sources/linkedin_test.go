package sources_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// linkedIn maps the fixtures of testdata/linkedin in order through one
// classify State, and returns each event's record.
func linkedIn(t *testing.T, fixtures ...string) ([]schemas.Event, []classify.Record) {
	t.Helper()
	cfg, err := sources.LoadConfig(filepath.Join("testdata", "linkedin", "sources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	eng := classify.New(classify.DefaultPolicy(), pseudonym.Development())
	st := classify.NewState()
	var evs []schemas.Event
	var recs []classify.Record
	for _, f := range fixtures {
		payload, err := os.ReadFile(filepath.Join("testdata", "linkedin", f))
		if err != nil {
			t.Fatal(err)
		}
		ev, _, err := sources.FromLinkedIn(payload, cfg)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		raw, _ := json.Marshal(ev)
		decoded, err := schemas.Decode(raw, schemas.DefaultLimits())
		if err != nil {
			t.Fatalf("%s: the event does not decode: %v\n%s", f, err, raw)
		}
		res, err := eng.Step(decoded, raw, st, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		evs, recs = append(evs, ev), append(recs, res.Record)
	}
	return evs, recs
}

func TestALinkedInLeadIsJoinedWithItsFormAndItsAcceptedConsentCounts(t *testing.T) {
	evs, recs := linkedIn(t, "lead.json")
	l := evs[0].(*schemas.Lead)
	if l.ID != "linkedin:249592fc-d272-44ba-a7db-c2bdce579507-6" || l.OccurredAt != time.UnixMilli(1689894599288).UTC() ||
		l.Contact == nil || l.Contact.Email != "kevjohonson@email.com" || !l.Contact.IsBusiness ||
		l.Source.Kind != "social_lead_form" || l.Source.Network != "linkedin" || l.Source.FormID != "7234246" ||
		l.Source.UTM.Campaign != "198356826" || l.Source.UTM.Medium != "paid_social" {
		b, _ := json.Marshal(l)
		t.Errorf("mapped to %s", b)
	}
	if len(l.Consents) != 1 || l.Consents[0].TextVersion != "linkedin:form:7234246,1:consent:0" || l.Consents[0].ProofRef != "linkedin:lead:249592fc-d272-44ba-a7db-c2bdce579507-6" {
		t.Errorf("consents %+v", l.Consents)
	}
	if r := recs[0]; r.Decision != classify.DecisionAccepted || r.Purposes.EmailMarketing.Basis != "consent" {
		t.Errorf("decision %s, email %+v: want accepted on the accepted consent", r.Decision, r.Purposes.EmailMarketing)
	}
}

func TestALinkedInLeadWithItsConsentDeclinedIsQuarantined(t *testing.T) {
	_, recs := linkedIn(t, "lead_declined.json")
	if r := recs[0]; r.Decision != classify.DecisionQuarantined || r.Rule != classify.RuleSocialNoConsent {
		t.Errorf("decision %s by %s, want quarantined by social_no_consent", r.Decision, r.Rule)
	}
}

// A member who deletes their lead on LinkedIn sends leadAction DELETED:
// leadpipe erases the lead.
func TestALinkedInDeletionErasesTheLead(t *testing.T) {
	evs, recs := linkedIn(t, "lead.json", "deleted.json")
	c := evs[1].(*schemas.Consent)
	if c.Action != "erase" || c.Lead != "linkedin:249592fc-d272-44ba-a7db-c2bdce579507-6" || c.Purpose != schemas.PurposeAll {
		t.Errorf("the deletion became %+v, want an erasure of the lead", c)
	}
	if recs[1].Decision != classify.DecisionErased {
		t.Errorf("after the deletion: %s, want erased", recs[1].Decision)
	}
}

func TestALinkedInTestLeadOrACreatedNotificationIsNoLead(t *testing.T) {
	cfg := &sources.Config{}
	b, _ := os.ReadFile(filepath.Join("testdata", "linkedin", "lead_test.json"))
	if _, _, err := sources.FromLinkedIn(b, cfg); !errors.Is(err, sources.ErrTestLead) {
		t.Errorf("the documented example (a test lead): %v, want ErrTestLead", err)
	}
	created := `{"type":"LEAD_ACTION","leadGenFormResponse":"urn:li:leadGenFormResponse:x-1","leadAction":"CREATED","occurredAt":1}`
	if _, _, err := sources.FromLinkedIn([]byte(created), cfg); err == nil || !strings.Contains(err.Error(), "fetch the response") {
		t.Errorf("a CREATED notification: %v, want an error saying to fetch the response", err)
	}
	// Without the form in sources.yaml: no contact, no consent, reported.
	b, _ = os.ReadFile(filepath.Join("testdata", "linkedin", "lead.json"))
	ev, r, err := sources.FromLinkedIn(b, cfg)
	if err != nil || !r.UnmappedForm || ev.(*schemas.Lead).Consents != nil {
		t.Errorf("an unmapped form: %v, %+v", err, r)
	}
}
