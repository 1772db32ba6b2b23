// Package classify decides, for each lead and consent event, what leadpipe
// may do with the lead and why: its origin, the legal basis of each purpose
// (GDPR Art. 6(1)) with the evidence it rests on, and whether the lead is
// accepted, quarantined, suppressed or erased.
//
// It is pure decision logic: an event and the State in, a Result out, with
// no Kafka, no ClickHouse and no logging. The stream stage and the offline
// tool `leadpipe classify` call the very same Engine, so that the demo shows
// exactly what production decides.
//
// The policy is data (policy.yaml, embedded; see LoadPolicy). Rules are
// evaluated in this order, the first that decides winning:
//
//  1. suppressed_objection, suppressed_withdrawal, suppressed_erasure: the
//     lead key or the email key is on the suppression list.
//  2. Consent counting: a grant counts only with at, method, text_version,
//     collection_point or proof_ref, none blank, a method the policy lists
//     as an affirmative act (affirmative_methods), and at not in the
//     future; for each purpose the latest statement wins, a denial at
//     equal times.
//  3. minor_no_parental_consent: under the age of digital consent of its
//     country at occurred_at, without parental_consent.
//  4. third_party_no_proof: a purchased list or partner lead without a named
//     supplier or partner and a counting consent.
//  5. Bases per purpose: consent, the soft opt-in (email only), contract for
//     sales_followup on the lead's own request, else none.
//  6. social_no_consent: a social lead with no marketing basis and no
//     request.
//  7. accepted, or released_by_consent for a quarantined lead that a consent
//     event releases.
//
// Consent events apply grant, withdraw, object (suppressed_objection) and
// erase (erased); for a lead never seen the decision is no_lead, and the
// statement is kept for when the lead arrives.
package classify

