package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leadpipe/leadpipe/schemas"
)

// CDPConfig maps a CDP's consent categories (Segment's
// context.consent.categoryPreferences keys, RudderStack's
// context.consentManagement ids: the CMP's category ids, OneTrust's
// C0001...) to leadpipe's purposes.
//
//	segment:                      # or rudderstack:
//	  source_kind: web_form       # source.kind of an identify's lead (default other)
//	  collection_point: onetrust-banner   # default segment:cmp
//	  text_version: cmp-2026-10   # default segment:category:ID
//	  categories:
//	    C0004: [profiling]
//	    Advertising: [profiling, third_party_sharing]
type CDPConfig struct {
	SourceKind      string              `yaml:"source_kind"`
	CollectionPoint string              `yaml:"collection_point"`
	TextVersion     string              `yaml:"text_version"`
	Categories      map[string][]string `yaml:"categories"`
}

// Method of a consent stated through a CDP's consent envelope.
const MethodCMP = "cmp"

// cdpMessage is a Segment or RudderStack message (Segment's spec,
// which RudderStack's event spec follows): identify, track or page.
type cdpMessage struct {
	Type              string          `json:"type"`
	Event             string          `json:"event"`
	MessageID         string          `json:"messageId"`
	UserID            metaID          `json:"userId"`
	AnonymousID       metaID          `json:"anonymousId"`
	Timestamp         string          `json:"timestamp"`
	OriginalTimestamp string          `json:"originalTimestamp"`
	Traits            json.RawMessage `json:"traits"`
	Properties        struct {
		URL       string   `json:"url"`
		ProductID metaID   `json:"product_id"`
		Category  string   `json:"category"`
		Price     *float64 `json:"price"`
		Revenue   *float64 `json:"revenue"`
		Total     *float64 `json:"total"`
		Value     *float64 `json:"value"`
		Currency  string   `json:"currency"`
	} `json:"properties"`
	Context struct {
		Traits   json.RawMessage                `json:"traits"`
		Page     struct{ URL, Referrer string } `json:"page"`
		Campaign struct {
			Name, Source, Medium, Term, Content string
		} `json:"campaign"`
		Consent *struct {
			CategoryPreferences map[string]json.RawMessage `json:"categoryPreferences"`
		} `json:"consent"`
		ConsentManagement *struct {
			AllowedConsentIDs []string `json:"allowedConsentIds"`
			DeniedConsentIDs  []string `json:"deniedConsentIds"`
		} `json:"consentManagement"`
	} `json:"context"`
}

// cdpTraits are the spec's reserved traits leadpipe reads.
type cdpTraits struct {
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	// The spec takes camelCase or snake_case traits.
	FirstNameSnake string          `json:"first_name"`
	LastNameSnake  string          `json:"last_name"`
	Name           string          `json:"name"`
	Title          string          `json:"title"`
	Birthday       string          `json:"birthday"`
	Company        json.RawMessage `json:"company"` // a name, or {name, ...}
	Address        struct {
		Country string `json:"country"`
	} `json:"address"`
}

// The track events leadpipe maps to behavior (Segment's e-commerce spec),
// and the one that states consent.
var cdpActions = map[string]string{
	"Product Viewed": "product_view", "Product Added": "add_to_cart", "Order Completed": "purchase", "Products Searched": "search",
}

// ConsentUpdated is Segment's reserved track event sent at each consent change.
const ConsentUpdated = "Segment Consent Preference Updated"

// ErrIgnored is an adapter's answer for a message that is not a lead,
// consent or behavior (a track event leadpipe has no action for, group,
// alias, screen): no event.
var ErrIgnored = errors.New("type, event: not a message leadpipe maps (identify, page, track of Product Viewed, Product Added, Order Completed, Products Searched, " + ConsentUpdated + ")")

// FromSegment turns one Segment message into leadpipe events: identify
// into a lead (traits to contact, context.consent.categoryPreferences to
// consents through sources.yaml's segment.categories); a track of
// "Segment Consent Preference Updated" into a consent event per mapped
// purpose; page and the e-commerce tracks into behavior. A message
// without a consent object states no consent (Report.NoConsentObject):
// Segment lets such a message through to every destination; leadpipe
// does not read it as a grant. Event ids derive from messageId.
func FromSegment(payload []byte, c *Config) ([]schemas.Event, Report, error) {
	return fromCDP("segment", payload, &c.Segment)
}

