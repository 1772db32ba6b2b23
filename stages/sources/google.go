package sources

import (
	"encoding/json"
	"errors"
	"reflect"
	"unicode/utf8"

	"github.com/leadpipe/leadpipe/schemas"
)

// GoogleAdsLead is the body Google Ads POSTs to a lead form's webhook
// (developers.google.com/google-ads/webhook/docs/implementation,
// WebhookLead). It carries no consent: a Google lead form has no
// checkbox answers, only a privacy policy URL.
type GoogleAdsLead struct {
	LeadID         metaID             `json:"lead_id"`
	UserColumnData []googleColumnData `json:"user_column_data"`
	APIVersion     string             `json:"api_version"`
	FormID         int64ID            `json:"form_id"`
	CampaignID     int64ID            `json:"campaign_id"`
	GoogleKey      string             `json:"google_key"`
	IsTest         bool               `json:"is_test"`
	GclID          string             `json:"gcl_id"`
	LeadSubmitTime googleTime         `json:"lead_submit_time"`
}

type googleColumnData struct {
	ColumnName  string `json:"column_name"`
	StringValue string `json:"string_value"`
	ColumnID    string `json:"column_id"`
}

// int64ID is an id Google sends as an int64: a JSON number, or a string
// of digits, kept as its digits.
type int64ID string

func (id *int64ID) UnmarshalJSON(b []byte) error {
	v := string(b)
	if len(b) > 1 && b[0] == '"' && b[len(b)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "null" {
		return nil
	}
	if !digits.MatchString(v) || len(v) > 19 {
		// A type error, which encoding/json completes with the field's name.
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[int64]()}
	}
	*id = int64ID(v)
	return nil
}

// googleFields are the column_id values (LeadFormFieldUserInputType)
// leadpipe reads; qualifying questions are left out.
var googleFields = map[string]contactField{
	"EMAIL": fieldEmail, "WORK_EMAIL": fieldEmail, "PHONE_NUMBER": fieldPhone, "WORK_PHONE": fieldPhone,
	"GIVEN_NAME": fieldFirstName, "FAMILY_NAME": fieldLastName, "FULL_NAME": fieldFullName,
	"COMPANY_NAME": fieldCompany, "JOB_TITLE": fieldJobTitle, "COUNTRY": fieldCountry,
}

// ErrTestLead is FromGoogleAds's answer for a lead Google marks is_test:
// not a person, so no event.
var ErrTestLead = errors.New("is_test: a test lead, left out")

// FromGoogleAds turns one Google Ads lead form webhook body into a lead
// event: "google:" + lead_id, a web form (search and display ads, not a
// social network), no consent. The google_key is not copied anywhere.
func FromGoogleAds(payload []byte) (schemas.Lead, Report, error) {
	r := Report{Source: "google-ads"}
	if !utf8.Valid(payload) {
		return schemas.Lead{}, r, errors.New("not valid UTF-8")
	}
	var g GoogleAdsLead
	if err := json.Unmarshal(payload, &g); err != nil {
		return schemas.Lead{}, r, jsonError(err)
	}
	r.Form = string(g.FormID)
	switch {
	case g.LeadID == "":
		return schemas.Lead{}, r, errors.New("lead_id: missing")
	case g.IsTest:
		return schemas.Lead{}, r, ErrTestLead
	case g.LeadSubmitTime.IsZero():
		return schemas.Lead{}, r, errors.New("lead_submit_time: missing (the webhook's API version may predate it)")
	}
	var b contactBuilder
	for _, col := range g.UserColumnData {
		b.set(googleFields[col.ColumnID], col.StringValue)
	}
	lead := schemas.Lead{
		Type: schemas.TypeLead, ID: "google:" + string(g.LeadID), OccurredAt: g.LeadSubmitTime.Time, Lead: "google:" + string(g.LeadID),
		Source: &schemas.Source{Kind: "web_form", FormID: string(g.FormID),
			UTM: &schemas.UTM{Source: "google", Medium: "cpc", Campaign: string(g.CampaignID)}},
	}
	lead.Contact = b.contact(schemas.Contact{})
	return lead, r, nil
}
