package classify

import (
	"strconv"
	"strings"
	"time"
)

// evaluate runs the policy's steps over a lead's state and fills the
// record: decision, reason, rule, origin, purposes, and explain. release
// tells that a counting grant arrived for a quarantined lead.
func (e *Engine) evaluate(ls *leadState, release bool, r *Result) {
	rec := &r.Record
	x := e.Explain
	f := ls.Facts
	rec.FirstSeen = ls.FirstSeen
	if f != nil {
		rec.Origin, rec.Country = f.Origin, f.Country
		if x {
			r.explain(x, f.OriginStep, true, "origin "+f.Origin.Channel+": "+f.OriginWhy)
		}
	}
	decide := func(decision, reason, rule string) {
		rec.Decision, rec.Reason, rec.Rule = decision, reason, rule
		ls.Decision, ls.Rule = decision, rule
	}

	// 1. The suppression list.
	if s := ls.Suppressed; s != nil {
		if x {
			r.explain(x, stepSuppression, true, "on the suppression list since consent event "+s.EventID+" ("+s.Reason+")")
		}
		decide(DecisionSuppressed, s.Reason, s.Rule)
		rec.Purposes = allNone("suppression list: " + s.Reason + " in consent event " + s.EventID)
		return
	}
	r.explain(x, stepSuppression, false, "neither the lead key nor an email key is on the suppression list")

	// 2. Consent counting happened as statements arrived; the ledger holds
	// the standing statement per purpose.
	counting := 0
	for _, s := range ls.Ledger {
		if s.granted() {
			counting++
		}
	}
	if x {
		r.explain(x, stepCounting, counting > 0, strconv.Itoa(counting)+" purpose(s) with a standing counting consent, "+
			strconv.Itoa(len(r.Audit.IgnoredConsents))+" statement(s) of this event ignored")
	}

	// 3. Minors.
	if f.minorWithoutParent() {
		if x {
			r.explain(x, RuleMinor, true, "under the age of digital consent ("+strconv.Itoa(f.AgeLimit)+
				" in "+countryName(f.Country)+") at occurred_at; "+f.ParentalWhy)
		}
		decide(DecisionQuarantined, RuleMinor, RuleMinor)
		rec.Purposes = allNone("quarantined: " + RuleMinor)
		return
	}
	if x {
		why := "no birth_date"
		switch {
		case f.Age >= f.AgeLimit:
			why = "at least the age of digital consent (" + strconv.Itoa(f.AgeLimit) + " in " + countryName(f.Country) + ")"
		case f.Age >= 0:
			why = "under the age of digital consent (" + strconv.Itoa(f.AgeLimit) + " in " + countryName(f.Country) + "), with " + f.Parental
		}
		r.explain(x, RuleMinor, false, why)
	}

	// 4. Purchased lists and partners.
	if ch := f.Origin.Channel; ch == ChannelPurchasedList || ch == ChannelPartner {
		if f.ThirdParty == "" || counting == 0 {
			if x {
				why := "channel " + ch + " "
				if f.ThirdParty == "" {
					why += "names no source.supplier or source.partner_id"
				} else {
					why += "names " + f.ThirdParty + " but carries no counting consent"
				}
				r.explain(x, RuleThirdParty, true, why)
			}
			decide(DecisionQuarantined, RuleThirdParty, RuleThirdParty)
			rec.Purposes = allNone("quarantined: " + RuleThirdParty)
			return
		}
		if x {
			r.explain(x, RuleThirdParty, false, "channel "+ch+" names "+f.ThirdParty+" and carries a counting consent")
		}
	} else if x {
		r.explain(x, RuleThirdParty, false, "channel "+ch+" is not a purchased list or a partner")
	}

	// 5. The basis of each purpose.
	rec.Purposes = e.bases(ls, r)
	p := &rec.Purposes
	marketingBasis := p.EmailMarketing.Basis != BasisNone || p.SMSMarketing.Basis != BasisNone || p.PhoneMarketing.Basis != BasisNone
	if x {
		var parts []string
		for _, name := range purposeNames {
			parts = append(parts, name+"="+p.Get(name).Basis)
		}
		r.explain(x, stepBases, true, strings.Join(parts, " "))
	}

	// 6. Social without consent.
	if f.Origin.Channel == ChannelSocial && !marketingBasis && p.SalesFollowup.Basis == BasisNone {
		r.explain(x, RuleSocialNoConsent, true, "channel social with no basis for email, SMS or phone marketing and no request that grounds sales_followup")
		decide(DecisionQuarantined, RuleSocialNoConsent, RuleSocialNoConsent)
		rec.Purposes = allNone("quarantined: " + RuleSocialNoConsent)
		return
	}
	if f.Origin.Channel == ChannelSocial {
		r.explain(x, RuleSocialNoConsent, false, "channel social with a marketing basis or a sales_followup request")
	} else if x {
		r.explain(x, RuleSocialNoConsent, false, "channel "+f.Origin.Channel+" is not social")
	}

	// 7. Accepted.
	if release {
		r.explain(x, RuleReleased, true, "a counting consent released the quarantined lead")
		decide(DecisionAccepted, "", RuleReleased)
		return
	}
	r.explain(x, RuleAccepted, true, "no rule quarantined or suppressed the lead")
	decide(DecisionAccepted, "", RuleAccepted)
}

