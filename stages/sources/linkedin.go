package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leadpipe/leadpipe/schemas"
)

// LinkedInLead is a LinkedIn Lead Sync lead form response
// (GET /rest/leadFormResponses/{id}). Its answers and consent responses
// name question and consent ids, which mean something only with the
// form's definition: sources.yaml's linkedin entry for the form.
type LinkedInLead struct {
	ID                      metaID `json:"id"`
	SubmittedAt             *int64 `json:"submittedAt"` // Unix milliseconds
	LeadType                string `json:"leadType"`
	TestLead                bool   `json:"testLead"`
	VersionedLeadGenFormUrn string `json:"versionedLeadGenFormUrn"`
	LeadMetadata            struct {
		SponsoredLeadMetadata struct {
			Campaign string `json:"campaign"`
		} `json:"sponsoredLeadMetadata"`
	} `json:"leadMetadata"`
	FormResponse struct {
		Answers []struct {
			QuestionID    metaID `json:"questionId"`
			AnswerDetails struct {
				TextQuestionAnswer *struct {
					Answer string `json:"answer"`
				} `json:"textQuestionAnswer"`
			} `json:"answerDetails"`
		} `json:"answers"`
		ConsentResponses []struct {
			ConsentID metaID `json:"consentId"`
			Accepted  *bool  `json:"accepted"`
		} `json:"consentResponses"`
	} `json:"formResponse"`
}

// LinkedInNotification is the body of a Lead Sync webhook
// (leadNotifications): ids only, and the action.
type LinkedInNotification struct {
	Type                string `json:"type"`
	LeadGenFormResponse string `json:"leadGenFormResponse"`
	LeadGenForm         string `json:"leadGenForm"`
	LeadType            string `json:"leadType"`
	LeadAction          string `json:"leadAction"`
	OccurredAt          *int64 `json:"occurredAt"` // Unix milliseconds
}

var formURN = regexp.MustCompile(`leadGenForm:([0-9]+),([0-9]+)\)$`)

