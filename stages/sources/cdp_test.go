package sources_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// cdp maps a fixture of testdata/segment or testdata/rudderstack (see
// their READMEs for the pages they reproduce) with
// testdata/segment/sources.yaml, and checks that each event decodes
// strictly.
func cdp(t *testing.T, source, fixture string) ([]schemas.Event, sources.Report, error) {
	t.Helper()
	cfg, err := sources.LoadConfig(filepath.Join("testdata", "segment", "sources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile(filepath.Join("testdata", source, fixture))
	if err != nil {
		t.Fatal(err)
	}
	from := sources.FromSegment
	if source == "rudderstack" {
		from = sources.FromRudderStack
	}
	evs, report, err := from(payload, cfg)
	for _, ev := range evs {
		raw, merr := json.Marshal(ev)
		if merr != nil {
			t.Fatal(merr)
		}
		if _, derr := schemas.Decode(raw, schemas.DefaultLimits()); derr != nil {
			t.Fatalf("%s: the event the adapter made does not decode: %v", fixture, derr)
		}
	}
	return evs, report, err
}

func TestSegmentIdentifyWithoutAConsentObjectGivesNoConsentAndIsReported(t *testing.T) {
	evs, report, err := cdp(t, "segment", "identify_no_consent.json")
	if err != nil {
		t.Fatal(err)
	}
	want := &schemas.Lead{Type: "lead", ID: "segment:022bb90c-bbac-11e4-8dfc-aa07a5b093db",
		OccurredAt: time.Date(2015, 2, 23, 22, 28, 55, 111e6, time.UTC), Lead: "segment:97980cfea0067",
		Contact: &schemas.Contact{Email: "peter@example.com", FirstName: "Peter", LastName: "Gibbons"}, // country "USA" is not two letters: left out
		Source:  &schemas.Source{Kind: "web_form"}}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], want) {
		t.Errorf("got %+v\nwant %+v", evs, want)
	}
	if !report.NoConsentObject {
		t.Error("a message without context.consent is not reported: Segment would let it through")
	}
}

func TestSegmentIdentifyMapsItsMappedCategoriesAndReportsTheOthers(t *testing.T) {
	evs, report, err := cdp(t, "segment", "identify_consent.json")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2015, 2, 23, 22, 28, 55, 111e6, time.UTC)
	entry := func(purpose, status, category string) schemas.ConsentEntry {
		return schemas.ConsentEntry{Purpose: purpose, Status: status, At: at, Method: sources.MethodCMP, CollectionPoint: "onetrust-banner",
			TextVersion: "segment:category:" + category, ProofRef: "segment:message:022bb90c-bbac-11e4-8dfc-aa07a5b093db"}
	}
	want := []schemas.ConsentEntry{entry("profiling", "granted", "Advertising"), entry("third_party_sharing", "denied", "DataSharing")}
	if got := evs[0].(*schemas.Lead).Consents; !reflect.DeepEqual(got, want) {
		t.Errorf("consents %+v\nwant %+v", got, want)
	}
	if report.NoConsentObject || !reflect.DeepEqual(report.UnmappedCheckboxes, []string{"Analytics", "Functional"}) {
		t.Errorf("report %+v, want the unmapped categories Analytics and Functional", report)
	}
}

func TestSegmentConsentPreferenceUpdatedBecomesAConsentEventPerMappedPurpose(t *testing.T) {
	evs, _, err := cdp(t, "segment", "consent_updated.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2 (Advertising → profiling, DataSharing → third_party_sharing)", len(evs))
	}
	grant, withdraw := evs[0].(*schemas.Consent), evs[1].(*schemas.Consent)
	if grant.Purpose != "profiling" || grant.Action != "grant" || withdraw.Purpose != "third_party_sharing" || withdraw.Action != "withdraw" {
		t.Errorf("got %+v and %+v", grant, withdraw)
	}
	if grant.Lead != "segment:u123" || grant.ID != "segment:consent-updated-u123-1:profiling" {
		t.Errorf("lead %q, event id %q", grant.Lead, grant.ID)
	}
}

func TestRudderStackAllowedAndDeniedIdsGrantAndDenyTheirMappedPurposes(t *testing.T) {
	evs, report, err := cdp(t, "rudderstack", "identify_consent.json")
	if err != nil {
		t.Fatal(err)
	}
	l := evs[0].(*schemas.Lead)
	if l.Lead != "rudderstack:4hs323dsh421ddb" || l.ID != "rudderstack:39342c15-e6aa-4dd6-8882-5a04befd796a" || l.Contact == nil || l.Contact.Email != "alex@example.com.com" {
		t.Errorf("lead %+v", l)
	}
	got := map[string]string{}
	for _, c := range l.Consents {
		got[c.Purpose] = c.Status
	}
	if !reflect.DeepEqual(got, map[string]string{"email_marketing": "granted", "profiling": "denied"}) {
		t.Errorf("consents %v", got)
	}
	if !reflect.DeepEqual(report.UnmappedCheckboxes, []string{"<category_id_2>", "<category_id_4>"}) {
		t.Errorf("unmapped %v", report.UnmappedCheckboxes)
	}
	if !l.OccurredAt.Equal(time.Date(2024, 11, 30, 14, 31, 15, 32e6, time.UTC)) {
		t.Errorf("occurred_at %v: want originalTimestamp, the message having no timestamp", l.OccurredAt)
	}
}

func TestRudderStackWithoutConsentManagementGivesNoConsent(t *testing.T) {
	evs, report, err := cdp(t, "rudderstack", "identify_no_consent.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs[0].(*schemas.Lead).Consents) != 0 || !report.NoConsentObject {
		t.Errorf("consents %+v, report %+v: want none, reported", evs[0].(*schemas.Lead).Consents, report)
	}
}

func TestRudderStackTrackLeadpipeDoesNotMapIsLeftOut(t *testing.T) {
	if _, _, err := cdp(t, "rudderstack", "track_consent.json"); !errors.Is(err, sources.ErrIgnored) {
		t.Errorf("err %v, want ErrIgnored", err)
	}
}

func TestCDPMessagesThatCannotBeReadNameTheFieldNeverTheValue(t *testing.T) {
	cfg := &sources.Config{}
	for _, c := range []struct{ name, payload, want string }{
		{"an identify without a userId", `{"type":"identify","messageId":"m1","timestamp":"2023-01-01T00:00:00Z","anonymousId":"a1"}`, "userId: missing"},
		{"no messageId", `{"type":"identify","userId":"u1","timestamp":"2023-01-01T00:00:00Z"}`, "messageId: missing"},
		{"a timestamp not ISO 8601", `{"type":"identify","userId":"u1","messageId":"m1","timestamp":"01/01/2023 secret"}`, "timestamp: not an ISO 8601 time"},
		{"traits.email a number", `{"type":"identify","userId":"u1","messageId":"m1","timestamp":"2023-01-01T00:00:00Z","traits":{"email":12345}}`, "traits.email: a number where a string belongs"},
		{"a page without any id", `{"type":"page","messageId":"m1","timestamp":"2023-01-01T00:00:00Z"}`, "userId, anonymousId: both missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := sources.FromSegment([]byte(c.payload), cfg)
			if err == nil || err.Error()[:len(c.want)] != c.want {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
}
