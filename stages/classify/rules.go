package classify

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// The purposes, in the order records and ClickHouse list them.
const (
	pEmail = iota
	pSMS
	pPhone
	pProfiling
	pThirdParty
	pSales
	numPurposes
)

var purposeNames = [numPurposes]string{"email_marketing", "sms_marketing", "phone_marketing", "profiling", "third_party_sharing", "sales_followup"}

func purposeIndex(p string) int {
	switch p {
	case "email_marketing":
		return pEmail
	case "sms_marketing":
		return pSMS
	case "phone_marketing":
		return pPhone
	case "profiling":
		return pProfiling
	case "third_party_sharing":
		return pThirdParty
	case "sales_followup":
		return pSales
	}
	return -1
}

// view is a lead's history as of one time: what the policy's steps read.
type view struct {
	facts    *facts                  // the latest lead event's facts; nil before the first
	standing [numPurposes]*statement // the standing statement of each purpose
	sup      *suppression            // the suppression in force, own or by email key
	contacts []string                // the lead's contact keys (email and phone keys)
	at       time.Time               // the time of the view: t, or the processing time for a zero t
}

// asOf returns the view of ls at time t; a zero t means every event. With
// leadOnly, only the statements of lead events count (to tell whether a
// consent event released the lead). sups are the lead's suppressions, own
// and by email key (suppressions).
func asOf(ls *leadState, sups []suppression, t time.Time, leadOnly bool) view {
	v := view{contacts: ls.EmailKeys, at: t}
	v.facts = latestFacts(ls, t)
	for i := range ls.Statements {
		s := &ls.Statements[i]
		if !t.IsZero() && s.At.After(t) || leadOnly && s.Index == 0 {
			continue
		}
		if p := purposeIndex(s.Purpose); p >= 0 {
			v.standing[p] = s // statements are in rank order: the last is the standing one
		}
	}
	for i := range sups {
		if s := &sups[i]; (t.IsZero() || !s.At.After(t)) && s.outranks(v.sup) {
			v.sup = s
		}
	}
	return v
}

// latestFacts are the facts of the latest lead event at or before t (any
// time when t is zero), or nil.
func latestFacts(ls *leadState, t time.Time) *facts {
	for i := len(ls.Facts) - 1; i >= 0; i-- {
		if t.IsZero() || !ls.Facts[i].OccurredAt.After(t) {
			return ls.Facts[i]
		}
	}
	return nil
}

// suppressions are the lead's own suppressions and those of its email keys
// (the copies their notices brought).
func (st *State) suppressions(ls *leadState) []suppression {
	out := slices.Clone(ls.Suppressions)
	for _, k := range ls.EmailKeys {
		x := ls.EmailSups[k]
		if x.Objection != nil {
			out = append(out, *x.Objection)
		}
		if x.Erasure != nil {
			out = append(out, *x.Erasure)
		}
	}
	return out
}

// suppressionOf is the suppression in force on the lead at t, or nil.
func (e *Engine) suppressionOf(st *State, ls *leadState, t time.Time) *suppression {
	v := asOf(ls, st.suppressions(ls), t, false)
	return v.sup
}

// source tells what a purpose's basis rests on.
type source int8

const (
	srcNone      source = iota // nothing: basis none
	srcConsent                 // a granted standing statement
	srcStatement               // a denied or withdrawn standing statement: basis none
	srcSoftOptIn               // the soft opt-in for email
	srcContract                // a request that grounds sales_followup
	srcRPO                     // a phone_marketing grant the RPO cancels: basis none
)

// verdict is what the policy's steps decide of one view. It is the one
// place the rules are applied; evaluate dresses it with evidence and
// explain, timeline reads it at each event time.
type verdict struct {
	decision, reason, rule string
	counting               int // purposes with a granted standing statement
	bases                  [numPurposes]string
	src                    [numPurposes]source
	marketing              bool   // a basis for email, SMS or phone marketing
	rpo                    string // why the RPO cancels the phone_marketing grant, or ""
}

