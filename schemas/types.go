// Package schemas defines leadpipe's input events (v1) and decodes them
// strictly: it is the first thing every stage and the offline tool run on a
// message from leads.raw, consents.raw or behavior.raw.
//
// A message that does not decode becomes a dead-letter record whose reason
// names the field (a *FieldError), never the field's value: events carry
// personal data, and errors end up in logs.
//
// The JSON Schema files beside this package (lead.schema.json,
// consent.schema.json, behavior.schema.json) describe the same events for
// other teams; testdata/ holds valid and invalid examples of each.
package schemas

import "time"

// Event types, the value of every event's "type" field.
const (
	TypeLead     = "lead"
	TypeConsent  = "consent"
	TypeBehavior = "behavior"
)

// Event is what every decoded event offers the runtime.
type Event interface {
	// EventType is "lead", "consent" or "behavior".
	EventType() string
	// EventID is the idempotency key of the event.
	EventID() string
	// LeadID is the lead the event is about; "" for an anonymous behavior.
	LeadID() string
	// Occurred is the event's occurred_at: its event time.
	Occurred() time.Time
}

// Lead is one marketing lead as it arrives on leads.raw.
type Lead struct {
	// Type is always "lead".
	Type string `json:"type"`
	// ID is the idempotency key of the event, 1 to 128 characters.
	ID string `json:"event_id"`
	// OccurredAt is when the lead was collected.
	OccurredAt time.Time `json:"occurred_at"`
	// Lead is the stable id of the lead, 1 to 128 characters; also the Kafka key.
	Lead string `json:"lead_id"`
	// Contact is who the lead is. It is personal data.
	Contact *Contact `json:"contact,omitempty"`
	// Source is where and how the lead was collected.
	Source *Source `json:"source,omitempty"`
	// Consents are the consent statements collected with the lead, at most
	// Limits.MaxConsents.
	Consents []ConsentEntry `json:"consents,omitempty"`
	// Relationship is what the business already has with the lead.
	Relationship *Relationship `json:"relationship,omitempty"`
	// Request is what the lead asked for, if anything.
	Request *Request `json:"request,omitempty"`
	// ParentalConsent is the consent of the holder of parental
	// responsibility, for a lead under the age of digital consent.
	ParentalConsent *ParentalConsent `json:"parental_consent,omitempty"`
}

// Contact is the personal data of a lead.
type Contact struct {
	// Email is the lead's email address.
	Email string `json:"email,omitempty"`
	// Phone is the lead's phone number, preferably E.164.
	Phone string `json:"phone,omitempty"`
	// FirstName is the lead's given name.
	FirstName string `json:"first_name,omitempty"`
	// LastName is the lead's family name.
	LastName string `json:"last_name,omitempty"`
	// Company is the lead's employer or organisation.
	Company string `json:"company,omitempty"`
	// JobTitle is the lead's role at Company.
	JobTitle string `json:"job_title,omitempty"`
	// Country is the lead's country, ISO 3166-1 alpha-2 in upper case ("IT").
	Country string `json:"country,omitempty"`
	// BirthDate is the lead's date of birth, YYYY-MM-DD.
	BirthDate string `json:"birth_date,omitempty"`
	// IsBusiness tells that the contact is a business contact, not a consumer.
	IsBusiness bool `json:"is_business,omitempty"`
}

// Source is where and how a lead was collected.
type Source struct {
	// Kind is how the lead was collected: web_form, landing_page, chat,
	// social, social_lead_form, import, purchased_list, partner, event,
	// phone, store, offline, referral, email or other.
	Kind string `json:"kind,omitempty"`
	// Network is the social network the lead came from, if any ("linkedin").
	Network string `json:"network,omitempty"`
	// URL is the page the lead was collected on, with its query string.
	URL string `json:"url,omitempty"`
	// Referrer is the page or app that sent the visitor to URL.
	Referrer string `json:"referrer,omitempty"`
	// UTM are the campaign parameters, when the collector parsed them.
	UTM *UTM `json:"utm,omitempty"`
	// FormID is the id of the form the lead filled in.
	FormID string `json:"form_id,omitempty"`
	// ListID is the id of the list the lead was imported from.
	ListID string `json:"list_id,omitempty"`
	// Supplier names who sold or gave a purchased list.
	Supplier string `json:"supplier,omitempty"`
	// PartnerID names the partner that passed the lead on.
	PartnerID string `json:"partner_id,omitempty"`
	// EventName is the name of the fair or event the lead was met at.
	EventName string `json:"event_name,omitempty"`
	// ImportBatch is the id of the import run that brought the lead in.
	ImportBatch string `json:"import_batch,omitempty"`
}

