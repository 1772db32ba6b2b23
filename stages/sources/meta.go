package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leadpipe/leadpipe/schemas"
)

// Method names of a Meta consent box: ticked by the person (the policy
// counts it), or ticked by the form (it never counts).
const (
	MethodLeadFormCheckbox = "lead_form_checkbox"
	MethodPreTicked        = "pre_ticked"
)

// MetaLead is Meta's lead object, as the Graph API returns it
// (GET /{lead-id}?fields=...,custom_disclaimer_responses) and as the
// Marketing API's bulk reads list it. Fields leadpipe does not use are
// ignored.
type MetaLead struct {
	ID           metaID      `json:"id"`
	CreatedTime  metaTime    `json:"created_time"`
	AdID         metaID      `json:"ad_id"`
	AdName       string      `json:"ad_name"`
	CampaignID   metaID      `json:"campaign_id"`
	CampaignName string      `json:"campaign_name"`
	FormID       metaID      `json:"form_id"`
	IsOrganic    bool        `json:"is_organic"`
	Platform     string      `json:"platform"`
	FieldData    []metaField `json:"field_data"`
	// CustomDisclaimerResponses are the consent boxes' answers: is_checked
	// is the string "1" when ticked, "" when not.
	CustomDisclaimerResponses []metaDisclaimer `json:"custom_disclaimer_responses"`
}

type metaField struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

type metaDisclaimer struct {
	CheckboxKey string `json:"checkbox_key"`
	IsChecked   string `json:"is_checked"`
}

// metaID is a Meta id: a JSON string, or a JSON number kept as its digits
// (a lead id can have 17 digits, beyond what a float64 holds exactly).
type metaID string

var digits = regexp.MustCompile(`^[0-9]{1,32}$`)

func (id *metaID) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = metaID(s)
		return nil
	}
	if !digits.Match(b) {
		// A type error, which encoding/json completes with the field's name.
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[string](), Offset: 0}
	}
	*id = metaID(b)
	return nil
}

// jsonKind names the kind of a JSON value for an error: never the value.
func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '[':
		return "array"
	case b[0] == '{':
		return "object"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	}
	if b[0] == '"' {
		return "string that is not a whole number"
	}
	return "number that is not a whole number"
}

// metaTime is Meta's created_time: "2015-02-28T08:49:14+0000" (no colon
// in the offset), RFC 3339, or Unix seconds.
type metaTime struct{ time.Time }

func (t *metaTime) UnmarshalJSON(b []byte) (err error) {
	t.Time, err = parseTime(b, "created_time")
	return err
}

// googleTime is Google's lead_submit_time: ISO 8601.
type googleTime struct{ time.Time }

func (t *googleTime) UnmarshalJSON(b []byte) (err error) {
	t.Time, err = parseTime(b, "lead_submit_time")
	return err
}