// FromLinkedIn turns a LinkedIn Lead Sync payload into an event: a lead
// form response into a lead event ("linkedin:" + its id), its consents
// joined with the form's in sources.yaml; a notification that the member
// deleted the lead (leadAction DELETED) into an erasure request of that
// lead (a consent event, action erase). A CREATED notification carries
// ids only: fetch the response and import it. A test lead gives
// ErrTestLead.
func FromLinkedIn(payload []byte, c *Config) (schemas.Event, Report, error) {
	r := Report{Source: "linkedin"}
	if !utf8.Valid(payload) {
		return nil, r, errors.New("not valid UTF-8")
	}
	var probe struct {
		LeadAction *string `json:"leadAction"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, r, jsonError(err)
	}
	if probe.LeadAction != nil {
		return linkedInNotification(payload, r)
	}
	var l LinkedInLead
	if err := json.Unmarshal(payload, &l); err != nil {
		return nil, r, jsonError(err)
	}
	m := formURN.FindStringSubmatch(l.VersionedLeadGenFormUrn)
	switch {
	case l.ID == "":
		return nil, r, errors.New("id: missing")
	case l.SubmittedAt == nil:
		return nil, r, errors.New("submittedAt: missing")
	case m == nil:
		return nil, r, errors.New("versionedLeadGenFormUrn: not urn:li:versionedLeadGenForm:(urn:li:leadGenForm:ID,VERSION)")
	case l.TestLead:
		return nil, r, ErrTestLead
	}
	formID, version := m[1], m[2]
	r.Form = formID
	at := time.UnixMilli(*l.SubmittedAt).UTC()
	if !inEra(at) {
		return nil, r, errors.New("submittedAt: a time from 1970 to 9999")
	}
	kind, medium := "social_lead_form", ""
	switch l.LeadType {
	case "EVENT":
		kind = "event"
	case "SPONSORED":
		medium = "paid_social"
	}
	campaign := l.LeadMetadata.SponsoredLeadMetadata.Campaign
	campaign = campaign[strings.LastIndexByte(campaign, ':')+1:]
	lead := &schemas.Lead{
		Type: schemas.TypeLead, ID: "linkedin:" + string(l.ID), OccurredAt: at, Lead: "linkedin:" + string(l.ID),
		Source: &schemas.Source{Kind: kind, Network: "linkedin", FormID: formID,
			UTM: &schemas.UTM{Source: "linkedin", Medium: medium, Campaign: campaign}},
	}
	form, ok := c.LinkedIn.Forms[formID]
	if !ok {
		// Without the form nothing joins: no contact field, no consent.
		r.UnmappedForm = true
		return lead, r, nil
	}
	var b contactBuilder
	for _, a := range l.FormResponse.Answers {
		if t := a.AnswerDetails.TextQuestionAnswer; t != nil {
			b.set(linkedInFieldOf[form.Questions[string(a.QuestionID)]], t.Answer)
		}
	}
	lead.Contact = b.contact(schemas.Contact{IsBusiness: true})
	seen := map[metaID]int{}
	for _, cr := range l.FormResponse.ConsentResponses {
		seen[cr.ConsentID]++
	}
	for _, cr := range l.FormResponse.ConsentResponses {
		id := string(cr.ConsentID)
		consent, ok := form.Consents[id]
		switch {
		case !ok:
			r.UnmappedCheckboxes = append(r.UnmappedCheckboxes, id)
			continue
		case cr.Accepted == nil || seen[cr.ConsentID] > 1:
			r.Unreadable = append(r.Unreadable, id)
			continue
		}
		status := "denied"
		if *cr.Accepted {
			status = "granted"
		}
		for _, purpose := range consent.Purposes {
			lead.Consents = append(lead.Consents, schemas.ConsentEntry{
				Purpose: purpose, Status: status, At: at, Method: MethodLeadFormCheckbox,
				CollectionPoint: or(form.CollectionPoint, "linkedin:form:"+formID),
				TextVersion:     or(form.TextVersion, fmt.Sprintf("linkedin:form:%s,%s:consent:%s", formID, version, id)),
				ProofRef:        "linkedin:lead:" + string(l.ID),
			})
		}
	}
	return lead, r, nil
}

// linkedInNotification turns a DELETED notification into an erasure
// request of its lead.
func linkedInNotification(payload []byte, r Report) (schemas.Event, Report, error) {
	var n LinkedInNotification
	if err := json.Unmarshal(payload, &n); err != nil {
		return nil, r, jsonError(err)
	}
	if m := formURN.FindStringSubmatch(n.LeadGenForm); m != nil {
		r.Form = m[1]
	}
	id := n.LeadGenFormResponse[strings.LastIndexByte(n.LeadGenFormResponse, ':')+1:]
	switch {
	case n.LeadAction == "CREATED":
		return nil, r, errors.New("leadAction: CREATED carries ids only: fetch the response (GET /rest/leadFormResponses/{id}) and import it")
	case n.LeadAction != "DELETED":
		return nil, r, errors.New("leadAction: neither CREATED nor DELETED")
	case id == "" || !strings.HasPrefix(n.LeadGenFormResponse, "urn:li:leadGenFormResponse:"):
		return nil, r, errors.New("leadGenFormResponse: not urn:li:leadGenFormResponse:ID")
	case n.OccurredAt == nil:
		return nil, r, errors.New("occurredAt: missing")
	case !inEra(time.UnixMilli(*n.OccurredAt)):
		return nil, r, errors.New("occurredAt: a time from 1970 to 9999")
	}
	return &schemas.Consent{
		Type: schemas.TypeConsent, ID: "linkedin:deleted:" + id, OccurredAt: time.UnixMilli(*n.OccurredAt).UTC(),
		Lead: "linkedin:" + id, Purpose: schemas.PurposeAll, Action: "erase", Method: "platform_deletion",
		CollectionPoint: "linkedin:form:" + r.Form, ProofRef: "linkedin:notification:" + id,
	}, r, nil
}