var purposeNames = []string{"email_marketing", "sms_marketing", "phone_marketing", "profiling", "third_party_sharing", "sales_followup"}

// bases is step 5: a counting consent, the soft opt-in for email, a
// request for sales_followup, else none.
func (e *Engine) bases(ls *leadState, r *Result) Purposes {
	f := ls.Facts
	var out Purposes
	for _, name := range purposeNames {
		b := out.Get(name)
		s, ok := ls.Ledger[name]
		switch {
		case ok && s.granted():
			*b = basis(BasisConsent, consentEvidence(s))
			r.Audit.ConsentProofs = append(r.Audit.ConsentProofs, ConsentProof{
				Purpose: name, EventID: s.EventID, At: s.At, ProofRef: s.ProofRef, TextVersion: s.TextVersion,
			})
		case ok:
			*b = basis(BasisNone, noConsentEvidence(s))
		case name == "email_marketing" && f.SoftOptIn:
			*b = basis(BasisLegitimateInterests, "relationship.customer+email_from_purchase")
		case name == "sales_followup" && e.policy.salesFollowup(f.Request):
			*b = basis(BasisContract, "request.type="+f.Request)
		default:
			*b = basis(BasisNone, "no counting consent")
		}
	}
	return out
}

// consentEvidence is the evidence of a basis that rests on the granted
// statement s: "consent proof_ref=… text_version=… at=… event=… consents[i]".
func consentEvidence(s statement) string {
	var buf [256]byte // one allocation, for the string, when it fits
	b := append(buf[:0], "consent"...)
	if s.ProofRef != "" {
		b = append(append(b, " proof_ref="...), s.ProofRef...)
	}
	if s.TextVersion != "" {
		b = append(append(b, " text_version="...), s.TextVersion...)
	}
	if s.ProofRef == "" && s.CollectionPoint != "" {
		b = append(append(b, " collection_point="...), s.CollectionPoint...)
	}
	b = s.At.UTC().AppendFormat(append(b, " at="...), time.RFC3339)
	b = append(append(b, " event="...), s.EventID...)
	return string(appendWhere(b, s))
}

// noConsentEvidence is the evidence of no basis for the denied, withdrawn
// or objected statement s: "consent denied at … in event … consents[i]".
func noConsentEvidence(s statement) string {
	var buf [128]byte
	b := append(append(buf[:0], "consent "...), s.Status...)
	b = s.At.UTC().AppendFormat(append(b, " at "...), time.RFC3339)
	b = append(append(b, " in event "...), s.EventID...)
	return string(appendWhere(b, s))
}

// appendWhere appends where in a lead event's consents s was stated.
func appendWhere(b []byte, s statement) []byte {
	if s.Index == 0 {
		return b
	}
	return append(strconv.AppendInt(append(b, " consents["...), int64(s.Index-1), 10), ']')
}

func countryName(c string) string {
	if c == "" {
		return "no country (default age)"
	}
	return c
}
