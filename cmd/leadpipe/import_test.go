package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// metaFixtures are stages/sources' Meta fixtures (testdata/meta/README.md
// names the documentation page each reproduces), as one JSON lines file.
func metaFixtures(t *testing.T) (payloads, sourcesFile string) {
	t.Helper()
	dir := filepath.Join("..", "..", "stages", "sources", "testdata", "meta")
	var all []byte
	for _, f := range []string{"lead_checked.json", "lead_unchecked.json", "lead_unmapped_key.json", "lead_pre_ticked.json", "lead_organic_instagram.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	payloads = filepath.Join(t.TempDir(), "leads.jsonl")
	if err := os.WriteFile(payloads, all, 0o644); err != nil {
		t.Fatal(err)
	}
	return payloads, filepath.Join(dir, "sources.yaml")
}

// The README's offline tour: `leadpipe import --source meta ... | leadpipe
// classify`. The ticked, mapped box is accepted; the rest are quarantined,
// and the summary says why each gave no consent. Importing the file again
// gives the same event ids, which classify takes as duplicates.
func TestImportMetaThenClassifyOffline(t *testing.T) {
	payloads, mapping := metaFixtures(t)
	ctx := context.Background()
	var events, summary bytes.Buffer
	if code := dispatch(ctx, []string{"import", "--source", "meta", "--sources", mapping, payloads}, nil, &events, &summary); code != 0 {
		t.Fatalf("import exited %d: %s", code, summary.String())
	}
	for _, want := range []string{
		"5 payloads from meta: 5 events written to stdout, 0 rejected",
		"meta form 45645645645: not in the sources file (1 leads)",
		"meta form 12312312312, checkbox optional_3: not in the sources file (1 answers)",
		"meta form 98798798798, checkbox optional_1: ticked by default by the form (1 answers)",
	} {
		if !strings.Contains(summary.String(), want) {
			t.Errorf("the summary does not say %q:\n%s", want, summary.String())
		}
	}
	twice := events.String() + events.String()
	var decisions, errs bytes.Buffer
	if code := dispatch(ctx, []string{"classify", "--dev-key"}, strings.NewReader(twice), &decisions, &errs); code != 0 {
		t.Fatalf("classify exited %d: %s", code, errs.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(decisions.String()), "\n") {
		var r struct {
			EventID  string `json:"event_id"`
			Decision string `json:"decision"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Decision != "duplicate" {
			got[r.EventID] = r.Decision
		}
	}
	want := map[string]string{
		"meta:55459717045641545": "accepted", "meta:1231231231": "quarantined", "meta:1231231232": "quarantined",
		"meta:1231231233": "quarantined", "meta:1231231234": "quarantined",
	}
	if len(got) != len(want) {
		t.Errorf("decisions %v, want %v (and the second import's all duplicates)", got, want)
	}
	for id, d := range want {
		if got[id] != d {
			t.Errorf("%s: %s, want %s", id, got[id], d)
		}
	}
}

// Hostile payloads: each is rejected with its line and field (never its
// value) or imported; none stops the import.
func TestImportRejectsWhatItCannotReadWithItsLineAndField(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "hostile.jsonl")
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	huge := `{"id":"9","created_time":"2015-02-28T08:49:14+0000","field_data":[` + strings.Repeat(`{"name":"x","values":["y"]},`, 100_000) + `{"name":"email","values":["huge@example.com"]}]}`
	lines := []string{
		`{"id":"1","created_time":"2015-02-28T08:49:14+0000","is_organic":"secret-value"}`,
		`{"id":{"nested":true},"created_time":"2015-02-28T08:49:14+0000"}`,
		`{"id":"3","created_time":"2015-02-28T08:49:14+0000","field_data":[{"name":"email","values":["not-an-address"]}]}`,
		deep,
		"{\"id\":\"5\",\"created_time\":\"2015-02-28T08:49:14+0000\",\"field_data\":[{\"name\":\"email\",\"values\":[\"bad\xff@example.com\"]}]}",
		`{"id":6,"created_time":1440120384,"form_id":12312312312}`,
		huge,
		`not json at all`,
	}
	if err := os.WriteFile(in, []byte("\xef\xbb\xbf"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"import", "--source", "meta", in}, nil, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (some rejected): %s", code, errb.String())
	}
	rejects, err := os.ReadFile(in + ".rejects")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"line 1: is_organic", "line 2: id", "line 3: contact.email", "line 4:", "line 5: not valid UTF-8", "line 8: not JSON"} {
		if !strings.Contains(string(rejects), want) {
			t.Errorf("the rejects do not say %q:\n%s", want, rejects)
		}
	}
	for _, secret := range []string{"secret-value", "not-an-address", "huge@example.com", "bad\xff"} {
		if strings.Contains(string(rejects)+errb.String(), secret) {
			t.Errorf("a value (%q) is in the rejects or the summary", secret)
		}
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n") + 1; n != 2 || !strings.Contains(out.String(), `"event_id":"meta:6"`) {
		t.Errorf("%d events written, want 2 (the numeric ids and the huge field_data):\n%.300s", n, out.String())
	}
	if !strings.Contains(errb.String(), "8 payloads from meta: 2 events written to stdout, 6 rejected") {
		t.Errorf("summary: %s", errb.String())
	}
}

func TestSourcesCheckListsWhatTheFileDoesNotMap(t *testing.T) {
	payloads, mapping := metaFixtures(t)
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"sources", "check", "--sources", mapping, "--source", "meta", payloads}, nil, &out, &errb)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (something unmapped): %s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"meta form 12312312312, checkbox optional_1: email_marketing",
		"meta form 98798798798, checkbox optional_1: email_marketing (ticked by default: never a consent)",
		"meta form 45645645645: not in the sources file (1 leads)",
		"meta form 12312312312, checkbox optional_3: not in the sources file (1 answers)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("sources check does not say %q:\n%s", want, out.String())
		}
	}
	bad := filepath.Join(t.TempDir(), "sources.yaml")
	os.WriteFile(bad, []byte("meta:\n  forms:\n    \"1\":\n      checkboxes:\n        optional_1:\n          purposes: [newsletter]\n"), 0o644)
	out.Reset()
	errb.Reset()
	if code := dispatch(context.Background(), []string{"sources", "check", "--sources", bad}, nil, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), bad+":6: meta.forms.1.checkboxes.optional_1.purposes") {
		t.Errorf("an invalid sources file: exit %d, %q; want 2 naming the file, line 6 and the field", code, errb.String())
	}
}

// --to kafka produces the events to leads.raw, keyed by lead id, where
// classify reads them (the real broker under make test).
func TestImportToKafkaProducesToLeadsRaw(t *testing.T) {
	payloads, mapping := metaFixtures(t)
	k := pipelinetest.Kafka(t)
	var out, errb bytes.Buffer
	args := []string{"import", "--source", "meta", "--sources", mapping, "--to", "kafka",
		"--brokers", strings.Join(k.Brokers, ","), "--topic-prefix", k.TopicPrefix, payloads}
	if code := dispatch(context.Background(), args, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := pipelinetest.ReadAll(t, &k, pipeline.TopicLeadsRaw)
	if len(got) != 5 {
		t.Fatalf("%d records on leads.raw, want 5", len(got))
	}
	for _, m := range got {
		var l struct {
			LeadID string `json:"lead_id"`
		}
		if err := json.Unmarshal(m.Value, &l); err != nil || string(m.Key) != l.LeadID || !strings.HasPrefix(l.LeadID, "meta:") {
			t.Errorf("record keyed %q with lead id %q (%v): want keyed by its meta: lead id", m.Key, l.LeadID, err)
		}
	}
}

// --source google-ads: web form leads without consent; a test lead left out.
func TestImportGoogleAdsLeavesTestLeadsOutAndSaysThereIsNoConsent(t *testing.T) {
	dir := filepath.Join("..", "..", "stages", "sources", "testdata", "google-ads")
	var all []byte
	for _, f := range []string{"lead.json", "test_lead.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"import", "--source", "google-ads", "-"}, bytes.NewReader(all), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), `"event_id":"google:TeSter-123"`) {
		t.Errorf("%d events: %s", n, out.String())
	}
	for _, want := range []string{"1 test leads left out", "carries no consent"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("the summary does not say %q: %s", want, errb.String())
		}
	}
}

// --source linkedin: a lead form response, then the member's deletion of
// it, through classify offline: the lead is erased. The documented
// example, a test lead, is left out.
func TestImportLinkedInThenClassifyErasesADeletedLead(t *testing.T) {
	dir := filepath.Join("..", "..", "stages", "sources", "testdata", "linkedin")
	var all []byte
	for _, f := range []string{"lead.json", "lead_test.json", "deleted.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	ctx := context.Background()
	var events, errb bytes.Buffer
	if code := dispatch(ctx, []string{"import", "--source", "linkedin", "--sources", filepath.Join(dir, "sources.yaml"), "-"}, bytes.NewReader(all), &events, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "3 payloads from linkedin: 2 events written to stdout, 0 rejected, 1 test leads left out") {
		t.Errorf("summary: %s", errb.String())
	}
	var out bytes.Buffer
	errb.Reset()
	if code := dispatch(ctx, []string{"classify", "--dev-key"}, &events, &out, &errb); code != 0 {
		t.Fatalf("classify exited %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"decision":"accepted"`) || !strings.Contains(lines[1], `"decision":"erased"`) {
		t.Errorf("classify: want the lead accepted, then erased:\n%s", out.String())
	}
}

// A CSV list imported twice gives the same events (ids from the badge
// column), and its rejects file names each bad row's line and field,
// never a value.
func TestImportCSVListTwiceMakesTheSameEventsAndRejectsByLineAndField(t *testing.T) {
	dir := filepath.Join("..", "..", "stages", "sources", "testdata", "csv")
	list := filepath.Join(t.TempDir(), "fair.csv")
	b, err := os.ReadFile(filepath.Join(dir, "fair.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(list, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var runs [2]string
	for i := range runs {
		var events, summary bytes.Buffer
		code := dispatch(context.Background(), []string{"import", "--source", "csv", "--sources", filepath.Join(dir, "sources.yaml"), list}, nil, &events, &summary)
		if code != 1 {
			t.Fatalf("import exited %d, want 1 (rows rejected): %s", code, summary.String())
		}
		runs[i] = events.String()
		for _, want := range []string{"6 rows from csv: 3 events written to stdout, 3 rejected", "csv list fair-2026-milan, column Newsletter: an answer it cannot read"} {
			if !strings.Contains(summary.String(), want) {
				t.Errorf("the summary does not say %q:\n%s", want, summary.String())
			}
		}
	}
	if runs[0] != runs[1] || strings.Count(runs[0], "\n") != 3 {
		t.Errorf("a re-import wrote other events:\n%s\n%s", runs[0], runs[1])
	}
	rejects, err := os.ReadFile(list + ".rejects")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"line 4: contact.email:", `line 6: column "Badge" (id_column): empty`, `line 7: column "Scanned At" (occurred_at)`} {
		if !strings.Contains(string(rejects), want) {
			t.Errorf("the rejects file does not say %q:\n%s", want, rejects)
		}
	}
	if strings.Contains(string(rejects), "@") || strings.Contains(string(rejects), "yesterday") {
		t.Errorf("the rejects file holds values:\n%s", rejects)
	}
}

// A Segment identify without a consent envelope gives no consent: the
// summary counts it (Segment itself would let it through).
func TestImportSegmentCountsMessagesWithoutConsentObject(t *testing.T) {
	dir := filepath.Join("..", "..", "stages", "sources", "testdata", "segment")
	var all []byte
	for _, f := range []string{"identify_no_consent.json", "identify_consent.json", "consent_updated.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	var events, summary bytes.Buffer
	code := dispatch(context.Background(), []string{"import", "--source", "segment", "--sources", filepath.Join(dir, "sources.yaml"), "-"}, bytes.NewReader(all), &events, &summary)
	if code != 0 {
		t.Fatalf("import exited %d: %s", code, summary.String())
	}
	for _, want := range []string{
		"3 payloads from segment: 4 events written to stdout, 0 rejected",
		"1 segment messages had no consent envelope: no consent from them (fail closed",
		"segment category Analytics: not in the sources file (2 answers)",
		// method cmp is not in the default policy's affirmative_methods
		"2 grants will be ignored by classify because their method is not an affirmative act in the policy: other 2",
	} {
		if !strings.Contains(summary.String(), want) {
			t.Errorf("the summary does not say %q:\n%s", want, summary.String())
		}
	}
	if !strings.Contains(events.String(), `"type":"consent"`) {
		t.Errorf("no consent event from the preference update:\n%s", events.String())
	}
}

// leadpipe classify says on stderr how many grants it ignored for their
// method, by the policy's name of it or "other".
func TestClassifySummarizesGrantsIgnoredForTheirMethod(t *testing.T) {
	in := `{"type":"lead","event_id":"m-1","occurred_at":"2026-03-02T09:00:00Z","lead_id":"lead-m","contact":{"email":"m@example.com"},"source":{"kind":"web_form"},"consents":[` +
		`{"purpose":"email_marketing","status":"granted","at":"2026-03-02T09:00:00Z","method":"pre_ticked","collection_point":"f","text_version":"v1"},` +
		`{"purpose":"profiling","status":"granted","at":"2026-03-02T09:00:00Z","method":"banner click","collection_point":"f","text_version":"v1"},` +
		`{"purpose":"sms_marketing","status":"granted","at":"2026-03-02T09:00:00Z","method":"preference_center","collection_point":"f","text_version":"v1"}]}` + "\n"
	var out, errs bytes.Buffer
	if code := dispatch(context.Background(), []string{"classify", "--dev-key", "--now", "2026-03-03T00:00:00Z"}, strings.NewReader(in), &out, &errs); code != 0 {
		t.Fatalf("classify exited %d: %s", code, errs.String())
	}
	want := "leadpipe classify: 2 grants ignored because their method is not an affirmative act in the policy: other 1, pre_ticked 1"
	if !strings.Contains(errs.String(), want) {
		t.Errorf("stderr:\n%s\nwant %q", errs.String(), want)
	}
	if strings.Contains(errs.String(), "banner click") {
		t.Errorf("stderr names a method the policy does not know (free text): %s", errs.String())
	}
}