// FromRudderStack is FromSegment for RudderStack's messages, whose consent
// is context.consentManagement: allowedConsentIds grant, deniedConsentIds
// deny the purposes sources.yaml's rudderstack.categories maps them to.
func FromRudderStack(payload []byte, c *Config) ([]schemas.Event, Report, error) {
	return fromCDP("rudderstack", payload, &c.RudderStack)
}

func fromCDP(source string, payload []byte, c *CDPConfig) ([]schemas.Event, Report, error) {
	r := Report{Source: source}
	if !utf8.Valid(payload) {
		return nil, r, fmt.Errorf("not valid UTF-8 (at byte %d)", invalidAt(payload))
	}
	var m cdpMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, r, jsonError(err)
	}
	at, err := cdpTime(m.Timestamp, m.OriginalTimestamp)
	switch {
	case err != nil:
		return nil, r, err
	case m.MessageID == "":
		return nil, r, errors.New("messageId: missing: event ids derive from it")
	case len(m.MessageID) > 100:
		return nil, r, errors.New("messageId: over 100 characters")
	}
	id := source + ":" + m.MessageID
	lead := ""
	if m.UserID != "" {
		lead = source + ":" + string(m.UserID)
	}
	switch {
	case m.Type == "identify":
		if lead == "" {
			return nil, r, errors.New("userId: missing: an identify without a userId names no lead")
		}
		l := &schemas.Lead{Type: schemas.TypeLead, ID: id, OccurredAt: at, Lead: lead,
			Source: &schemas.Source{Kind: or(c.SourceKind, "other"), URL: m.Context.Page.URL, Referrer: m.Context.Page.Referrer}}
		if cp := m.Context.Campaign; cp != (struct{ Name, Source, Medium, Term, Content string }{}) {
			l.Source.UTM = &schemas.UTM{Source: cp.Source, Medium: cp.Medium, Campaign: cp.Name, Term: cp.Term, Content: cp.Content}
		}
		traits := m.Traits
		if len(traits) == 0 {
			traits = m.Context.Traits
		}
		if l.Contact, err = cdpContact(traits); err != nil {
			return nil, r, err
		}
		states, err := cdpConsent(&m, c, &r)
		if err != nil {
			return nil, r, err
		}
		for _, s := range states {
			l.Consents = append(l.Consents, schemas.ConsentEntry{Purpose: s.purpose, Status: s.status, At: at, Method: MethodCMP,
				CollectionPoint: or(c.CollectionPoint, source+":cmp"), TextVersion: or(c.TextVersion, source+":category:"+s.category),
				ProofRef: source + ":message:" + m.MessageID})
		}
		return []schemas.Event{l}, r, nil
	case m.Type == "track" && m.Event == ConsentUpdated:
		if lead == "" {
			return nil, r, errors.New("userId: missing: a consent change without a userId names no lead")
		}
		states, err := cdpConsent(&m, c, &r)
		if err != nil {
			return nil, r, err
		}
		var out []schemas.Event
		for _, s := range states {
			action := "grant"
			if s.status == "denied" {
				action = "withdraw"
			}
			out = append(out, &schemas.Consent{Type: schemas.TypeConsent, ID: id + ":" + s.purpose, OccurredAt: at, Lead: lead,
				Purpose: s.purpose, Action: action, Method: MethodCMP, CollectionPoint: or(c.CollectionPoint, source+":cmp"),
				TextVersion: or(c.TextVersion, source+":category:"+s.category), ProofRef: source + ":message:" + m.MessageID})
		}
		return out, r, nil
	case m.Type == "page" || m.Type == "track" && cdpActions[m.Event] != "":
		b := &schemas.Behavior{Type: schemas.TypeBehavior, ID: id, OccurredAt: at, Lead: lead, Action: "page_view",
			URL: or(m.Properties.URL, m.Context.Page.URL), Currency: strings.ToUpper(m.Properties.Currency)}
		if lead == "" {
			if m.AnonymousID == "" {
				return nil, r, errors.New("userId, anonymousId: both missing")
			}
			b.AnonymousID = source + ":" + string(m.AnonymousID)
		}
		if m.Type == "track" {
			b.Action = cdpActions[m.Event]
			p := m.Properties
			if p.ProductID != "" || p.Category != "" || p.Price != nil {
				b.Product = &schemas.Product{ID: string(p.ProductID), Category: p.Category}
				if p.Price != nil {
					b.Product.Price = *p.Price
				}
			}
			for _, v := range []*float64{p.Revenue, p.Total, p.Value} {
				if v != nil && b.Value == 0 {
					b.Value = *v
				}
			}
		}
		if b.Value == 0 {
			b.Currency = ""
		}
		return []schemas.Event{b}, r, nil
	}
	return nil, r, ErrIgnored
}

