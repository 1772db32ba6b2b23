package classify

import (
	"slices"
	"time"
)

// Access is what classify holds about one lead, as the basis of an answer
// to an access request (GDPR Art. 15): the lead's record as of its
// history now, with the rules evaluated and the consents its bases rest
// on; every consent statement kept; the suppression entries in force
// through the lead or its contact keys; and the events applied. It holds
// no email, phone or name: classify keeps none.
type Access struct {
	LeadKey string `json:"lead_key"`
	// Current is the lead's record, with Explain filled in.
	Current Record `json:"current"`
	// ConsentProofs are the consents the purposes' bases rest on.
	ConsentProofs []ConsentProof `json:"consent_proofs"`
	// Consents are the consent statements kept, oldest first.
	Consents []Statement `json:"consent_history"`
	// Suppressions are the lead's own objections and erasures, and those
	// of other leads under one of its contact keys.
	Suppressions []Suppression `json:"suppressions"`
	// ContactKeys are the keys of its email addresses and phone numbers.
	ContactKeys []string `json:"contact_keys"`
	// Events are the ids of the latest events applied to the lead.
	Events []string `json:"events"`
}

// Statement is one consent statement of a lead: a grant, denial or
// withdrawal of one purpose, with its proof.
type Statement struct {
	Purpose         string    `json:"purpose"`
	Status          string    `json:"status"`
	At              time.Time `json:"at"`
	EventID         string    `json:"event_id"`
	ProofRef        string    `json:"proof_ref,omitempty"`
	TextVersion     string    `json:"text_version,omitempty"`
	CollectionPoint string    `json:"collection_point,omitempty"`
}

// Suppression is an entry of the suppression list that applies to a lead.
type Suppression struct {
	// Reason is "objection" or "erasure".
	Reason  string    `json:"reason"`
	Rule    string    `json:"rule"`
	EventID string    `json:"event_id"`
	At      time.Time `json:"at"`
	// Through is "lead" for the lead's own, else the contact key that
	// carries another lead's.
	Through string `json:"through"`
}

// Access returns what st holds of the lead with this lead key, and false
// when it holds nothing. now is the processing time of the explanation.
func (e *Engine) Access(st *State, leadKey string, now time.Time) (Access, bool) {
	ls := st.leads[leadKey]
	if ls == nil {
		return Access{}, false
	}
	a := Access{
		LeadKey: leadKey, ContactKeys: append([]string{}, ls.EmailKeys...),
		Consents: []Statement{}, Suppressions: []Suppression{}, Events: []string{},
	}
	rec := Record{
		LeadID: ls.LeadID, Key: ls.LeadID, PolicyVersion: e.policy.Version,
		LeadKey: leadKey, KeyVersion: e.keyer.Version(), OccurredAt: ls.AsOf,
	}
	if n := len(ls.Events); n > 0 {
		rec.EventID = ls.Events[n-1].ID // the latest event applied
	}
	audit := Audit{At: now}
	e.evaluate(st, ls, &rec, &audit, true, now)
	a.Current, a.ConsentProofs = rec, audit.ConsentProofs
	for _, s := range ls.Statements {
		a.Consents = append(a.Consents, Statement{
			Purpose: s.Purpose, Status: s.Status, At: s.At, EventID: s.EventID,
			ProofRef: s.ProofRef, TextVersion: s.TextVersion, CollectionPoint: s.CollectionPoint,
		})
	}
	slices.SortStableFunc(a.Consents, func(x, y Statement) int { return x.At.Compare(y.At) })
	add := func(s *suppression, through string) {
		if s != nil {
			a.Suppressions = append(a.Suppressions, Suppression{Reason: s.Reason, Rule: s.Rule, EventID: s.EventID, At: s.At, Through: through})
		}
	}
	for i := range ls.Suppressions {
		add(&ls.Suppressions[i], "lead")
	}
	for _, k := range ls.EmailKeys {
		x := ls.EmailSups[k]
		add(x.Objection, k)
		add(x.Erasure, k)
	}
	for _, ev := range ls.Events {
		a.Events = append(a.Events, ev.ID)
	}
	return a, true
}

// ContactLeads returns the leads st knows to have used a contact key (an
// email address's or a phone number's, Keyer.EmailKey or PhoneKey), by
// lead id; an erased lead's id is not kept, and it is left out.
func (st *State) ContactLeads(contactKey string) []string {
	es := st.emails[contactKey]
	if es == nil {
		return nil
	}
	var ids []string
	for _, l := range es.Leads {
		if l.ID != "" {
			ids = append(ids, l.ID)
		}
	}
	return ids
}

// LeadStateKey is the key of a lead's entry in leadpipe.state.
func LeadStateKey(leadKey string) string { return leadPrefix + leadKey }

// ContactStateKey is the key of a contact key's entry in leadpipe.state.
func ContactStateKey(contactKey string) string { return emailPrefix + contactKey }