import (
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// Decisions.
const (
	DecisionAccepted    = "accepted"
	DecisionQuarantined = "quarantined"
	DecisionSuppressed  = "suppressed"
	DecisionErased      = "erased"
	// DecisionPurged is a quarantined lead's last record once its
	// quarantine outlived Engine.QuarantineRetention: what was held of it
	// is deleted (Art. 5(1)(e), storage limitation).
	DecisionPurged  = "purged"
	DecisionInvalid = "invalid"
	DecisionNoLead  = "no_lead"
	// DecisionDuplicate is only ever an audit's: the event was applied
	// before, with the same content, and changed nothing.
	DecisionDuplicate = "duplicate"
)

// Rule ids. They are stable: records, audits and dashboards name them.
const (
	RuleSuppressedObjection  = "suppressed_objection"
	RuleSuppressedWithdrawal = "suppressed_withdrawal"
	RuleSuppressedErasure    = "suppressed_erasure"
	RuleErased               = "erased"
	RuleMinor                = "minor_no_parental_consent"
	RuleThirdParty           = "third_party_no_proof"
	RuleSocialNoConsent      = "social_no_consent"
	RuleAccepted             = "accepted"
	RuleReleased             = "released_by_consent"
	RuleNoLead               = "no_lead"
	RuleDuplicate            = "duplicate_event"
	RuleQuarantineExpired    = "quarantine_expired"
)

// Steps that explain lists besides the rules above.
const (
	stepSuppression = "suppression_list"
	stepCounting    = "consent_counting"
	stepBases       = "legal_basis"
	stepRPO         = "rpo_opposition_register"
)

// Reasons of a suppression.
const (
	ReasonObjection = "objection"
	ReasonErasure   = "erasure"
)

// Legal bases (GDPR Art. 6(1)).
const (
	BasisConsent             = "consent"
	BasisContract            = "contract"
	BasisLegalObligation     = "legal_obligation"
	BasisVitalInterests      = "vital_interests"
	BasisPublicTask          = "public_task"
	BasisLegitimateInterests = "legitimate_interests"
	BasisNone                = "none"
)

// article is the article of the GDPR of basis b; "" for none.
func article(b string) string {
	switch b {
	case BasisConsent:
		return "Art. 6(1)(a)"
	case BasisContract:
		return "Art. 6(1)(b)"
	case BasisLegalObligation:
		return "Art. 6(1)(c)"
	case BasisVitalInterests:
		return "Art. 6(1)(d)"
	case BasisPublicTask:
		return "Art. 6(1)(e)"
	case BasisLegitimateInterests:
		return "Art. 6(1)(f)"
	}
	return ""
}

// Basis is the legal basis of one purpose and the evidence it rests on.
type Basis struct {
	// Basis is consent, contract, legitimate_interests, … or none.
	Basis string `json:"basis"`
	// Article is the article of the GDPR ("Art. 6(1)(a)"); "" for none.
	Article string `json:"article"`
	// Evidence is what the basis rests on: a consent's proof, a
	// relationship, a request, or why there is none.
	Evidence string `json:"evidence"`
}

func basis(b, evidence string) Basis {
	return Basis{Basis: b, Article: article(b), Evidence: evidence}
}

// Purposes holds the basis of every purpose; JSON renders it as an object
// keyed by purpose.
type Purposes struct {
	EmailMarketing    Basis `json:"email_marketing"`
	SMSMarketing      Basis `json:"sms_marketing"`
	PhoneMarketing    Basis `json:"phone_marketing"`
	Profiling         Basis `json:"profiling"`
	ThirdPartySharing Basis `json:"third_party_sharing"`
	SalesFollowup     Basis `json:"sales_followup"`
}

// Get returns the basis of a purpose, or nil for an unknown purpose.
func (p *Purposes) Get(purpose string) *Basis {
	switch purpose {
	case "email_marketing":
		return &p.EmailMarketing
	case "sms_marketing":
		return &p.SMSMarketing
	case "phone_marketing":
		return &p.PhoneMarketing
	case "profiling":
		return &p.Profiling
	case "third_party_sharing":
		return &p.ThirdPartySharing
	case "sales_followup":
		return &p.SalesFollowup
	}
	return nil
}

func allNone(evidence string) Purposes {
	n := basis(BasisNone, evidence)
	return Purposes{n, n, n, n, n, n}
}

// Step is one rule of explain: whether it matched and why.
type Step struct {
	Rule    string `json:"rule"`
	Matched bool   `json:"matched"`
	Why     string `json:"why"`
}

// Record is the classification of a lead after one event: what goes to
// leads.classified or leads.quarantine, and the offline tool's output line.
// It holds no email, phone or name. Everything but EventID, OccurredAt, Seq
// and Explain is a function of the set of events applied to the lead, not
// of their order: the last record of a lead (its highest Seq) is the same
// for the same events in any order.
type Record struct {
	// EventID is the event that produced this record (for a lead
	// re-classified by another lead's suppression, that lead's event).
	EventID string `json:"event_id"`
	// LeadID is the raw lead id; "" in the record of an erased lead.
	LeadID   string   `json:"lead_id,omitempty"`
	Decision string   `json:"decision"`
	Reason   string   `json:"reason,omitempty"`
	Origin   Origin   `json:"origin,omitzero"`
	Purposes Purposes `json:"purposes,omitzero"`
	Rule     string   `json:"rule"`
	// PolicyVersion is the version of the policy that decided.
	PolicyVersion string `json:"policy_version"`
	// LeadKey is the HMAC-SHA256 of the lead id; KeyVersion names its key.
	LeadKey    string `json:"lead_key"`
	KeyVersion string `json:"key_version"`
	// Seq grows by one with every change of the lead's state: of two
	// records of a lead, the one with the higher Seq is current.
	Seq uint64 `json:"seq"`
	// AsOf is the latest occurred_at of the events applied to the lead.
	AsOf time.Time `json:"as_of,omitzero"`
	// OccurredAt is the occurred_at of the event that produced this record.
	OccurredAt time.Time `json:"occurred_at"`
	// FirstSeen is the occurred_at of the lead's earliest lead event.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// Country is the lead's contact.country.
	Country string `json:"country,omitempty"`
	// Timeline is the lead's decision as of each time its history changed.
	Timeline []Span `json:"timeline,omitempty"`
	// Erasure is the erasure request of an erased lead: the one the sink
	// carries out and gives a receipt for.
	Erasure *ErasureRequest `json:"erasure,omitempty"`
	// Explain lists the rules evaluated, when Engine.Explain is set.
	Explain []Step `json:"explain,omitempty"`

	// Key is the Kafka key of the record: the raw lead id, kept even when
	// LeadID is blanked by an erasure.
	Key string `json:"-"`
	// LeftQuarantine tells that the lead's previous record was quarantined
	// and this one is not: leads.quarantine gets a tombstone for the lead.
	LeftQuarantine bool `json:"-"`
}

// ErasureRequest names the consent event that asked for a lead's erasure
// (GDPR Art. 17), the earliest when there are several.
type ErasureRequest struct {
	EventID     string    `json:"event_id"`
	RequestedAt time.Time `json:"requested_at"`
}

// Audit is the record of one decision for leadpipe.audit (GDPR Art. 5(2)).
type Audit struct {
	EventID       string `json:"event_id"`
	EventType     string `json:"event_type"`
	LeadKey       string `json:"lead_key"`
	KeyVersion    string `json:"key_version"`
	Decision      string `json:"decision"`
	Reason        string `json:"reason"`
	Rule          string `json:"rule"`
	PolicyVersion string `json:"policy_version"`
	// InputSHA256 is the hex SHA-256 of the event as received.
	InputSHA256 string `json:"input_sha256"`
	// ConsentProofs are the consents the purposes' bases rest on.
	ConsentProofs []ConsentProof `json:"consent_proofs"`
	// IgnoredConsents are this event's consent statements that did not count.
	IgnoredConsents []IgnoredConsent `json:"ignored_consents"`
	// At is the processing time.
	At time.Time `json:"at"`
	// OccurredAt is the time of the event decided on: the same in every
	// copy of the record, where At is not. The sink finds a copy's
	// original by it (decisions_landed).
	OccurredAt time.Time `json:"occurred_at"`
}

// ConsentProof is a consent a basis rests on.
type ConsentProof struct {
	Purpose     string    `json:"purpose"`
	EventID     string    `json:"event_id"`
	At          time.Time `json:"at"`
	ProofRef    string    `json:"proof_ref,omitempty"`
	TextVersion string    `json:"text_version,omitempty"`
}

// IgnoredConsent is a consent statement that did not count, and why.
type IgnoredConsent struct {
	Purpose string `json:"purpose"`
	Why     string `json:"why"`
}

// Result is the outcome of one event.
type Result struct {
	// Record goes to leads.classified, or leads.quarantine when
	// quarantined; nowhere when its decision is no_lead.
	Record Record
	// Others are the records of other leads this event re-classified: an
	// objection, a withdrawal of "all" or an erasure reaches every lead
	// that used one of the lead's email keys.
	Others []Record
	// Audit goes to leadpipe.audit.
	Audit Audit
	// Changed are the state keys this call changed; the stream writes
	// State.Encode of each to the changelog.
	Changed []string
	// Notices are for other leads' email keys or other leads (notice.go):
	// Step leaves them to the caller, Apply delivers them.
	Notices []Notice
	// Duplicate tells that the event was applied before with the same
	// content: nothing changed, and only the audit is to be written.
	Duplicate bool
	// IgnoredMethods has, per grant of the event ignored because its
	// method is not an affirmative act, the method's label
	// (Policy.MethodLabel: the policy's name, or "other").
	IgnoredMethods []string `json:"-"`

	consents []string // the purposes of a lead event's consents, in order
}

// Engine classifies events under a policy. It is safe for concurrent use
// with distinct States.
type Engine struct {
	policy *Policy
	keyer  *pseudonym.Keyer
	// Explain adds to every Record the rules evaluated and why each matched
	// or not.
	Explain bool
	// QuarantineRetention is how long, in event time, a lead may stay
	// quarantined without a counting consent before Expire purges it;
	// zero keeps quarantined leads until they are released or erased.
	QuarantineRetention time.Duration
	// RPO is the latest check of Italy's Registro Pubblico delle
	// Opposizioni, which limits phone_marketing (see RPO); nil: none.
	RPO *RPO
}

// New returns an Engine for policy p that keys leads and emails with k.
func New(p *Policy, k *pseudonym.Keyer) *Engine {
	return &Engine{policy: p, keyer: k}
}

func (e *Engine) newResult(eventID, eventType, leadID, leadKey string, occurred time.Time, raw []byte, now time.Time) Result {
	return Result{
		Record: Record{
			EventID: eventID, LeadID: leadID, Key: leadID, PolicyVersion: e.policy.Version,
			LeadKey: leadKey, KeyVersion: e.keyer.Version(), OccurredAt: occurred,
		},
		Audit: Audit{
			EventID: eventID, EventType: eventType, LeadKey: leadKey, KeyVersion: e.keyer.Version(),
			PolicyVersion: e.policy.Version, InputSHA256: digest(raw), At: now, OccurredAt: occurred,
			ConsentProofs: []ConsentProof{}, IgnoredConsents: []IgnoredConsent{},
		},
	}
}

// duplicate turns r into the result of a duplicate event: the audit alone.
func (r *Result) duplicate() Result {
	r.Duplicate = true
	r.Record.Decision, r.Record.Rule = DecisionDuplicate, RuleDuplicate
	r.Audit.Decision, r.Audit.Rule = DecisionDuplicate, RuleDuplicate
	r.Audit.Reason = "event_id applied before with the same content"
	return *r
}

// replace adds the record of another lead, replacing an earlier one of the
// same lead in this result.
func (r *Result) replace(rec Record) {
	for i := range r.Others {
		if r.Others[i].LeadKey == rec.LeadKey {
			r.Others[i] = rec
			return
		}
	}
	r.Others = append(r.Others, rec)
}

// finish copies the decision into the audit.
func (r *Result) finish() {
	r.Audit.Decision, r.Audit.Reason, r.Audit.Rule = r.Record.Decision, r.Record.Reason, r.Record.Rule
}

func (r *Result) changed(key string) {
	for _, k := range r.Changed {
		if k == key {
			return
		}
	}
	r.Changed = append(r.Changed, key)
}

// explain adds a step to the record when on. A why that has to be built
// (concatenated) is built only under `if on` at the call site: explain is
// off on the stream's hot path.
func (r *Result) explain(on bool, rule string, matched bool, why string) {
	if on {
		r.Record.Explain = append(r.Record.Explain, Step{Rule: rule, Matched: matched, Why: why})
	}
}

// ignoreGrant records a grant that does not count, and its method when
// that is why.
func (r *Result) ignoreGrant(p *Policy, purpose, method, why string) {
	if mw := p.methodWhy(method); mw != "" && strings.HasSuffix(why, mw) {
		label, _ := p.MethodLabel(method)
		r.IgnoredMethods = append(r.IgnoredMethods, label)
	}
	r.ignore(purpose, why)
}

func (r *Result) ignore(purpose, why string) {
	r.Audit.IgnoredConsents = append(r.Audit.IgnoredConsents, IgnoredConsent{Purpose: purpose, Why: why})
}
