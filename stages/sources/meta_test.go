package sources_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// classifyMeta maps a fixture of testdata/meta (see its README for the
// pages they reproduce) with testdata/meta/sources.yaml, checks that the
// event decodes strictly, and classifies it with the default policy.
func classifyMeta(t *testing.T, fixture string) (schemas.Lead, sources.Report, classify.Result) {
	t.Helper()
	cfg, err := sources.LoadConfig(filepath.Join("testdata", "meta", "sources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile(filepath.Join("testdata", "meta", fixture))
	if err != nil {
		t.Fatal(err)
	}
	lead, report, err := sources.FromMeta(payload, cfg)
	if err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	raw, err := json.Marshal(&lead)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := schemas.DecodeLead(raw, schemas.DefaultLimits())
	if err != nil {
		t.Fatalf("%s: the event the adapter made does not decode: %v", fixture, err)
	}
	eng := classify.New(classify.DefaultPolicy(), pseudonym.Development())
	res, err := eng.Step(ev, raw, classify.NewState(), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return lead, report, res
}

func TestAMetaLeadWithItsMappedBoxTickedIsAcceptedWithEmailConsentProvedByItsLeadID(t *testing.T) {
	lead, report, res := classifyMeta(t, "lead_checked.json")
	if lead.ID != "meta:55459717045641545" || lead.Lead != "meta:55459717045641545" {
		t.Errorf("event id %q, lead id %q: the 17-digit lead id must come through whole", lead.ID, lead.Lead)
	}
	want := schemas.Lead{
		Type: "lead", ID: "meta:55459717045641545", OccurredAt: time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC), Lead: "meta:55459717045641545",
		Contact: &schemas.Contact{Email: "joe@example.com", FirstName: "Joe", LastName: "Example"},
		Source: &schemas.Source{Kind: "social_lead_form", Network: "facebook", FormID: "12312312312",
			UTM: &schemas.UTM{Source: "facebook", Medium: "paid_social", Campaign: "spring-promo"}},
		Consents: []schemas.ConsentEntry{
			{Purpose: "email_marketing", Status: "granted", At: time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC), Method: "lead_form_checkbox",
				CollectionPoint: "meta:form:12312312312", TextVersion: "spring-promo-consent-v2", ProofRef: "meta:lead:55459717045641545"},
			{Purpose: "profiling", Status: "denied", At: time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC), Method: "lead_form_checkbox",
				CollectionPoint: "meta:form:12312312312", TextVersion: "spring-promo-consent-v2", ProofRef: "meta:lead:55459717045641545"},
		},
	}
	got, _ := json.Marshal(&lead)
	w, _ := json.Marshal(&want)
	if string(got) != string(w) {
		t.Errorf("mapped to\n%s\nwant\n%s", got, w)
	}
	if report.UnmappedForm || len(report.UnmappedCheckboxes)+len(report.PreTicked)+len(report.Unreadable) > 0 {
		t.Errorf("report %+v, want nothing unmapped", report)
	}
	if res.Record.Decision != classify.DecisionAccepted || res.Record.Purposes.EmailMarketing.Basis != "consent" ||
		!strings.Contains(res.Record.Purposes.EmailMarketing.Evidence, "meta:lead:55459717045641545") {
		t.Errorf("decision %s, email_marketing %+v: want accepted on a consent whose proof names the Meta lead id",
			res.Record.Decision, res.Record.Purposes.EmailMarketing)
	}
	if res.Record.Purposes.Profiling.Basis != "none" {
		t.Errorf("profiling %+v: the box was left unticked", res.Record.Purposes.Profiling)
	}
}

