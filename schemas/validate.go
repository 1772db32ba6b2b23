package schemas

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxIDChars is the longest event_id, lead_id or anonymous_id, in characters.
const MaxIDChars = 128

// The enumerations of the schema.
var (
	// SourceKinds are the values of source.kind.
	SourceKinds = []string{"web_form", "landing_page", "chat", "social", "social_lead_form", "import",
		"purchased_list", "partner", "event", "phone", "store", "offline", "referral", "email", "other"}
	// RequestTypes are the values of request.type.
	RequestTypes = []string{"quote", "demo", "contact", "download", "purchase", "support", "newsletter"}
	// ConsentStatuses are the values of consents[].status.
	ConsentStatuses = []string{"granted", "denied"}
	// ConsentActions are the values of a consent event's action.
	ConsentActions = []string{"grant", "withdraw", "object", "erase"}
	// BehaviorActions are the values of a behavior event's action.
	BehaviorActions = []string{"page_view", "product_view", "add_to_cart", "purchase", "email_open",
		"email_click", "search"}
)

func oneOf(field, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	if v == "" {
		return &FieldError{Field: field, Reason: "is required (one of " + strings.Join(allowed, ", ") + ")"}
	}
	return &FieldError{Field: field, Reason: "must be one of " + strings.Join(allowed, ", ")}
}

// IsPurpose reports whether p is one of Purposes.
func IsPurpose(p string) bool {
	for _, q := range Purposes {
		if p == q {
			return true
		}
	}
	return false
}

func checkType(got, want string) error {
	if got == want {
		return nil
	}
	if got == "" {
		return &FieldError{Field: "type", Reason: `is required ("` + want + `")`}
	}
	return &FieldError{Field: "type", Reason: `must be "` + want + `"`}
}

func checkID(field, v string, required bool) error {
	if v == "" {
		if required {
			return &FieldError{Field: field, Reason: "is required"}
		}
		return nil
	}
	if len(v) > MaxIDChars && utf8.RuneCountInString(v) > MaxIDChars {
		return &FieldError{Field: field, Reason: "is longer than 128 characters"}
	}
	if strings.TrimSpace(v) == "" {
		return &FieldError{Field: field, Reason: "must not be blank"}
	}
	return nil
}

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return &FieldError{Field: field, Reason: "is required (an RFC 3339 timestamp)"}
	}
	return nil
}

func (l *Lead) validate() error {
	if err := checkType(l.Type, TypeLead); err != nil {
		return err
	}
	if err := checkID("event_id", l.ID, true); err != nil {
		return err
	}
	if err := checkTime("occurred_at", l.OccurredAt); err != nil {
		return err
	}
	if err := checkID("lead_id", l.Lead, true); err != nil {
		return err
	}
	if c := l.Contact; c != nil {
		if c.Email != "" {
			if _, why := NormalizeEmail(c.Email); why != "" {
				return &FieldError{Field: "contact.email", Reason: why}
			}
		}
		if c.Phone != "" && !validPhone(c.Phone) {
			return &FieldError{Field: "contact.phone", Reason: "not a valid phone number"}
		}
		if c.Country != "" && !upperLetters(c.Country, 2) {
			return &FieldError{Field: "contact.country", Reason: "must be an ISO 3166-1 alpha-2 code in upper case"}
		}
		if c.BirthDate != "" {
			bd, err := ParseDate(c.BirthDate)
			if err != nil {
				return &FieldError{Field: "contact.birth_date", Reason: "must be a date YYYY-MM-DD"}
			}
			// A birth date after the event, or more than 120 years before
			// it, is an error of the source, never an unknown age.
			if bd.After(l.OccurredAt) {
				return &FieldError{Field: "contact.birth_date", Reason: "is after occurred_at"}
			}
			y, m, d := l.OccurredAt.UTC().Date()
			if bd.Before(time.Date(y-120, m, d, 0, 0, 0, 0, time.UTC)) {
				return &FieldError{Field: "contact.birth_date", Reason: "is more than 120 years before occurred_at"}
			}
		}
	}
	if s := l.Source; s != nil && s.Kind != "" {
		if err := oneOf("source.kind", s.Kind, SourceKinds); err != nil {
			return err
		}
	}
	for i := range l.Consents {
		c := &l.Consents[i]
		p := "consents[" + strconv.Itoa(i) + "]"
		if !IsPurpose(c.Purpose) {
			if err := oneOf(p+".purpose", c.Purpose, Purposes); err != nil {
				return err
			}
		}
		if c.Status != "granted" && c.Status != "denied" {
			return oneOf(p+".status", c.Status, ConsentStatuses)
		}
	}
	if r := l.Request; r != nil {
		if err := oneOf("request.type", r.Type, RequestTypes); err != nil {
			return err
		}
	}
	return nil
}

