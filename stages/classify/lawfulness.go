package classify

import (
	"strconv"
	"strings"
)

// What the accountability report (`leadpipe report`) needs to know of the
// engine, written beside the rules it describes: the legal bases each
// purpose can get and when (Lawfulness), the rules with their legal
// sources (Rules), and why an ignored grant was ignored, as a category
// (IgnoredReasonOf). Each is a function of the policy and the rules of
// rules.go and engine.go, and the tests hold them to what the engine does.

// BasisSource is one legal basis a purpose can rest on under the policy:
// the basis, its point of GDPR Art. 6(1), the further law it rests on,
// and when the engine gives it.
type BasisSource struct {
	Basis   string `json:"basis"`
	Article string `json:"article"`
	Law     string `json:"law"`
	When    string `json:"when"`
}

// PurposeBases is a processing purpose and the legal bases it can rest on,
// in the order the engine tries them. A purpose without one of them has
// the basis none: leadpipe gives no basis for it.
type PurposeBases struct {
	Purpose string        `json:"purpose"`
	Bases   []BasisSource `json:"bases"`
}

// Lawfulness lists every purpose with the legal bases the policy can give
// it (rules.go, verdictOf step 5), for a record of processing activities
// (Art. 30) or a DPIA.
func (p *Policy) Lawfulness() []PurposeBases {
	consent := BasisSource{
		Basis: BasisConsent, Article: article(BasisConsent), Law: "Art. 4(11), Art. 7, Art. 8(1); Recital 32",
		When: "the purpose's standing statement is a grant that counts (see when a consent counts, below)",
	}
	withLaw := func(b BasisSource, law string) BasisSource {
		b.Law += "; " + law
		return b
	}
	out := make([]PurposeBases, 0, numPurposes)
	for i, name := range purposeNames {
		var bases []BasisSource
		switch i {
		case pEmail:
			bases = []BasisSource{withLaw(consent, "ePrivacy Directive Art. 13(1)"), {
				Basis: BasisLegitimateInterests, Article: article(BasisLegitimateInterests), Law: "ePrivacy Directive Art. 13(2) (soft opt-in)",
				When: "no statement for the purpose, and the lead is a customer whose address came from a purchase",
			}}
		case pSMS:
			bases = []BasisSource{withLaw(consent, "ePrivacy Directive Art. 13(1)")}
		case pPhone:
			c := withLaw(consent, "ePrivacy Directive Art. 13(3); in Italy the Registro Pubblico delle Opposizioni (DPR 26/2022)")
			c.When += "; with an RPO check (--rpo), a registered number only with consent given after its registration, and after " +
				strconv.Itoa(int(RPOValidity.Hours()/24)) + " days of the check only with consent given after the check"
			bases = []BasisSource{c}
		case pProfiling:
			bases = []BasisSource{withLaw(consent, "Art. 21(2) (objection)")}
		case pThirdParty:
			bases = []BasisSource{consent}
		case pSales:
			bases = []BasisSource{consent, {
				Basis: BasisContract, Article: article(BasisContract), Law: "steps taken at the data subject's request before a contract",
				When: "no statement for the purpose, and the lead's own request is one of " + strings.Join(p.SalesFollowupRequests, ", "),
			}}
		}
		out = append(out, PurposeBases{Purpose: name, Bases: bases})
	}
	return out
}

// ConsentTerms says when a grant counts under the policy (engine.go,
// proofMissing; rules.go, asOf and verdictOf).
func (p *Policy) ConsentTerms() string {
	return "a grant counts when it names one purpose (not all), has at, method, text_version and collection_point or proof_ref, " +
		"none blank, is made by one of the " + strconv.Itoa(len(p.AffirmativeMethods)) + " affirmative methods the policy lists, " +
		"and is dated at most " + p.ClockSkew.String() + " ahead of the processing clock; the latest statement of a purpose stands " +
		"(a denial at equal times); under the age of digital consent it counts only with parental consent, and never for a " +
		"suppressed or erased lead"
}

// RuleSource is one rule of the engine: its id (what records, audits and
// ClickHouse name), the decision it leads to, its legal source, and what
// it checks.
type RuleSource struct {
	Rule     string `json:"rule"`
	Decision string `json:"decision"`
	Law      string `json:"law"`
	What     string `json:"what"`
}