// cdpTime is the message's timestamp, else its originalTimestamp.
func cdpTime(ts ...string) (time.Time, error) {
	for _, s := range ts {
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, errors.New("timestamp: not an ISO 8601 time like 2023-01-01T00:00:00.000Z")
		}
		if !inEra(t) {
			return time.Time{}, errors.New("timestamp: a time from 1970 to 9999")
		}
		return t.UTC(), nil
	}
	return time.Time{}, errors.New("timestamp, originalTimestamp: missing")
}

// cdpContact reads the spec's reserved traits.
func cdpContact(raw json.RawMessage) (*schemas.Contact, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var t cdpTraits
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("traits.%w", jsonError(err))
	}
	var b contactBuilder
	b.set(fieldEmail, t.Email)
	b.set(fieldPhone, t.Phone)
	b.set(fieldFirstName, or(t.FirstName, t.FirstNameSnake))
	b.set(fieldLastName, or(t.LastName, t.LastNameSnake))
	b.set(fieldFullName, t.Name)
	b.set(fieldJobTitle, t.Title)
	b.set(fieldCountry, t.Address.Country)
	b.set(fieldBirthDate, strings.SplitN(t.Birthday, "T", 2)[0])
	if len(t.Company) > 0 {
		var name string
		var obj struct{ Name string }
		if json.Unmarshal(t.Company, &name) != nil && json.Unmarshal(t.Company, &obj) != nil {
			return nil, errors.New("traits.company: neither a name nor an object with a name")
		}
		b.set(fieldCompany, or(name, obj.Name))
	}
	return b.contact(schemas.Contact{}), nil
}

// consentState is what one mapped category says of one purpose.
type consentState struct{ purpose, status, category string }

// cdpConsent reads the consent envelope of m through c: per mapped
// category, its purposes granted or denied. No envelope is no consent,
// reported; a category c does not map is reported and gives none; a
// mapped category the envelope does not name says nothing (Segment reads
// it as false on a profile; leadpipe records no denial it was not given).
// When two categories map the same purpose, a denial wins.
func cdpConsent(m *cdpMessage, c *CDPConfig, r *Report) ([]consentState, error) {
	said := map[string]bool{} // category → granted
	switch r.Source {
	case "segment":
		if m.Context.Consent == nil || m.Context.Consent.CategoryPreferences == nil {
			r.NoConsentObject = true
			return nil, nil
		}
		for _, k := range sortedKeys(m.Context.Consent.CategoryPreferences) {
			var v bool
			if err := json.Unmarshal(m.Context.Consent.CategoryPreferences[k], &v); err != nil {
				r.Unreadable = append(r.Unreadable, k)
				continue
			}
			said[k] = v
		}
	default:
		cm := m.Context.ConsentManagement
		if cm == nil {
			r.NoConsentObject = true
			return nil, nil
		}
		for _, k := range cm.AllowedConsentIDs {
			said[k] = true
		}
		for _, k := range cm.DeniedConsentIDs {
			if granted, both := said[k]; both && granted {
				r.Unreadable = append(r.Unreadable, k) // allowed and denied: neither
				delete(said, k)
				continue
			}
			said[k] = false
		}
	}
	status := map[string]string{}
	from := map[string]string{}
	for _, k := range sortedKeys(said) {
		purposes, ok := c.Categories[k]
		if !ok {
			r.UnmappedCheckboxes = append(r.UnmappedCheckboxes, k)
			continue
		}
		for _, p := range purposes {
			if status[p] == "denied" {
				continue
			}
			status[p], from[p] = "granted", k
			if !said[k] {
				status[p] = "denied"
			}
		}
	}
	var out []consentState
	for _, p := range schemas.Purposes {
		if status[p] != "" {
			out = append(out, consentState{purpose: p, status: status[p], category: from[p]})
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
