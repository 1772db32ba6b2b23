package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The event schemas of issue 3, written out independently of the generator:
// every key a well-formed event may carry, with its type.
type spec struct {
	typ      string // string, timestamp, date, bool, number, object, array
	required bool
	enum     []string
	fields   map[string]spec // object members, or array element members
}

var (
	str     = spec{typ: "string"}
	tstamp  = spec{typ: "timestamp"}
	boolean = spec{typ: "bool"}
	number  = spec{typ: "number"}

	testPurposes = []string{"email_marketing", "sms_marketing", "phone_marketing", "profiling", "third_party_sharing", "sales_followup"}

	leadSchema = map[string]spec{
		"type":        {typ: "string", required: true, enum: []string{"lead"}},
		"event_id":    {typ: "string", required: true},
		"occurred_at": {typ: "timestamp", required: true},
		"lead_id":     {typ: "string", required: true},
		"contact": {typ: "object", fields: map[string]spec{
			"email": str, "phone": str, "first_name": str, "last_name": str, "company": str, "job_title": str,
			"country": str, "birth_date": {typ: "date"}, "is_business": boolean,
		}},
		"source": {typ: "object", fields: map[string]spec{
			"kind": str, "network": str, "url": str, "referrer": str,
			"utm":     {typ: "object", fields: map[string]spec{"source": str, "medium": str, "campaign": str, "term": str, "content": str}},
			"form_id": str, "list_id": str, "supplier": str, "partner_id": str, "event_name": str, "import_batch": str,
		}},
		"consents": {typ: "array", fields: map[string]spec{
			"purpose": {typ: "string", enum: testPurposes},
			"status":  {typ: "string", enum: []string{"granted", "denied"}},
			"at":      tstamp, "method": str, "collection_point": str, "text_version": str, "proof_ref": str,
		}},
		"relationship":     {typ: "object", fields: map[string]spec{"customer": boolean, "email_from_purchase": boolean, "last_purchase_at": tstamp}},
		"request":          {typ: "object", fields: map[string]spec{"type": {typ: "string", enum: []string{"quote", "demo", "contact", "download", "purchase", "support", "newsletter"}}}},
		"parental_consent": {typ: "object", fields: map[string]spec{"at": tstamp, "method": str, "proof_ref": str}},
	}
	consentSchema = map[string]spec{
		"type":             {typ: "string", required: true, enum: []string{"consent"}},
		"event_id":         {typ: "string", required: true},
		"occurred_at":      {typ: "timestamp", required: true},
		"lead_id":          {typ: "string", required: true},
		"purpose":          {typ: "string", required: true, enum: append(slices.Clone(testPurposes), "all")},
		"action":           {typ: "string", required: true, enum: []string{"grant", "withdraw", "object", "erase"}},
		"method":           str,
		"collection_point": str,
		"text_version":     str,
		"proof_ref":        str,
	}
	behaviorSchema = map[string]spec{
		"type":         {typ: "string", required: true, enum: []string{"behavior"}},
		"event_id":     {typ: "string", required: true},
		"occurred_at":  {typ: "timestamp", required: true},
		"lead_id":      str,
		"anonymous_id": str,
		"action":       {typ: "string", required: true, enum: []string{"page_view", "product_view", "add_to_cart", "purchase", "email_open", "email_click", "search"}},
		"url":          str,
		"product":      {typ: "object", fields: map[string]spec{"id": str, "category": str, "price": number}},
		"value":        number,
		"currency":     str,
		"consent": {typ: "object", fields: map[string]spec{
			"tcf": str,
			"gcm": {typ: "object", fields: map[string]spec{
				"ad_storage": gcmState, "analytics_storage": gcmState, "ad_user_data": gcmState, "ad_personalization": gcmState}},
			"gcs":        {typ: "string", enum: []string{"G100", "G110", "G101", "G111"}},
			"categories": {typ: "object", fields: map[string]spec{"necessary": boolean, "analytics": boolean, "marketing": boolean}},
		}},
	}
	gcmState = spec{typ: "string", enum: []string{"granted", "denied"}}
	schemas  = map[string]map[string]spec{KindLead: leadSchema, KindConsent: consentSchema, KindBehavior: behaviorSchema}
)