func TestAMetaLeadThatIsNotACountingConsentIsQuarantinedAndSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		report  func(sources.Report) bool
		audit   string // in the audit's ignored consents, "" for none
	}{
		{"lead_unchecked.json", func(r sources.Report) bool { return !r.UnmappedForm && len(r.UnmappedCheckboxes) == 0 }, ""},
		{"lead_unmapped_key.json", func(r sources.Report) bool { return slices.Equal(r.UnmappedCheckboxes, []string{"optional_3"}) }, ""},
		{"lead_pre_ticked.json", func(r sources.Report) bool { return slices.Equal(r.PreTicked, []string{"optional_1"}) }, "pre_ticked"},
		{"lead_organic_instagram.json", func(r sources.Report) bool { return r.UnmappedForm && r.Form == "45645645645" }, ""},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			_, report, res := classifyMeta(t, tc.fixture)
			if res.Record.Decision != classify.DecisionQuarantined || res.Record.Rule != classify.RuleSocialNoConsent {
				t.Errorf("decision %s by %s, want quarantined by %s", res.Record.Decision, res.Record.Rule, classify.RuleSocialNoConsent)
			}
			if !tc.report(report) {
				t.Errorf("report %+v", report)
			}
			var why []string
			for _, ic := range res.Audit.IgnoredConsents {
				why = append(why, ic.Why)
			}
			if tc.audit != "" && !strings.Contains(strings.Join(why, "; "), tc.audit) {
				t.Errorf("the audit's ignored consents %q do not name %s", why, tc.audit)
			}
		})
	}
}

func TestAMetaLeadOfInstagramWithANumericIDAndACSVPhone(t *testing.T) {
	lead, _, _ := classifyMeta(t, "lead_organic_instagram.json")
	if lead.ID != "meta:1231231234" || lead.Source.Network != "instagram" || lead.Contact.Phone != "+393335550101" || lead.Source.UTM.Medium != "" {
		t.Errorf("id %q, network %q, phone %q, medium %q: want meta:1231231234, instagram, +393335550101 and no paid medium (organic)",
			lead.ID, lead.Source.Network, lead.Contact.Phone, lead.Source.UTM.Medium)
	}
}

// A payload that cannot be read is an error naming its field, never the value.
func TestABadMetaPayloadIsAnErrorNamingItsField(t *testing.T) {
	cfg := &sources.Config{}
	for payload, field := range map[string]string{
		`{"id":"1","created_time":"yesterday"}`:                                                              "created_time",
		`{"id":1.5e20,"created_time":"2015-02-28T08:49:14+0000"}`:                                            "id",
		`{"created_time":"2015-02-28T08:49:14+0000"}`:                                                        "id: missing",
		`{"id":"1","created_time":"2015-02-28T08:49:14+0000","is_organic":"yes-secret@example.com"}`:         "is_organic",
		`{"id":"1","created_time":"2015-02-28T08:49:14+0000","field_data":[{"name":"email","values":[42]}]}`: "field_data.values",
		`[1,2`: "not JSON",
	} {
		_, _, err := sources.FromMeta([]byte(payload), cfg)
		if err == nil || !strings.Contains(err.Error(), field) || strings.Contains(err.Error(), "secret@") {
			t.Errorf("%s: error %v, want one naming %s and no value", payload, err, field)
		}
	}
}

// sources.yaml is checked when it is read: an error names the line and the field.
func TestASourcesFileWithAMistakeIsRefusedNamingItsLineAndField(t *testing.T) {
	for yaml, want := range map[string]string{
		"meta:\n  forms:\n    \"1\":\n      checkboxes:\n        optional_1:\n          purposes: [newsletter]\n":    `6: meta.forms.1.checkboxes.optional_1.purposes: "newsletter" is not a purpose`,
		"meta:\n  forms:\n    \"1\":\n      checkbox:\n        optional_1:\n          purposes: [email_marketing]\n": `4: `,
		"meta:\n  forms:\n    \"1\":\n      text_version: v1\n":                                                      `3: meta.forms.1.checkboxes: a form needs at least one checkbox`,
		"meta:\n  forms:\n    \"1\":\n      checkboxes:\n        optional_1:\n          purposes: []\n":              `6: meta.forms.1.checkboxes.optional_1.purposes: a checkbox grants at least one purpose`,
	} {
		_, err := sources.ParseConfig([]byte(yaml))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: error %v, want it to start with %q", yaml, err, want)
		}
	}
	if c, err := sources.ParseConfig(nil); err != nil || len(c.Meta.Forms) != 0 {
		t.Errorf("an empty file: %v, %+v; want an empty mapping", err, c)
	}
}