// verdictOf applies the policy's steps, in order, to v; v.facts is not nil.
func (e *Engine) verdictOf(v *view) verdict {
	var d verdict
	// 1. The suppression list.
	if s := v.sup; s != nil {
		d.decision, d.reason, d.rule = DecisionSuppressed, s.Reason, s.Rule
		return d
	}
	// 2. Consent counting: the standing statement of each purpose; a
	// phone_marketing grant that the RPO cancels does not count.
	if s := v.standing[pPhone]; s != nil && s.granted() {
		d.rpo = e.rpoWhy(v, s)
	}
	for p, s := range v.standing {
		if s != nil && s.granted() && (p != pPhone || d.rpo == "") {
			d.counting++
		}
	}
	f := v.facts
	// 3. Minors.
	if f.minorWithoutParent() {
		d.decision, d.reason, d.rule = DecisionQuarantined, RuleMinor, RuleMinor
		return d
	}
	// 4. Purchased lists and partners.
	if ch := f.Origin.Channel; (ch == ChannelPurchasedList || ch == ChannelPartner) && (f.ThirdParty == "" || d.counting == 0) {
		d.decision, d.reason, d.rule = DecisionQuarantined, RuleThirdParty, RuleThirdParty
		return d
	}
	// 5. The basis of each purpose.
	for p := range numPurposes {
		switch s := v.standing[p]; {
		case p == pPhone && d.rpo != "":
			d.bases[p], d.src[p] = BasisNone, srcRPO
		case s != nil && s.granted():
			d.bases[p], d.src[p] = BasisConsent, srcConsent
		case s != nil:
			d.bases[p], d.src[p] = BasisNone, srcStatement
		case p == pEmail && f.SoftOptIn:
			d.bases[p], d.src[p] = BasisLegitimateInterests, srcSoftOptIn
		case p == pSales && e.policy.salesFollowup(f.Request):
			d.bases[p], d.src[p] = BasisContract, srcContract
		default:
			d.bases[p], d.src[p] = BasisNone, srcNone
		}
	}
	d.marketing = d.bases[pEmail] != BasisNone || d.bases[pSMS] != BasisNone || d.bases[pPhone] != BasisNone
	// 6. Social without consent: a social lead needs a basis for email,
	// SMS or phone marketing, or a request of its own that grounds
	// sales_followup; a consent to sales_followup alone does not release it.
	if f.Origin.Channel == ChannelSocial && !d.marketing && !e.policy.salesFollowup(f.Request) {
		d.decision, d.reason, d.rule = DecisionQuarantined, RuleSocialNoConsent, RuleSocialNoConsent
		return d
	}
	// 7. Accepted.
	d.decision, d.rule = DecisionAccepted, RuleAccepted
	return d
}

// evaluate fills rec with the lead's classification from its whole
// history: decision, reason, rule, origin, purposes with their evidence,
// the timeline, and explain when x. audit, when not nil, gets the consent
// proofs the bases rest on.
func (e *Engine) evaluate(st *State, ls *leadState, rec *Record, audit *Audit, x bool, now time.Time) {
	rec.Seq, rec.AsOf, rec.FirstSeen = ls.Seq, ls.AsOf, ls.FirstSeen
	step := func(rule string, matched bool, why string) {
		if x {
			rec.Explain = append(rec.Explain, Step{Rule: rule, Matched: matched, Why: why})
		}
	}
	// 0. An erased lead stays erased, whatever else is known of it.
	if s := ls.erasure(); s != nil {
		rec.LeadID = "" // no raw lead id in the value of an erased lead's record (Art. 17)
		rec.Decision, rec.Reason, rec.Rule = DecisionErased, ReasonErasure, RuleErased
		rec.Purposes = allNone("erased by consent event " + s.EventID + " (Art. 17)")
		rec.Timeline = []Span{{Decision: DecisionErased}}
		rec.Erasure = &ErasureRequest{EventID: s.EventID, RequestedAt: s.At}
		return
	}
	sups := st.suppressions(ls)
	v := asOf(ls, sups, time.Time{}, false)
	v.at = now
	f := v.facts
	if f == nil {
		rec.Decision, rec.Reason, rec.Rule = DecisionNoLead, "lead_not_seen", RuleNoLead
		step(RuleNoLead, true, "no lead event has been seen for this lead id; the statements are kept for when it arrives")
		return
	}
	rec.Origin, rec.Country = f.Origin, f.Country
	if x {
		step(f.OriginStep, true, "origin "+f.Origin.Channel+": "+f.OriginWhy)
	}
	d := e.verdictOf(&v)
	if d.decision == DecisionAccepted && releasable(f.Origin.Channel) {
		lv := asOf(ls, sups, time.Time{}, true)
		lv.at = now
		if e.verdictOf(&lv).decision == DecisionQuarantined {
			d.rule = RuleReleased // a consent event released a lead its lead events quarantined
		}
	}
	rec.Decision, rec.Reason, rec.Rule = d.decision, d.reason, d.rule
	rec.Timeline = e.timeline(ls, sups)

	// Explain, and the purposes with their evidence.
	if s := v.sup; s != nil {
		if x {
			step(stepSuppression, true, "on the suppression list since consent event "+s.EventID+" ("+s.Reason+")")
		}
		rec.Purposes = allNone("suppression list: " + s.Reason + " in consent event " + s.EventID)
		return
	}
	step(stepSuppression, false, "neither the lead key nor an email key is on the suppression list")
	if x {
		ignored := "0"
		if audit != nil {
			ignored = strconv.Itoa(len(audit.IgnoredConsents))
		}
		step(stepCounting, d.counting > 0, strconv.Itoa(d.counting)+" purpose(s) with a standing counting consent, "+
			ignored+" statement(s) of this event ignored")
	}
	if d.rule == RuleMinor {
		if x {
			step(RuleMinor, true, "under the age of digital consent ("+strconv.Itoa(f.AgeLimit)+
				" in "+countryName(f.Country)+") at occurred_at; "+f.ParentalWhy)
		}
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
		step(RuleMinor, false, why)
	}
	ch := f.Origin.Channel
	if ch == ChannelPurchasedList || ch == ChannelPartner {
		if d.rule == RuleThirdParty {
			if x {
				why := "channel " + ch + " "
				if f.ThirdParty == "" {
					why += "names no source.supplier or source.partner_id"
				} else {
					why += "names " + f.ThirdParty + " but carries no counting consent"
				}
				step(RuleThirdParty, true, why)
			}
			rec.Purposes = allNone("quarantined: " + RuleThirdParty)
			return
		}
		if x {
			step(RuleThirdParty, false, "channel "+ch+" names "+f.ThirdParty+" and carries a counting consent")
		}
	} else if x {
		step(RuleThirdParty, false, "channel "+ch+" is not a purchased list or a partner")
	}

	rec.Purposes = e.evidence(&v, &d, audit)
	if x && e.RPO != nil {
		why := "the lead's phone_marketing consent is not affected by the RPO check of " + e.RPO.CheckedAt.Format(time.RFC3339)
		if d.rpo != "" {
			why = d.rpo
		}
		step(stepRPO, d.rpo != "", why)
	}
	if x {
		var parts []string
		for p, name := range purposeNames {
			parts = append(parts, name+"="+d.bases[p])
		}
		step(stepBases, true, strings.Join(parts, " "))
	}
	if d.rule == RuleSocialNoConsent {
		step(RuleSocialNoConsent, true, "channel social with no basis for email, SMS or phone marketing and no request that grounds sales_followup")
		rec.Purposes = allNone("quarantined: " + RuleSocialNoConsent)
		return
	}
	if ch == ChannelSocial {
		step(RuleSocialNoConsent, false, "channel social with a marketing basis or a sales_followup request")
	} else if x {
		step(RuleSocialNoConsent, false, "channel "+ch+" is not social")
	}
	if d.rule == RuleReleased {
		step(RuleReleased, true, "a counting consent event released a lead its lead events alone would quarantine")
		return
	}
	step(RuleAccepted, true, "no rule quarantined or suppressed the lead")
}