// checkEvent decodes value as strictly as issue 3 asks and returns the
// decoded object, or an error naming the field.
func checkEvent(kind string, value []byte) (map[string]any, error) {
	if len(value) > 64<<10 {
		return nil, errors.New("message over 64 KiB")
	}
	if !utf8.Valid(value) {
		return nil, errors.New("invalid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if d.More() {
		return nil, errors.New("trailing data")
	}
	if err := checkObject("", m, schemas[kind]); err != nil {
		return nil, err
	}
	if kind == KindBehavior {
		_, lead := m["lead_id"]
		_, anon := m["anonymous_id"]
		if lead == anon {
			return nil, errors.New("behavior needs exactly one of lead_id and anonymous_id")
		}
	}
	return m, nil
}

func checkObject(path string, m map[string]any, fields map[string]spec) error {
	for k, v := range m {
		s, ok := fields[k]
		if !ok {
			return fmt.Errorf("%s%s: unknown field", path, k)
		}
		if err := checkValue(path+k, v, s); err != nil {
			return err
		}
	}
	for k, s := range fields {
		if _, ok := m[k]; s.required && !ok {
			return fmt.Errorf("%s%s: missing", path, k)
		}
	}
	return nil
}

func checkValue(path string, v any, s spec) error {
	switch s.typ {
	case "string", "timestamp", "date":
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string, got %T", path, v)
		}
		if len(x) == 0 || len(x) > 2048 {
			return fmt.Errorf("%s: %d bytes", path, len(x))
		}
		if s.enum != nil && !slices.Contains(s.enum, x) {
			return fmt.Errorf("%s: unknown value %q", path, x)
		}
		if s.typ == "timestamp" {
			t, err := time.Parse(time.RFC3339, x)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if t.After(Latest) {
				return fmt.Errorf("%s: %s is after %s", path, x, Latest)
			}
		}
		if _, err := time.Parse(time.DateOnly, x); s.typ == "date" && err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a bool, got %T", path, v)
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			return fmt.Errorf("%s: want a number, got %T", path, v)
		}
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %T", path, v)
		}
		return checkObject(path+".", o, s.fields)
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %T", path, v)
		}
		if len(a) == 0 || len(a) > 32 {
			return fmt.Errorf("%s: %d entries", path, len(a))
		}
		for i, e := range a {
			o, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("%s[%d]: want an object, got %T", path, i, e)
			}
			if err := checkObject(fmt.Sprintf("%s[%d].", path, i), o, s.fields); err != nil {
				return err
			}
		}
	}
	return nil
}

// channelOf decides a lead's origin channel by the rules of issue 3, written
// out again here so that the test checks what the generator means to make.
func channelOf(src map[string]any, ownHost string) string {
	s := func(k string) string { x, _ := src[k].(string); return x }
	switch s("kind") {
	case "social", "social_lead_form":
		return "social"
	case "import", "purchased_list", "partner", "event", "referral", "email":
		return s("kind")
	case "phone", "store", "offline":
		return "offline"
	}
	u, _ := url.Parse(s("url"))
	var q url.Values
	if u != nil {
		q = u.Query()
	}
	for _, p := range []string{"fbclid", "li_fat_id", "ttclid", "twclid", "igshid"} {
		if q.Has(p) {
			return "social"
		}
	}
	for _, p := range []string{"gclid", "gbraid", "wbraid", "msclkid", "dclid"} {
		if q.Has(p) {
			return "search"
		}
	}
	utmSource, utmMedium := q.Get("utm_source"), q.Get("utm_medium")
	if utm, ok := src["utm"].(map[string]any); ok {
		utmSource, _ = utm["source"].(string)
		utmMedium, _ = utm["medium"].(string)
	}
	socialSources := []string{"fb", "facebook", "ig", "instagram", "linkedin", "lnkd", "twitter", "t.co", "x", "tiktok", "yt", "youtube"}
	socialMedia := []string{"social", "social-network", "social-media", "sm", "paid_social", "paidsocial"}
	searchSources := []string{"google", "bing", "duckduckgo", "yahoo", "ecosia"}
	switch {
	case slices.Contains(socialSources, utmSource) || slices.Contains(socialMedia, utmMedium):
		return "social"
	case slices.Contains([]string{"email", "e-mail", "newsletter"}, utmMedium):
		return "email"
	case utmMedium == "affiliate" || utmMedium == "partner":
		return "partner"
	case utmMedium == "organic" && slices.Contains(searchSources, utmSource):
		return "search"
	case slices.Contains([]string{"cpc", "ppc", "retargeting", "display"}, utmMedium) || strings.HasPrefix(utmMedium, "paid"):
		if slices.Contains(searchSources, utmSource) {
			return "search"
		}
		return "unknown"
	case utmMedium == "referral":
		return "referral"
	}
	ref := s("referrer")
	if ref == "" {
		return "direct"
	}
	if strings.HasPrefix(ref, "android-app://com.linkedin.android") {
		return "social"
	}
	ru, err := url.Parse(ref)
	if err != nil {
		return "unknown"
	}
	host := strings.TrimPrefix(ru.Hostname(), "www.")
	switch {
	case slices.Contains([]string{"linkedin.com", "lnkd.in", "facebook.com", "l.facebook.com", "lm.facebook.com", "m.facebook.com",
		"fb.com", "instagram.com", "l.instagram.com", "t.co", "twitter.com", "x.com", "tiktok.com", "youtube.com", "reddit.com",
		"xing.com", "threads.net", "web.whatsapp.com"}, host) || strings.Contains(host, "pinterest."):
		return "social"
	case strings.HasPrefix(host, "google.") || host == "bing.com" || host == "duckduckgo.com" || host == "ecosia.org" || strings.Contains(host, "yahoo."):
		return "search"
	case host == ownHost:
		return "direct"
	}
	return "referral"
}