// UTM are the campaign parameters of a lead's landing URL.
type UTM struct {
	// Source is utm_source: who sent the traffic ("linkedin", "google").
	Source string `json:"source,omitempty"`
	// Medium is utm_medium: how ("cpc", "email", "social").
	Medium string `json:"medium,omitempty"`
	// Campaign is utm_campaign.
	Campaign string `json:"campaign,omitempty"`
	// Term is utm_term, the paid keyword.
	Term string `json:"term,omitempty"`
	// Content is utm_content, the ad or link variant.
	Content string `json:"content,omitempty"`
}

// ConsentEntry is one consent statement collected with a lead.
type ConsentEntry struct {
	// Purpose is one of the purposes: email_marketing, sms_marketing,
	// phone_marketing, profiling, third_party_sharing, sales_followup.
	Purpose string `json:"purpose"`
	// Status is "granted" or "denied".
	Status string `json:"status"`
	// At is when the statement was made.
	At time.Time `json:"at,omitzero"`
	// Method is how it was made ("checkbox", "double_opt_in", "verbal").
	Method string `json:"method,omitempty"`
	// CollectionPoint is where it was made (a form id, a page, a call).
	CollectionPoint string `json:"collection_point,omitempty"`
	// TextVersion is the version of the consent text the lead was shown.
	TextVersion string `json:"text_version,omitempty"`
	// ProofRef points at the stored proof (a signed log, a recording).
	ProofRef string `json:"proof_ref,omitempty"`
}

// Relationship is what a business already has with a lead.
type Relationship struct {
	// Customer tells that the lead has bought from the business.
	Customer bool `json:"customer,omitempty"`
	// EmailFromPurchase tells that the email was given in a purchase.
	EmailFromPurchase bool `json:"email_from_purchase,omitempty"`
	// LastPurchaseAt is when the lead last bought.
	LastPurchaseAt time.Time `json:"last_purchase_at,omitzero"`
}

// Request is what a lead asked for.
type Request struct {
	// Type is one of quote, demo, contact, download, purchase, support,
	// newsletter.
	Type string `json:"type"`
}

// ParentalConsent is the consent of a minor's parent or guardian.
type ParentalConsent struct {
	// At is when the parent consented.
	At time.Time `json:"at,omitzero"`
	// Method is how the parent's consent was verified.
	Method string `json:"method,omitempty"`
	// ProofRef points at the stored proof.
	ProofRef string `json:"proof_ref,omitempty"`
}

// Consent is a consent event from consents.raw: a lead grants, withdraws,
// objects or asks for erasure.
type Consent struct {
	// Type is always "consent".
	Type string `json:"type"`
	// ID is the idempotency key of the event, 1 to 128 characters.
	ID string `json:"event_id"`
	// OccurredAt is when the lead made the statement.
	OccurredAt time.Time `json:"occurred_at"`
	// Lead is the lead the statement is about, 1 to 128 characters.
	Lead string `json:"lead_id"`
	// Purpose is one of the purposes, or "all".
	Purpose string `json:"purpose"`
	// Action is grant, withdraw, object (Art. 21) or erase (Art. 17).
	Action string `json:"action"`
	// Method is how the statement was made.
	Method string `json:"method,omitempty"`
	// CollectionPoint is where it was made.
	CollectionPoint string `json:"collection_point,omitempty"`
	// TextVersion is the version of the consent text shown.
	TextVersion string `json:"text_version,omitempty"`
	// ProofRef points at the stored proof.
	ProofRef string `json:"proof_ref,omitempty"`
}

