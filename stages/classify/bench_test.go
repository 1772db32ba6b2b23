package classify

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// benchEvents is a deterministic mix of lead (5 in 6) and consent events
// over 500 leads, shaped like the demo's: forms, social, search, imports.
func benchEvents() (raws [][]byte, types []string) {
	sources := []string{
		`"source":{"kind":"web_form","url":"https://shop.example.it/contact?utm_source=google&utm_medium=cpc&utm_campaign=winter","referrer":"https://www.google.it/"}`,
		`"source":{"kind":"social_lead_form","network":"LinkedIn","form_id":"li-form-7"}`,
		`"source":{"kind":"landing_page","url":"https://shop.example.it/offer?fbclid=IwAR0abc","referrer":"https://l.facebook.com/"}`,
		`"source":{"kind":"purchased_list","supplier":"ListCo","list_id":"L-2026-11","import_batch":"b-42"}`,
		`"source":{"kind":"web_form","url":"https://shop.example.it/newsletter","referrer":"https://blog.example.org/post/12"}`,
	}
	for i := 0; i < 1200; i++ {
		id := fmt.Sprintf("lead-%04d", i%500)
		if i%6 == 5 {
			raws = append(raws, []byte(fmt.Sprintf(`{"type":"consent","event_id":"c-%d","occurred_at":"2026-11-12T08:00:00Z","lead_id":"%s","purpose":"email_marketing","action":"grant","method":"double_opt_in","collection_point":"email:confirm","text_version":"privacy-v3","proof_ref":"doi-%d"}`, i, id, i)))
			types = append(types, schemas.TypeConsent)
			continue
		}
		raws = append(raws, []byte(fmt.Sprintf(`{"type":"lead","event_id":"e-%d","occurred_at":"2026-11-10T12:00:00Z","lead_id":"%s",`+
			`"contact":{"email":"person%d@example.it","phone":"+39 333 123 %04d","first_name":"Maria","last_name":"Bianchi","company":"Bianchi Srl","job_title":"Buyer","country":"IT","birth_date":"1985-03-%02d","is_business":true},`+
			`%s,"consents":[{"purpose":"email_marketing","status":"granted","at":"2026-11-10T11:59:00Z","method":"checkbox","collection_point":"form:contact-it","text_version":"privacy-v3","proof_ref":"proof-%d"},`+
			`{"purpose":"profiling","status":"denied","at":"2026-11-10T11:59:00Z"}],"request":{"type":"quote"}}`,
			i, id, i, i, 1+i%28, sources[i%len(sources)], i)))
		types = append(types, schemas.TypeLead)
	}
	return raws, types
}

// BenchmarkClassify is the stream stage's work per event: strict decode,
// classification, and the encoded record.
func BenchmarkClassify(b *testing.B) {
	raws, _ := benchEvents()
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	l := schemas.DefaultLimits()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var bytes int64
	for _, r := range raws {
		bytes += int64(len(r))
	}
	b.SetBytes(bytes / int64(len(raws)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := raws[i%len(raws)]
		ev, err := schemas.Decode(raw, l)
		if err != nil {
			b.Fatal(err)
		}
		var res Result
		switch ev := ev.(type) {
		case *schemas.Lead:
			res = e.Lead(ev, raw, st, now)
		case *schemas.Consent:
			res = e.Consent(ev, raw, st, now)
		}
		if _, err := json.Marshal(&res.Record); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyWithAudit adds the audit record the stream also writes.
func BenchmarkClassifyWithAudit(b *testing.B) {
	raws, _ := benchEvents()
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	l := schemas.DefaultLimits()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := raws[i%len(raws)]
		ev, err := schemas.Decode(raw, l)
		if err != nil {
			b.Fatal(err)
		}
		var res Result
		switch ev := ev.(type) {
		case *schemas.Lead:
			res = e.Lead(ev, raw, st, now)
		case *schemas.Consent:
			res = e.Consent(ev, raw, st, now)
		}
		if _, err := json.Marshal(&res.Record); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(&res.Audit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEncodeBare is the floor: encoding/json decodes each event
// into its struct, unchecked, and encodes it again.
func BenchmarkDecodeEncodeBare(b *testing.B) {
	raws, types := benchEvents()
	var bytes int64
	for _, r := range raws {
		bytes += int64(len(r))
	}
	b.SetBytes(bytes / int64(len(raws)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := raws[i%len(raws)]
		var v any
		if types[i%len(raws)] == schemas.TypeLead {
			v = new(schemas.Lead)
		} else {
			v = new(schemas.Consent)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStrict is the strict decoder alone.
func BenchmarkDecodeStrict(b *testing.B) {
	raws, _ := benchEvents()
	l := schemas.DefaultLimits()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := schemas.Decode(raws[i%len(raws)], l); err != nil {
			b.Fatal(err)
		}
	}
}