func (c *Consent) validate() error {
	if err := checkType(c.Type, TypeConsent); err != nil {
		return err
	}
	if err := checkID("event_id", c.ID, true); err != nil {
		return err
	}
	if err := checkTime("occurred_at", c.OccurredAt); err != nil {
		return err
	}
	if err := checkID("lead_id", c.Lead, true); err != nil {
		return err
	}
	if c.Purpose != PurposeAll && !IsPurpose(c.Purpose) {
		return oneOf("purpose", c.Purpose, append(append([]string(nil), Purposes...), PurposeAll))
	}
	return oneOf("action", c.Action, ConsentActions)
}

func (b *Behavior) validate() error {
	if err := checkType(b.Type, TypeBehavior); err != nil {
		return err
	}
	if err := checkID("event_id", b.ID, true); err != nil {
		return err
	}
	if err := checkTime("occurred_at", b.OccurredAt); err != nil {
		return err
	}
	switch {
	case b.Lead == "" && b.AnonymousID == "":
		return &FieldError{Field: "lead_id", Reason: "or anonymous_id is required"}
	case b.Lead != "" && b.AnonymousID != "":
		return &FieldError{Field: "anonymous_id", Reason: "must not be set together with lead_id"}
	}
	if err := checkID("lead_id", b.Lead, false); err != nil {
		return err
	}
	if err := checkID("anonymous_id", b.AnonymousID, false); err != nil {
		return err
	}
	if err := oneOf("action", b.Action, BehaviorActions); err != nil {
		return err
	}
	if b.Currency != "" && !upperLetters(b.Currency, 3) {
		return &FieldError{Field: "currency", Reason: "must be an ISO 4217 code in upper case"}
	}
	if c := b.Consent; c != nil {
		return c.validate()
	}
	return nil
}

// GCSValues are the values of consent.gcs: G1, then ad_storage and
// analytics_storage, each 1 for granted and 0 for denied.
var GCSValues = []string{"G100", "G110", "G101", "G111"}

func (c *PageConsent) validate() error {
	if c.TCF != "" {
		tc, err := DecodeTCF(c.TCF)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: "consent.tcf", Reason: fe.Field + ": " + fe.Reason}
			}
			return &FieldError{Field: "consent.tcf", Reason: "is not a TC string"}
		}
		c.tc = tc
	}
	if m := c.GCM; m != nil {
		for _, f := range []struct{ name, v string }{
			{"ad_storage", m.AdStorage}, {"analytics_storage", m.AnalyticsStorage},
			{"ad_user_data", m.AdUserData}, {"ad_personalization", m.AdPersonalization},
		} {
			if f.v != "" && f.v != "granted" && f.v != "denied" {
				return oneOf("consent.gcm."+f.name, f.v, ConsentStatuses)
			}
		}
	}
	if c.GCS != "" {
		if err := oneOf("consent.gcs", c.GCS, GCSValues); err != nil {
			return err
		}
	}
	return nil
}

// ParseDate parses a date YYYY-MM-DD, as birth_date holds it, at UTC midnight.
func ParseDate(s string) (time.Time, error) {
	if len(s) != 10 {
		return time.Time{}, &FieldError{Field: "date", Reason: "must be YYYY-MM-DD"}
	}
	return time.Parse(time.DateOnly, s)
}

func upperLetters(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// ValidEmail reports whether s looks like an addr-spec: a local part and a
// domain with a dot, no spaces, no display name. It is a plausibility check,
// not RFC 5322.
func ValidEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at > 64 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte(`()<>[]\,;:"@`, c) >= 0 {
			return false
		}
	}
	if len(domain) < 3 || !strings.Contains(domain, ".") || strings.Contains(domain, "..") {
		return false
	}
	if domain[0] == '.' || domain[0] == '-' || domain[len(domain)-1] == '.' || domain[len(domain)-1] == '-' {
		return false
	}
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c >= 0x80) {
			return false
		}
	}
	return true
}

func validPhone(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0, c == ' ', c == '-', c == '(', c == ')', c == '.', c == '/':
		default:
			return false
		}
	}
	return digits >= 4 && digits <= 20
}