// Behavior is a behavioural event from behavior.raw, by a known lead or an
// anonymous visitor.
type Behavior struct {
	// Type is always "behavior".
	Type string `json:"type"`
	// ID is the idempotency key of the event, 1 to 128 characters.
	ID string `json:"event_id"`
	// OccurredAt is when it happened.
	OccurredAt time.Time `json:"occurred_at"`
	// Lead is the known lead who acted; exactly one of Lead and AnonymousID is set.
	Lead string `json:"lead_id,omitempty"`
	// AnonymousID is the cookie or device id of an unknown visitor.
	AnonymousID string `json:"anonymous_id,omitempty"`
	// Action is page_view, product_view, add_to_cart, purchase, email_open,
	// email_click or search.
	Action string `json:"action"`
	// URL is the page the action happened on.
	URL string `json:"url,omitempty"`
	// Product is the product acted on, if any.
	Product *Product `json:"product,omitempty"`
	// Value is the monetary value of the action, in Currency.
	Value float64 `json:"value,omitempty"`
	// Currency is the ISO 4217 code of Value ("EUR").
	Currency string `json:"currency,omitempty"`
	// Consent is the visitor's cookie choice on the page, as the site's
	// consent banner (CMP) or tag manager sent it; nil when the event
	// carries none, which enrich reads as an unknown signal.
	Consent *PageConsent `json:"consent,omitempty"`
}

// PageConsent is a visitor's consent signals on the page of a behavior
// event. Each is optional; enrich's signal policy says what each allows.
type PageConsent struct {
	// TCF is an IAB TCF v2.2/2.3 TC string (DecodeTCF checks it).
	TCF string `json:"tcf,omitempty"`
	// GCM is the Google Consent Mode v2 state.
	GCM *ConsentMode `json:"gcm,omitempty"`
	// GCS is Google's gcs hit parameter, G1xy: x is ad_storage and y
	// analytics_storage, 1 granted and 0 denied (G100, G110, G101, G111).
	GCS string `json:"gcs,omitempty"`
	// Categories is a CDP's consent object: category name to granted, at
	// most MaxConsentCategories of them.
	Categories map[string]bool `json:"categories,omitempty"`

	tc *TCString // TCF decoded, by validate
}

// TC is the decoded TCF string, nil when there is none.
func (c *PageConsent) TC() *TCString {
	if c == nil {
		return nil
	}
	return c.tc
}

// ConsentMode is the Google Consent Mode v2 state of a page: each field
// "granted" or "denied", "" when the page did not set it.
type ConsentMode struct {
	AdStorage         string `json:"ad_storage,omitempty"`
	AnalyticsStorage  string `json:"analytics_storage,omitempty"`
	AdUserData        string `json:"ad_user_data,omitempty"`
	AdPersonalization string `json:"ad_personalization,omitempty"`
}

// MaxConsentCategories is the most categories a CDP consent object may hold.
const MaxConsentCategories = 64

// Product is a product a behavior is about.
type Product struct {
	// ID is the product's id.
	ID string `json:"id,omitempty"`
	// Category is the product's category.
	Category string `json:"category,omitempty"`
	// Price is the product's unit price.
	Price float64 `json:"price,omitempty"`
}

// EventType implements Event.
func (l *Lead) EventType() string { return TypeLead }

// EventID implements Event.
func (l *Lead) EventID() string { return l.ID }

// LeadID implements Event.
func (l *Lead) LeadID() string { return l.Lead }

// Occurred implements Event.
func (l *Lead) Occurred() time.Time { return l.OccurredAt }

// EventType implements Event.
func (c *Consent) EventType() string { return TypeConsent }

// EventID implements Event.
func (c *Consent) EventID() string { return c.ID }

// LeadID implements Event.
func (c *Consent) LeadID() string { return c.Lead }

// Occurred implements Event.
func (c *Consent) Occurred() time.Time { return c.OccurredAt }

// EventType implements Event.
func (b *Behavior) EventType() string { return TypeBehavior }

// EventID implements Event.
func (b *Behavior) EventID() string { return b.ID }

// LeadID implements Event; it is "" for an anonymous visitor.
func (b *Behavior) LeadID() string { return b.Lead }

// Occurred implements Event.
func (b *Behavior) Occurred() time.Time { return b.OccurredAt }

// Purposes, in the order records list them.
var Purposes = []string{
	"email_marketing", "sms_marketing", "phone_marketing",
	"profiling", "third_party_sharing", "sales_followup",
}

// PurposeAll is the purpose of a consent event that covers every purpose.
const PurposeAll = "all"
