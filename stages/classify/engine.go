package classify

import (
	"strconv"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
)

// marketing are the purposes a withdrawal of "all" ends: every marketing
// purpose and profiling.
var marketing = []string{"email_marketing", "sms_marketing", "phone_marketing", "profiling"}

// Lead classifies a lead event against st, updating st. raw is the event as
// received (its SHA-256 goes into the audit); now is the processing time.
func (e *Engine) Lead(ev *schemas.Lead, raw []byte, st *State, now time.Time) Result {
	lk := e.keyer.LeadKey(ev.Lead)
	r := e.newResult(ev.ID, schemas.TypeLead, ev.Lead, lk, ev.OccurredAt, raw, now)
	ls := st.leads[lk]
	if ls == nil {
		ls = &leadState{}
		st.leads[lk] = ls
	}
	r.changed(leadPrefix + lk)
	if ls.FirstSeen.IsZero() {
		ls.FirstSeen = ev.OccurredAt
	}
	ls.Facts = e.facts(ev, now)

	emailKey := ""
	if ev.Contact != nil && ev.Contact.Email != "" {
		emailKey = e.keyer.EmailKey(ev.Contact.Email)
		if !contains(ls.EmailKeys, emailKey) {
			ls.EmailKeys = append(ls.EmailKeys, emailKey)
		}
	}
	// Step 1, the suppression list, both ways: a suppressed lead suppresses
	// its new email, a suppressed email suppresses the lead (a re-import
	// under a new lead id).
	if ls.Suppressed == nil && emailKey != "" {
		if sup := st.emails[emailKey]; sup != nil {
			cp := *sup
			ls.Suppressed = &cp
		}
	}
	if ls.Suppressed != nil {
		e.suppressEmails(st, ls, &r)
		for i := range ev.Consents {
			r.ignore(ev.Consents[i].Purpose, "consents["+strconv.Itoa(i)+"]: the lead is on the suppression list ("+ls.Suppressed.Reason+")")
		}
	} else {
		e.mergeLeadConsents(ev, ls, now, &r)
	}
	e.evaluate(ls, false, &r)
	r.finish()
	return r
}

// Consent applies a consent event to st and returns the lead's
// classification after it; no_lead for a lead never seen, whose statement
// st keeps for when the lead arrives.
func (e *Engine) Consent(ev *schemas.Consent, raw []byte, st *State, now time.Time) Result {
	lk := e.keyer.LeadKey(ev.Lead)
	r := e.newResult(ev.ID, schemas.TypeConsent, ev.Lead, lk, ev.OccurredAt, raw, now)
	ls := st.leads[lk]
	if ls == nil {
		ls = &leadState{}
		st.leads[lk] = ls
	}
	r.changed(leadPrefix + lk)
	seen := ls.Facts != nil || ls.Decision != ""
	release := false

	switch ev.Action {
	case "erase":
		ls.Suppressed = &suppression{Reason: ReasonErasure, Rule: RuleSuppressedErasure, EventID: ev.ID, At: ev.OccurredAt}
		e.suppressEmails(st, ls, &r)
		if seen {
			// Keep what the record shows, then forget everything but the
			// suppression (Art. 17).
			r.Record.Origin, r.Record.Country, r.Record.FirstSeen = ls.Facts.originOrZero(), ls.Facts.countryOrEmpty(), ls.FirstSeen
		}
		ls.Facts, ls.Ledger, ls.EmailKeys, ls.FirstSeen = nil, nil, nil, time.Time{}
		if e.Explain {
			r.explain(true, RuleErased, true, "consent event "+ev.ID+" asks for erasure (Art. 17)")
		}
		if !seen {
			return e.noLead(ls, &r)
		}
		r.Record.Decision, r.Record.Reason, r.Record.Rule = DecisionErased, ReasonErasure, RuleErased
		r.Record.Purposes = allNone("erased by consent event " + ev.ID + " (Art. 17)")
		ls.Decision, ls.Rule = DecisionErased, RuleErased
		r.finish()
		return r
	case "object":
		if ls.Suppressed == nil || ls.Suppressed.Reason != ReasonErasure {
			ls.Suppressed = &suppression{Reason: ReasonObjection, Rule: RuleSuppressedObjection, EventID: ev.ID, At: ev.OccurredAt}
		}
		e.suppressEmails(st, ls, &r)
	case "withdraw":
		purposes := []string{ev.Purpose}
		if ev.Purpose == schemas.PurposeAll {
			purposes = marketing
			if ls.Suppressed == nil {
				ls.Suppressed = &suppression{Reason: ReasonObjection, Rule: RuleSuppressedWithdrawal, EventID: ev.ID, At: ev.OccurredAt}
			}
			e.suppressEmails(st, ls, &r)
		}
		for _, p := range purposes {
			ls.record(p, statement{At: ev.OccurredAt, Status: "withdrawn", EventID: ev.ID})
		}
	case "grant":
		if why := e.grantIgnored(ev, ls, now); why != "" {
			r.ignore(ev.Purpose, why)
		} else {
			ls.record(ev.Purpose, statement{
				At: ev.OccurredAt, Status: "granted", EventID: ev.ID, ProofRef: ev.ProofRef,
				TextVersion: ev.TextVersion, CollectionPoint: ev.CollectionPoint,
			})
			release = ls.Decision == DecisionQuarantined
		}
	}
	if !seen {
		return e.noLead(ls, &r)
	}
	e.evaluate(ls, release, &r)
	r.finish()
	return r
}

