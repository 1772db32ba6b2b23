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

// A Google Ads lead form carries no consent field: the lead is a web form
// lead (not social), accepted with no consent for any purpose; its
// google_key is copied nowhere.
func TestAGoogleAdsLeadHasNoConsent(t *testing.T) {
	payload, err := os.ReadFile(filepath.Join("testdata", "google-ads", "lead.json"))
	if err != nil {
		t.Fatal(err)
	}
	lead, _, err := sources.FromGoogleAds(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(&lead)
	want := `{"type":"lead","event_id":"google:TeSter-123","occurred_at":"2024-09-26T12:30:00Z","lead_id":"google:TeSter-123",` +
		`"contact":{"email":"lina@example.com","phone":"+44 7700 900123","first_name":"Lina","last_name":"Park"},` +
		`"source":{"kind":"web_form","utm":{"source":"google","medium":"cpc","campaign":"12345"},"form_id":"40000000"}}`
	if string(raw) != want {
		t.Errorf("mapped to\n%s\nwant\n%s", raw, want)
	}
	if strings.Contains(string(raw), "secret") {
		t.Error("the google_key is in the event")
	}
	ev, err := schemas.DecodeLead(raw, schemas.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	res, err := classify.New(classify.DefaultPolicy(), pseudonym.Development()).Step(ev, raw, classify.NewState(), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Decision != classify.DecisionAccepted || res.Record.Purposes.EmailMarketing.Basis != "none" || res.Record.Purposes.Profiling.Basis != "none" {
		t.Errorf("decision %s, email %+v, profiling %+v: want accepted with no consent", res.Record.Decision, res.Record.Purposes.EmailMarketing, res.Record.Purposes.Profiling)
	}
	test, err := os.ReadFile(filepath.Join("testdata", "google-ads", "test_lead.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sources.FromGoogleAds(test); !errors.Is(err, sources.ErrTestLead) {
		t.Errorf("a lead marked is_test: %v, want ErrTestLead", err)
	}
}