// parseTime reads a JSON time of field: Meta's "2015-02-28T08:49:14+0000"
// (no colon in the offset), RFC 3339, or Unix seconds.
func parseTime(b []byte, field string) (time.Time, error) {
	if len(b) > 0 && b[0] != '"' {
		var secs int64
		if err := json.Unmarshal(b, &secs); err != nil {
			return time.Time{}, fmt.Errorf("%s: a time is a string or Unix seconds", field)
		}
		if t := time.Unix(secs, 0).UTC(); inEra(t) {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("%s: a time from 1970 to 9999", field)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339} {
		if v, err := time.Parse(layout, s); err == nil {
			if !inEra(v) {
				return time.Time{}, fmt.Errorf("%s: a time from 1970 to 9999", field)
			}
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: a time is like 2015-02-28T08:49:14+0000 or 2024-09-26T12:30:00Z", field)
}

// Report is what an adapter could not map of one payload, for the
// summary, the metrics and `leadpipe sources check`. It holds ids and
// keys, never a value of a person.
type Report struct {
	// Source and Form say where the lead came from ("meta", the form id).
	Source, Form string
	// UnmappedForm: sources.yaml has no entry for the form, so none of its
	// boxes gave a consent.
	UnmappedForm bool
	// UnmappedCheckboxes are the keys of boxes the form's entry does not list.
	UnmappedCheckboxes []string
	// PreTicked are the boxes the form ticks by default that came back ticked.
	PreTicked []string
	// Unreadable are boxes whose answer was neither "1" nor "", or that came
	// twice (a CDP category neither true nor false, or both allowed and denied).
	Unreadable []string
	// NoConsentObject: a CDP message without its consent envelope
	// (Segment's context.consent, RudderStack's context.consentManagement):
	// no consent from it, where the CDP itself would let it through.
	NoConsentObject bool
}

// FromMeta turns one Meta lead object into a lead event. Its event id and
// lead id derive from Meta's lead id ("meta:ID"), so importing the same
// lead again makes no second lead. A field of the payload that cannot be
// read is an error naming the field, never its value.
func FromMeta(payload []byte, c *Config) (schemas.Lead, Report, error) {
	r := Report{Source: "meta"}
	if !utf8.Valid(payload) {
		return schemas.Lead{}, r, fmt.Errorf("not valid UTF-8 (at byte %d)", invalidAt(payload))
	}
	var m MetaLead
	if err := json.Unmarshal(payload, &m); err != nil {
		return schemas.Lead{}, r, jsonError(err)
	}
	r.Form = string(m.FormID)
	if m.ID == "" {
		return schemas.Lead{}, r, errors.New("id: missing: the Meta lead id is required")
	}
	if m.CreatedTime.IsZero() {
		return schemas.Lead{}, r, errors.New("created_time: missing")
	}
	network := "facebook"
	if strings.EqualFold(m.Platform, "ig") || strings.EqualFold(m.Platform, "instagram") {
		network = "instagram"
	}
	lead := schemas.Lead{
		Type: schemas.TypeLead, ID: "meta:" + string(m.ID), OccurredAt: m.CreatedTime.Time, Lead: "meta:" + string(m.ID),
		Contact: metaContact(m.FieldData),
		Source: &schemas.Source{Kind: "social_lead_form", Network: network, FormID: string(m.FormID),
			UTM: &schemas.UTM{Source: network, Campaign: m.CampaignName, Content: m.AdName}},
	}
	if !m.IsOrganic && m.AdID != "" && m.AdID != "0" {
		lead.Source.UTM.Medium = "paid_social"
	}
	if *lead.Source.UTM == (schemas.UTM{}) {
		lead.Source.UTM = nil
	}
	form, ok := c.Meta.Forms[string(m.FormID)]
	if !ok {
		r.UnmappedForm = len(m.CustomDisclaimerResponses) > 0 || m.FormID != ""
		return lead, r, nil
	}
	seen := map[string]int{}
	for _, d := range m.CustomDisclaimerResponses {
		seen[d.CheckboxKey]++
	}
	for _, d := range m.CustomDisclaimerResponses {
		box, ok := form.Checkboxes[d.CheckboxKey]
		switch {
		case !ok:
			r.UnmappedCheckboxes = append(r.UnmappedCheckboxes, d.CheckboxKey)
			continue
		case seen[d.CheckboxKey] > 1 || (d.IsChecked != "1" && d.IsChecked != ""):
			r.Unreadable = append(r.Unreadable, d.CheckboxKey)
			continue
		}
		status, method := "denied", MethodLeadFormCheckbox
		if d.IsChecked == "1" {
			status = "granted"
			if box.CheckedByDefault {
				method = MethodPreTicked
				r.PreTicked = append(r.PreTicked, d.CheckboxKey)
			}
		}
		for _, purpose := range box.Purposes {
			lead.Consents = append(lead.Consents, schemas.ConsentEntry{
				Purpose: purpose, Status: status, At: m.CreatedTime.Time, Method: method,
				CollectionPoint: or(form.CollectionPoint, "meta:form:"+string(m.FormID)),
				TextVersion:     or(form.TextVersion, "meta:form:"+string(m.FormID)),
				ProofRef:        "meta:lead:" + string(m.ID),
			})
		}
	}
	return lead, r, nil
}

// metaFields are Meta's standard field_data keys leadpipe reads.
var metaFields = map[string]contactField{
	"email": fieldEmail, "work_email": fieldEmail, "phone_number": fieldPhone, "work_phone_number": fieldPhone,
	"first_name": fieldFirstName, "last_name": fieldLastName, "full_name": fieldFullName,
	"company_name": fieldCompany, "job_title": fieldJobTitle, "country": fieldCountry, "date_of_birth": fieldBirthDate,
}

// metaContact reads the contact of field_data by Meta's standard keys, the
// first value of each; a phone exported to CSV keeps its "p:" prefix,
// which goes.
func metaContact(fields []metaField) *schemas.Contact {
	var b contactBuilder
	for _, f := range fields {
		if len(f.Values) == 0 {
			continue
		}
		v := f.Values[0]
		if metaFields[f.Name] == fieldPhone {
			v = strings.TrimPrefix(strings.TrimSpace(v), "p:")
		}
		b.set(metaFields[f.Name], v)
	}
	return b.contact(schemas.Contact{})
}

// birthDate is a date of birth as YYYY-MM-DD, from that form or Meta's
// MM/DD/YYYY; "" otherwise.
func birthDate(v string) string {
	for _, layout := range []string{time.DateOnly, "01/02/2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.Format(time.DateOnly)
		}
	}
	return ""
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// jsonError names the field of a JSON error, never the value.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s: a %s where a %s belongs", or(te.Field, "(the payload)"), te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not JSON (at byte %d)", se.Offset)
	}
	return err // the custom decoders' errors name their fields
}

// invalidAt is the offset of the first byte of b that is not valid UTF-8.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