func (e *Engine) noLead(ls *leadState, r *Result) Result {
	r.Record.Decision, r.Record.Reason, r.Record.Rule = DecisionNoLead, "lead_not_seen", RuleNoLead
	r.explain(e.Explain, RuleNoLead, true, "no lead event has been seen for this lead id; the statement is kept for when it arrives")
	r.finish()
	return *r
}

// grantIgnored returns why a consent event's grant does not count, or "".
func (e *Engine) grantIgnored(ev *schemas.Consent, ls *leadState, now time.Time) string {
	switch {
	case ev.Purpose == schemas.PurposeAll:
		return `a grant for "all" does not count: consent must be specific to a purpose (Art. 4(11))`
	case ls.Suppressed != nil:
		return "the lead is on the suppression list (" + ls.Suppressed.Reason + ")"
	case ls.Facts != nil && ls.Facts.minorWithoutParent():
		return "the lead is a minor without parental consent (Art. 8)"
	}
	return e.proofMissing(ev.OccurredAt, ev.Method, ev.TextVersion, ev.CollectionPoint, ev.ProofRef, now, "occurred_at")
}

// proofMissing returns why a grant does not count (GDPR Art. 7(1): the
// controller must be able to demonstrate consent), or "" when it counts.
func (e *Engine) proofMissing(at time.Time, method, textVersion, collectionPoint, proofRef string, now time.Time, atField string) string {
	var missing []string
	if at.IsZero() {
		missing = append(missing, atField)
	}
	if method == "" {
		missing = append(missing, "method")
	}
	if textVersion == "" {
		missing = append(missing, "text_version")
	}
	if collectionPoint == "" && proofRef == "" {
		missing = append(missing, "collection_point or proof_ref")
	}
	if len(missing) > 0 {
		return "no proof of consent: it has no " + strings.Join(missing, ", no ")
	}
	if at.After(now.Add(e.policy.ClockSkew)) {
		return atField + " is in the future, beyond " + e.policy.ClockSkew.String() + " of clock skew"
	}
	return ""
}