// Rules lists the rules a decision names, in the order the engine applies
// them (DESIGN.md, "The rules and where the law says so").
func Rules() []RuleSource {
	return []RuleSource{
		{RuleErased, DecisionErased, "Art. 17", "an erasure request, by lead id or by an email or phone key: the lead is erased everywhere and gets a receipt"},
		{RuleSuppressedObjection, DecisionSuppressed, "Art. 21(2)-(3)", "an objection under the lead, or under one of its email or phone keys"},
		{RuleSuppressedWithdrawal, DecisionSuppressed, "Art. 7(3)", "a withdrawal of every purpose (all)"},
		{RuleSuppressedErasure, DecisionSuppressed, "Art. 17", "an erasure under one of the lead's email or phone keys"},
		{RuleMinor, DecisionQuarantined, "Art. 8(1)", "under the age of digital consent of the lead's country, without proven parental consent"},
		{RuleThirdParty, DecisionQuarantined, "Art. 14, Art. 7(1)", "a purchased list or partner lead without a named source and a counting consent"},
		{RuleSocialNoConsent, DecisionQuarantined, "Art. 6(1)(a); ePrivacy Directive Art. 13", "a social lead without a marketing basis or a request of its own"},
		{RuleReleased, DecisionAccepted, "Art. 6(1)(a)", "a quarantined lead released by a counting consent"},
		{RuleAccepted, DecisionAccepted, "Art. 6(1)", "no rule quarantined or suppressed the lead; each purpose has the basis it rests on, or none"},
		{RuleQuarantineExpired, DecisionPurged, "Art. 5(1)(e)", "quarantined without a counting consent for the quarantine retention (--quarantine-days): purged everywhere"},
	}
}

// Why a grant was ignored, as the report counts it (IgnoredReasonOf).
const (
	// IgnoredMethodNotAffirmative: its method is not an affirmative act
	// the policy lists (Art. 4(11), Recital 32; CJEU C-673/17 Planet49).
	IgnoredMethodNotAffirmative = "method_not_affirmative"
	// IgnoredProofMissing: at, method, text_version, or both
	// collection_point and proof_ref, missing or blank (Art. 7(1)).
	IgnoredProofMissing = "proof_missing"
	// IgnoredFutureDated: dated beyond the policy's clock skew.
	IgnoredFutureDated = "future_dated"
	// IgnoredNotSpecific: a grant for "all" purposes (Art. 4(11)).
	IgnoredNotSpecific = "not_specific"
	// IgnoredMinor: the lead is under the age of digital consent without
	// parental consent (Art. 8).
	IgnoredMinor = "minor_without_parental_consent"
	// IgnoredSuppressed: the lead is on the suppression list.
	IgnoredSuppressed = "lead_suppressed"
	// IgnoredErased: the lead is erased (Art. 17).
	IgnoredErased = "lead_erased"
	// IgnoredOther: a reason this version does not know (an audit record
	// written by another version).
	IgnoredOther = "other"
)

// IgnoredReasons are the categories of IgnoredReasonOf, in the order a
// report lists them: the three that tell of the consent's collection
// first.
var IgnoredReasons = []string{IgnoredMethodNotAffirmative, IgnoredProofMissing, IgnoredFutureDated,
	IgnoredNotSpecific, IgnoredMinor, IgnoredSuppressed, IgnoredErased, IgnoredOther}

// ignoredMarks are the phrases of the reasons engine.go and policy.go
// write into an audit's ignored_consents, by category; the first that
// a reason contains decides.
var ignoredMarks = []struct{ mark, reason string }{
	{"no proof of consent", IgnoredProofMissing},
	{"is not an affirmative act", IgnoredMethodNotAffirmative},
	{"lists as an affirmative act", IgnoredMethodNotAffirmative},
	{"is in the future", IgnoredFutureDated},
	{"consent must be specific", IgnoredNotSpecific},
	{"minor without parental consent", IgnoredMinor},
	{"on the suppression list", IgnoredSuppressed},
	{"the lead is erased", IgnoredErased},
}

// IgnoredReasonOf returns the category of why, the reason an audit record
// gives for an ignored grant (IgnoredConsent.Why, with or without its
// "consents[i]: " and its purpose before it): one of IgnoredReasons.
func IgnoredReasonOf(why string) string {
	for _, m := range ignoredMarks {
		if strings.Contains(why, m.mark) {
			return m.reason
		}
	}
	return IgnoredOther
}