func corpus(t testing.TB, cfg Config) []Event {
	t.Helper()
	evs, err := All(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func mixConfig() Config {
	cfg := DefaultConfig()
	cfg.Seed = 7
	cfg.Leads = 3000
	return cfg
}

func TestTheSameSeedGivesTheSameBytesAndAnotherSeedDoesNot(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Leads = 300
	a, b := corpus(t, cfg), corpus(t, cfg)
	if len(a) != len(b) {
		t.Fatalf("two runs gave %d and %d events", len(a), len(b))
	}
	for i := range a {
		if a[i].Topic != b[i].Topic || a[i].Kind != b[i].Kind || !bytes.Equal(a[i].Key, b[i].Key) ||
			!bytes.Equal(a[i].Value, b[i].Value) || !a[i].Time.Equal(b[i].Time) || a[i].Malformed != b[i].Malformed {
			t.Fatalf("event %d differs between two runs:\n%s\n%s", i, a[i].Value, b[i].Value)
		}
	}
	cfg.Seed++
	c := corpus(t, cfg)
	same := 0
	for i := range min(len(a), len(c)) {
		if bytes.Equal(a[i].Value[20:], c[i].Value[20:]) {
			same++
		}
	}
	if same > len(a)/100 {
		t.Errorf("seeds %d and %d share %d of %d events", cfg.Seed-1, cfg.Seed, same, len(a))
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // a fragment of the error; empty for valid
	}{
		{"the default config is valid", func(*Config) {}, ""},
		{"zero leads are rejected", func(c *Config) { c.Leads = 0 }, "leads must be between"},
		{"a negative behavior mean is rejected", func(c *Config) { c.BehaviorPerLead = -1 }, "behavior per lead"},
		{"a malformed rate over one is rejected", func(c *Config) { c.MalformedRate = 1.5 }, "malformed rate"},
		{"an anonymous rate below zero is rejected", func(c *Config) { c.AnonymousRate = -0.1 }, "anonymous rate"},
		{"a zero start is rejected", func(c *Config) { c.Start = time.Time{} }, "start must be set"},
		{"a span under an hour is rejected", func(c *Config) { c.Span = time.Minute }, "span must be at least"},
		{"events after the latest time are rejected", func(c *Config) { c.Start = Latest.Add(-time.Hour) }, "must not be after"},
		{"a URL as the domain is rejected", func(c *Config) { c.Domain = "https://shop.example.com/" }, "domain must be"},
		{"zero rates and no behavior are valid", func(c *Config) { c.MalformedRate, c.AnonymousRate, c.BehaviorPerLead = 0, 0, 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if tt.want != "" {
				if _, err := All(cfg); err == nil {
					t.Fatal("All accepted an invalid config")
				}
			}
		})
	}
}

func TestEveryWellFormedEventFollowsTheSchemaAndEveryMalformedOneBreaksIt(t *testing.T) {
	cfg := mixConfig()
	evs := corpus(t, cfg)
	topics := map[string]string{KindLead: TopicLeads, KindConsent: TopicConsents, KindBehavior: TopicBehavior}
	ids := make(map[string]bool, len(evs))
	for i, e := range evs {
		if topics[e.Kind] != e.Topic {
			t.Fatalf("event %d: kind %q on topic %q", i, e.Kind, e.Topic)
		}
		m, err := checkEvent(e.Kind, e.Value)
		if e.Malformed {
			if err == nil {
				t.Errorf("event %d is marked malformed but passes the schema: %s", i, e.Value)
			}
			continue
		}
		if err != nil {
			t.Fatalf("event %d: %v: %s", i, err, e.Value)
		}
		if !bytes.HasPrefix(e.Value, []byte(`{"type":"`+e.Kind+`"`)) {
			t.Errorf("event %d does not start with its type: %.40s", i, e.Value)
		}
		id := m["event_id"].(string)
		if ids[id] {
			t.Errorf("event id %s appears twice", id)
		}
		ids[id] = true
		key, _ := m["lead_id"].(string)
		if key == "" {
			key, _ = m["anonymous_id"].(string)
		}
		if string(e.Key) != key {
			t.Errorf("event %d has key %q, want %q", i, e.Key, key)
		}
		at, _ := time.Parse(time.RFC3339, m["occurred_at"].(string))
		if !at.Equal(e.Time) {
			t.Errorf("event %d: occurred_at %s, Time %s", i, at, e.Time)
		}
	}
}

func TestEventsComeInTimeOrderWithConsentsAfterTheirLead(t *testing.T) {
	cfg := mixConfig()
	cfg.MalformedRate = 0 // a malformed lead event may lose its key
	evs := corpus(t, cfg)
	end := cfg.Start.Add(cfg.Span)
	firstLead := map[string]time.Time{}
	behaviorBefore := 0
	for i, e := range evs {
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("event %d at %s comes after event %d at %s", i, e.Time, i-1, evs[i-1].Time)
		}
		if e.Time.Before(cfg.Start) || !e.Time.Before(end) {
			t.Fatalf("event %d at %s is outside [%s, %s)", i, e.Time, cfg.Start, end)
		}
		key := string(e.Key)
		switch e.Kind {
		case KindLead:
			if _, ok := firstLead[key]; !ok {
				firstLead[key] = e.Time
			}
		case KindConsent:
			if len(key) > 0 && leadNumber(key) <= cfg.Leads {
				if _, ok := firstLead[key]; !ok {
					t.Errorf("consent event %d for %s comes before the lead's first lead event", i, key)
				}
			}
		case KindBehavior:
			if strings.HasPrefix(key, "lead-") {
				if _, ok := firstLead[key]; !ok {
					behaviorBefore++
				}
			}
		}
	}
	if len(firstLead) < cfg.Leads*97/100 {
		t.Errorf("only %d of %d leads have a lead event", len(firstLead), cfg.Leads)
	}
	if behaviorBefore == 0 {
		t.Error("no behavior comes before its lead's first lead event")
	}
}

func leadNumber(id string) int {
	var n int
	fmt.Sscanf(id, "lead-%d", &n)
	return n
}

// mix counts what a corpus holds.
type mix struct {
	leads, social, consenting, malformed, events, behavior, anonymous int
	channels                                                          map[string]int
	sizes, behaviorSizes                                              []int
	features                                                          map[string]int
}

func measure(t *testing.T, cfg Config, evs []Event) mix {
	x := mix{channels: map[string]int{}, features: map[string]int{}}
	seen := map[string]bool{}
	known := map[string]bool{}
	for _, e := range evs {
		x.events++
		if e.Malformed {
			x.malformed++
		}
		if e.Kind == KindBehavior {
			x.behavior++
		}
		if e.Malformed {
			continue
		}
		m, err := checkEvent(e.Kind, e.Value)
		if err != nil {
			t.Fatal(err)
		}
		switch e.Kind {
		case KindBehavior:
			x.behaviorSizes = append(x.behaviorSizes, len(e.Value))
			if _, ok := m["anonymous_id"]; ok {
				x.anonymous++
			}
			if m["action"] == "purchase" && m["currency"] == "EUR" && m["value"] != nil {
				x.features["purchase with value"]++
			}
		case KindConsent:
			x.features["consent "+m["action"].(string)]++
			if m["purpose"] == "all" {
				x.features["consent for all"]++
			}
			if !known[m["lead_id"].(string)] {
				x.features["consent for an unknown lead"]++
			}
		case KindLead:
			x.sizes = append(x.sizes, len(e.Value))
			id := m["lead_id"].(string)
			known[id] = true
			if seen[id] {
				x.features["repeated lead event"]++
				continue
			}
			seen[id] = true
			x.leads++
			src := m["source"].(map[string]any)
			ch := channelOf(src, cfg.Domain)
			x.channels[ch]++
			if ch == "social" {
				x.social++
			}
			if cs, ok := m["consents"].([]any); ok {
				x.consenting++
				for _, c := range cs {
					c := c.(map[string]any)
					if c["status"] == "denied" {
						x.features["denied consent"]++
					}
					if c["at"] == nil || c["method"] == nil || c["text_version"] == nil || (c["collection_point"] == nil && c["proof_ref"] == nil) {
						x.features["consent without proof"]++
					}
				}
			}
			if r, ok := m["relationship"].(map[string]any); ok && r["customer"] == true {
				x.features["customer"]++
				if r["email_from_purchase"] == true && r["last_purchase_at"] != nil {
					x.features["customer with email from purchase"]++
				}
			}
			if _, ok := m["request"]; ok {
				x.features["request"]++
			}
			if _, ok := m["parental_consent"]; ok {
				x.features["parental consent"]++
			}
			if ch == "purchased_list" && src["supplier"] == nil {
				x.features["purchased list without supplier"]++
			}
			if src["network"] != nil {
				x.features["source network"]++
			}
			contact := m["contact"].(map[string]any)
			if bd, ok := contact["birth_date"].(string); ok {
				born, _ := time.Parse(time.DateOnly, bd)
				at, _ := time.Parse(time.RFC3339, m["occurred_at"].(string))
				if age := ageAt(born, at); age < 18 {
					x.features["minor"]++
					if age < 13 || age > 15 || !slices.Contains([]string{"IT", "ES", "FR", "DE", "NL", "BE"}, contact["country"].(string)) {
						t.Errorf("lead %s is a minor of %d in %v", id, age, contact["country"])
					}
				}
			}
			email, _ := contact["email"].(string)
			if email != "" && !strings.HasSuffix(email, ".example.com") && !strings.HasSuffix(email, "@example.com") &&
				!strings.Contains(email, "example.org") && !strings.Contains(email, "example.net") {
				t.Errorf("lead %s has an email outside the example domains: %s", id, email)
			}
			if phone, _ := contact["phone"].(string); phone != "" && !strings.Contains(phone, " 555 ") {
				t.Errorf("lead %s has a phone number without 555: %s", id, phone)
			}
		}
	}
	return x
}

func ageAt(born, at time.Time) int {
	age := at.Year() - born.Year()
	if at.YearDay() < born.YearDay() {
		age--
	}
	return age
}

func TestTheMixMatchesTheWorkloadIssue(t *testing.T) {
	cfg := mixConfig()
	x := measure(t, cfg, corpus(t, cfg))
	share := func(n, of int) float64 { return float64(n) / float64(of) }
	within := func(what string, got, want, tol float64) {
		t.Helper()
		if got < want-tol || got > want+tol {
			t.Errorf("%s is %.3f, want %.3f ± %.3f", what, got, want, tol)
		}
	}
	within("the social share of leads", share(x.social, x.leads), 1.0/3, 0.05)
	within("the share of leads with consents", share(x.consenting, x.leads), 0.5, 0.05)
	within("the malformed share of events", share(x.malformed, x.events), cfg.MalformedRate, 0.005)
	within("behavior events per lead", float64(x.behavior)/float64(cfg.Leads), cfg.BehaviorPerLead, cfg.BehaviorPerLead/10)
	within("the anonymous share of well-formed behavior", share(x.anonymous, x.behavior-x.malformed), cfg.AnonymousRate, 0.03)
	for _, ch := range []string{"social", "search", "email", "referral", "direct", "event", "import", "purchased_list", "partner", "offline"} {
		if x.channels[ch] == 0 {
			t.Errorf("no lead comes from channel %s", ch)
		}
	}
	if x.channels["unknown"] > 0 {
		t.Errorf("%d leads have no recognisable origin", x.channels["unknown"])
	}
	for _, f := range []string{
		"purchase with value", "consent grant", "consent withdraw", "consent object", "consent erase", "consent for all",
		"consent for an unknown lead", "repeated lead event", "denied consent", "consent without proof", "customer",
		"customer with email from purchase", "request", "parental consent", "purchased list without supplier", "source network", "minor",
	} {
		if x.features[f] == 0 {
			t.Errorf("the corpus has no %s", f)
		}
	}
	t.Logf("%d events, %d leads: social %.3f, with consents %.3f, malformed %.4f, behavior per lead %.2f, anonymous %.3f",
		x.events, x.leads, share(x.social, x.leads), share(x.consenting, x.leads), share(x.malformed, x.events),
		float64(x.behavior)/float64(cfg.Leads), share(x.anonymous, x.behavior-x.malformed))
	t.Logf("channels %v; features %v", x.channels, x.features)
}

func TestWellFormedLeadAndBehaviorEventsAre300To800Bytes(t *testing.T) {
	cfg := mixConfig()
	x := measure(t, cfg, corpus(t, cfg))
	for _, c := range []struct {
		kind  string
		sizes []int
	}{{KindLead, x.sizes}, {KindBehavior, x.behaviorSizes}} {
		in, total := 0, 0
		for _, n := range c.sizes {
			total += n
			if n >= 300 && n <= 800 {
				in++
			}
		}
		s := slices.Sorted(slices.Values(c.sizes))
		t.Logf("%s event sizes: min %d, median %d, mean %d, p95 %d, max %d", c.kind,
			s[0], s[len(s)/2], total/len(s), s[len(s)*95/100], s[len(s)-1])
		if in*100 < len(s)*95 {
			t.Errorf("%d of %d well-formed %s events are 300-800 bytes, want at least 95%%", in, len(s), c.kind)
		}
	}
}

func TestEdgeConfigsGenerateInTimeOrder(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"one lead", func(c *Config) { c.Leads = 1 }},
		{"no behavior", func(c *Config) { c.BehaviorPerLead = 0 }},
		{"a thousand behavior events per lead", func(c *Config) { c.Leads, c.BehaviorPerLead = 5, 1000 }},
		{"a one-hour span", func(c *Config) { c.Span = time.Hour }},
		{"every event malformed", func(c *Config) { c.MalformedRate = 1 }},
		{"every behavior event anonymous", func(c *Config) { c.AnonymousRate = 1 }},
		{"a span ending at the latest time", func(c *Config) { c.Start = Latest.Add(-c.Span) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Leads = 50
			tt.change(&cfg)
			evs := corpus(t, cfg)
			if len(evs) < cfg.Leads {
				t.Fatalf("%d events for %d leads", len(evs), cfg.Leads)
			}
			for i, e := range evs {
				if i > 0 && e.Time.Before(evs[i-1].Time) {
					t.Fatalf("event %d goes back in time", i)
				}
				if e.Time.Before(cfg.Start) || !e.Time.Before(cfg.Start.Add(cfg.Span)) {
					t.Fatalf("event %d at %s is outside the span", i, e.Time)
				}
				if _, err := checkEvent(e.Kind, e.Value); (err != nil) != e.Malformed {
					t.Fatalf("event %d: malformed %v, check %v: %s", i, e.Malformed, err, e.Value)
				}
			}
		})
	}
}

func TestGenerateStopsAtTheFirstEmitError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Generate(DefaultConfig(), func(Event) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("Generate returned %v after %d events, want stop after 10", err, n)
	}
}

func TestZeroRatesGiveACleanCorpus(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Leads, cfg.MalformedRate, cfg.AnonymousRate = 200, 0, 0
	for i, e := range corpus(t, cfg) {
		if e.Malformed {
			t.Fatalf("event %d is malformed at rate 0", i)
		}
		if bytes.HasPrefix(e.Key, []byte("anon-")) {
			t.Fatalf("event %d is anonymous at rate 0", i)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Leads = 2000
	var events, bytes int
	b.ReportAllocs()
	for b.Loop() {
		if err := Generate(cfg, func(e Event) error {
			events++
			bytes += len(e.Value)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/float64(events), "B/event")
	b.ReportMetric(0, "ns/op")
}