// releasable reports whether a lead of channel ch can be quarantined for
// want of consent, and so released by one.
func releasable(ch string) bool {
	return ch == ChannelSocial || ch == ChannelPurchasedList || ch == ChannelPartner
}

// evidence is step 5 with its evidence: a counting consent, the soft
// opt-in for email, a request for sales_followup, else none.
func (e *Engine) evidence(v *view, d *verdict, audit *Audit) Purposes {
	var out Purposes
	for p, name := range purposeNames {
		b := out.Get(name)
		s := v.standing[p]
		switch d.src[p] {
		case srcConsent:
			*b = basis(BasisConsent, consentEvidence(s))
			if audit != nil {
				audit.ConsentProofs = append(audit.ConsentProofs, ConsentProof{
					Purpose: name, EventID: s.EventID, At: s.At, ProofRef: s.ProofRef, TextVersion: s.TextVersion,
				})
			}
		case srcStatement:
			*b = basis(BasisNone, noConsentEvidence(s))
		case srcSoftOptIn:
			*b = basis(BasisLegitimateInterests, "relationship.customer+email_from_purchase")
		case srcContract:
			*b = basis(BasisContract, "request.type="+v.facts.Request)
		case srcRPO:
			*b = basis(BasisNone, d.rpo)
		default:
			*b = basis(BasisNone, "no counting consent")
		}
	}
	return out
}

// consentEvidence is the evidence of a basis that rests on the granted
// statement s: "consent proof_ref=… text_version=… at=… event=… consents[i]".
func consentEvidence(s *statement) string {
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

// noConsentEvidence is the evidence of no basis for the denied or
// withdrawn statement s: "consent denied at … in event … consents[i]".
func noConsentEvidence(s *statement) string {
	var buf [128]byte
	b := append(append(buf[:0], "consent "...), s.Status...)
	b = s.At.UTC().AppendFormat(append(b, " at "...), time.RFC3339)
	b = append(append(b, " in event "...), s.EventID...)
	return string(appendWhere(b, s))
}

// appendWhere appends where in a lead event's consents s was stated.
func appendWhere(b []byte, s *statement) []byte {
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