// mergeLeadConsents records the counting statements of a lead event.
func (e *Engine) mergeLeadConsents(ev *schemas.Lead, ls *leadState, now time.Time, r *Result) {
	minor := ls.Facts.minorWithoutParent()
	for i := range ev.Consents {
		c := &ev.Consents[i]
		where := "consents[" + strconv.Itoa(i) + "]: "
		if c.Status == "denied" {
			at := c.At
			if at.IsZero() {
				at = ev.OccurredAt // a denial always counts
			}
			ls.record(c.Purpose, statement{At: at, Status: "denied", EventID: ev.ID, Index: i + 1})
			continue
		}
		if minor {
			r.ignore(c.Purpose, where+"the lead is a minor without parental consent (Art. 8)")
			continue
		}
		if why := e.proofMissing(c.At, c.Method, c.TextVersion, c.CollectionPoint, c.ProofRef, now, "at"); why != "" {
			r.ignore(c.Purpose, where+why)
			continue
		}
		ls.record(c.Purpose, statement{
			At: c.At, Status: "granted", EventID: ev.ID, Index: i + 1,
			ProofRef: c.ProofRef, TextVersion: c.TextVersion, CollectionPoint: c.CollectionPoint,
		})
	}
}

// record makes s the standing statement of purpose when it wins.
func (ls *leadState) record(purpose string, s statement) {
	cur, ok := ls.Ledger[purpose]
	if !s.replaces(cur, ok) {
		return
	}
	if ls.Ledger == nil {
		ls.Ledger = map[string]statement{}
	}
	ls.Ledger[purpose] = s
}

// suppressEmails puts every email key of a suppressed lead on the list.
func (e *Engine) suppressEmails(st *State, ls *leadState, r *Result) {
	for _, k := range ls.EmailKeys {
		cur := st.emails[k]
		if cur != nil && (cur.Reason == ReasonErasure || ls.Suppressed.Reason == ReasonObjection) {
			continue
		}
		cp := *ls.Suppressed
		st.emails[k] = &cp
		r.changed(emailPrefix + k)
	}
}

// facts extracts what the policy needs of a lead event.
func (e *Engine) facts(ev *schemas.Lead, now time.Time) *facts {
	p := e.policy
	f := &facts{EventID: ev.ID, OccurredAt: ev.OccurredAt, Age: -1}
	f.Origin, f.OriginStep, f.OriginWhy = p.originOf(ev.Source)
	if c := ev.Contact; c != nil {
		f.Country = c.Country
		if c.BirthDate != "" {
			if bd, err := schemas.ParseDate(c.BirthDate); err == nil {
				f.Age = ageAt(bd, ev.OccurredAt)
			}
		}
	}
	f.AgeLimit = p.AgeOfConsent(f.Country)
	if pc := ev.ParentalConsent; pc != nil {
		var missing []string
		if pc.At.IsZero() {
			missing = append(missing, "at")
		}
		if pc.Method == "" {
			missing = append(missing, "method")
		}
		if pc.ProofRef == "" {
			missing = append(missing, "proof_ref")
		}
		switch {
		case len(missing) > 0:
			f.ParentalWhy = "parental_consent has no " + strings.Join(missing, ", no ")
		case pc.At.After(now.Add(p.ClockSkew)):
			f.ParentalWhy = "parental_consent.at is in the future"
		default:
			f.Parental = "parental_consent proof_ref=" + pc.ProofRef
		}
	} else {
		f.ParentalWhy = "no parental_consent"
	}
	if s := ev.Source; s != nil {
		switch {
		case s.Supplier != "":
			f.ThirdParty = "source.supplier"
		case s.PartnerID != "":
			f.ThirdParty = "source.partner_id"
		}
	}
	if rel := ev.Relationship; rel != nil {
		f.SoftOptIn = rel.Customer && rel.EmailFromPurchase
	}
	if ev.Request != nil {
		f.Request = ev.Request.Type
	}
	return f
}

func (f *facts) originOrZero() Origin {
	if f == nil {
		return Origin{}
	}
	return f.Origin
}

func (f *facts) countryOrEmpty() string {
	if f == nil {
		return ""
	}
	return f.Country
}

// ageAt is the age in completed years, on the UTC date of at, of someone
// born on birth.
func ageAt(birth, at time.Time) int {
	at = at.UTC()
	age := at.Year() - birth.Year()
	if at.Month() < birth.Month() || at.Month() == birth.Month() && at.Day() < birth.Day() {
		age--
	}
	return age
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
