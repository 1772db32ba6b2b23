package classify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// MaxEventSkew is how far after the processing time an event's
// occurred_at may be. A later one is refused (dead-lettered): a clock gone
// wrong, or an attempt to move the stream time on and purge every
// quarantined lead of a partition at once (expire.go).
const MaxEventSkew = 24 * time.Hour

// ErrEventIDReused is the error of an event whose event_id was applied to
// its lead before with other content: it is dead-lettered, never applied.
var ErrEventIDReused = errors.New("event_id_reused")

// marketing are the purposes a withdrawal of "all" ends: every marketing
// purpose and profiling.
var marketing = []string{"email_marketing", "sms_marketing", "phone_marketing", "profiling"}

// Apply classifies a lead or consent event against st, in two steps: the
// event is merged into its lead's history (and, for a suppression, into the
// history of every email key the lead used), then the lead's history is
// evaluated. raw is the event as received (its SHA-256 goes into the
// audit); now is the processing time, against which a consent's time is
// checked. The result is a function of the set of events applied, whatever
// their order.
//
// An event id applied before with the same bytes is a duplicate: Apply
// changes nothing and returns a Result with Duplicate set and only the
// audit. With other bytes it returns an error wrapping ErrEventIDReused.
//
// Apply is for a State that holds every lead and email key (the offline
// tool, tests): the notices an event sends to other leads' email keys
// (notice.go) are delivered in st at once, and the records of the leads
// they re-classify are in Result.Others. A stream whose state is split by
// partition calls Step and routes the notices itself.
func (e *Engine) Apply(ev schemas.Event, raw []byte, st *State, now time.Time) (Result, error) {
	r, err := e.Step(ev, raw, st, now)
	if err != nil {
		return r, err
	}
	e.deliverAll(st, &r, now)
	return r, nil
}

// Step is Apply without delivering the notices: they are in
// Result.Notices, to be delivered (Deliver) to the State that holds their
// key.
func (e *Engine) Step(ev schemas.Event, raw []byte, st *State, now time.Time) (Result, error) {
	if t := ev.Occurred(); t.After(now.Add(MaxEventSkew)) {
		return Result{}, fmt.Errorf("occurred_at: is more than %v after the processing time", MaxEventSkew)
	}
	switch ev := ev.(type) {
	case *schemas.Lead:
		return e.lead(ev, raw, st, now)
	case *schemas.Consent:
		return e.consent(ev, raw, st, now)
	}
	return Result{}, errors.New("type: " + ev.EventType() + " events are not classified; give lead and consent events")
}

// lead applies a lead event; see Step.
func (e *Engine) lead(ev *schemas.Lead, raw []byte, st *State, now time.Time) (Result, error) {
	lk := e.keyer.LeadKey(ev.Lead)
	r := e.newResult(ev.ID, schemas.TypeLead, ev.Lead, lk, ev.OccurredAt, raw, now)
	e.rekey(st, ev.Lead, lk, &r)
	ls, dup, err := st.begin(lk, ev.ID, r.Audit.InputSHA256)
	if err != nil || dup {
		return r.duplicate(), err
	}
	ls.applied(ev.OccurredAt)
	r.changed(leadPrefix + lk)
	erased := ls.erasure() != nil
	if !erased {
		ls.LeadID = ev.Lead
		if ls.FirstSeen.IsZero() || ev.OccurredAt.Before(ls.FirstSeen) {
			ls.FirstSeen = ev.OccurredAt
		}
	}
	phone := leadPhone(ev)
	for _, ek := range e.emailKeys(ev, phone) {
		if ls.addEmailKey(ek) {
			r.Notices = append(r.Notices, ls.useEmails(lk, ek)...)
		}
	}
	for i := range ev.Consents {
		r.consents = append(r.consents, ev.Consents[i].Purpose)
	}
	switch {
	case erased:
		for i := range ev.Consents {
			r.ignore(ev.Consents[i].Purpose, "consents["+strconv.Itoa(i)+"]: the lead is erased (Art. 17)")
		}
	default:
		f := e.facts(ev, phone, now)
		ls.addFacts(f)
		e.mergeLeadConsents(ev, f, ls, now, &r)
		if s := e.suppressionOf(st, ls, time.Time{}); s != nil {
			for i := range ev.Consents {
				r.ignore(ev.Consents[i].Purpose, "consents["+strconv.Itoa(i)+"]: the lead is on the suppression list ("+s.Reason+")")
			}
		}
	}
	e.evaluate(st, ls, &r.Record, &r.Audit, e.Explain, now)
	st.emitted(lk, ls, &r.Record)
	r.finish()
	return r, nil
}

// consent applies a consent event; see Step. For a lead whose lead event
// has not been seen, the decision is no_lead and the statement is kept for
// when the lead arrives.
func (e *Engine) consent(ev *schemas.Consent, raw []byte, st *State, now time.Time) (Result, error) {
	lk := e.keyer.LeadKey(ev.Lead)
	r := e.newResult(ev.ID, schemas.TypeConsent, ev.Lead, lk, ev.OccurredAt, raw, now)
	e.rekey(st, ev.Lead, lk, &r)
	ls, dup, err := st.begin(lk, ev.ID, r.Audit.InputSHA256)
	if err != nil || dup {
		return r.duplicate(), err
	}
	ls.applied(ev.OccurredAt)
	r.changed(leadPrefix + lk)
	erased := ls.erasure() != nil

	switch ev.Action {
	case "erase":
		ls.addSuppression(suppression{Reason: ReasonErasure, Rule: RuleSuppressedErasure, EventID: ev.ID, At: ev.OccurredAt})
		// Art. 17: forget everything but the suppression, the pseudonymous
		// email keys that keep it, and the event ids.
		ls.LeadID, ls.Facts, ls.Statements, ls.FirstSeen, ls.tl = "", nil, nil, time.Time{}, nil
		r.Notices = ls.useEmails(lk, "")
	case "object":
		ls.addSuppression(suppression{Reason: ReasonObjection, Rule: RuleSuppressedObjection, EventID: ev.ID, At: ev.OccurredAt})
		r.Notices = ls.useEmails(lk, "")
	case "withdraw":
		purposes := []string{ev.Purpose}
		if ev.Purpose == schemas.PurposeAll {
			purposes = marketing
			ls.addSuppression(suppression{Reason: ReasonObjection, Rule: RuleSuppressedWithdrawal, EventID: ev.ID, At: ev.OccurredAt})
			r.Notices = ls.useEmails(lk, "")
		}
		if !erased {
			for _, p := range purposes {
				ls.addStatement(statement{Purpose: p, At: ev.OccurredAt, Status: "withdrawn", EventID: ev.ID})
			}
		}
	case "grant":
		switch why := e.proofMissingOf(ev, now); {
		case erased:
			r.ignore(ev.Purpose, "the lead is erased (Art. 17)")
		case why != "":
			r.ignoreGrant(e.policy, ev.Purpose, ev.Method, why)
		default:
			ls.addStatement(statement{
				Purpose: ev.Purpose, At: ev.OccurredAt, Status: "granted", EventID: ev.ID, ProofRef: ev.ProofRef,
				TextVersion: ev.TextVersion, CollectionPoint: ev.CollectionPoint,
			})
			// The statement is kept (it counts as of its time, and once
			// the lead is no longer a minor), but the audit says why it
			// does not count now.
			if why := e.notCountingNow(st, ls); why != "" {
				r.ignore(ev.Purpose, why)
			}
		}
	}
	e.evaluate(st, ls, &r.Record, &r.Audit, e.Explain, now)
	if ev.Action == "erase" && e.Explain {
		r.explain(true, RuleErased, true, "consent event "+ev.ID+" asks for erasure (Art. 17)")
	}
	st.emitted(lk, ls, &r.Record)
	r.finish()
	return r, nil
}

// begin finds or creates the state of lead key lk and checks the event id:
// dup when it was applied with the same digest, ErrEventIDReused when with
// another.
func (st *State) begin(lk, eventID, digest string) (ls *leadState, dup bool, err error) {
	ls = st.leads[lk]
	if ls == nil {
		ls = &leadState{}
		st.leads[lk] = ls
	}
	if d, ok := ls.seen(eventID); ok {
		if d == digest {
			return ls, true, nil
		}
		return ls, false, fmt.Errorf("%w: event_id: applied to this lead before with other content", ErrEventIDReused)
	}
	ls.remember(eventID, digest)
	return ls, false, nil
}

// applied advances the lead's sequence and event time.
func (ls *leadState) applied(at time.Time) {
	ls.Seq++
	if at.After(ls.AsOf) {
		ls.AsOf = at
	}
}

// emitted notes the record emitted for the lead: whether it leaves the
// quarantine (leads.quarantine then gets a tombstone).
func (st *State) emitted(lk string, ls *leadState, rec *Record) {
	if rec.Decision == DecisionNoLead {
		return
	}
	q := rec.Decision == DecisionQuarantined
	rec.LeftQuarantine = ls.Quarantined && !q
	ls.Decision, ls.Rule, ls.Quarantined = rec.Decision, rec.Rule, q
	since := int64(0)
	if q {
		since = quarantineStart(rec).Unix()
	}
	if since != ls.QuarantinedSince {
		ls.QuarantinedSince = since
		if since != 0 {
			st.expiry.add(since, lk)
		}
	}
}

// quarantineStart is when a quarantined record's current quarantine
// began: the start of the last stretch of its timeline that is
// quarantined, or its as_of without a timeline.
func quarantineStart(rec *Record) time.Time {
	start := rec.AsOf
	for i := len(rec.Timeline) - 1; i >= 0 && rec.Timeline[i].Decision == DecisionQuarantined; i-- {
		start = rec.Timeline[i].From
	}
	return start
}

func (st *State) email(k string) *emailState {
	es := st.emails[k]
	if es == nil {
		es = &emailState{}
		st.emails[k] = es
	}
	return es
}

// proofMissingOf returns why a consent event's grant cannot count, from
// what the event itself shows, or "".
func (e *Engine) proofMissingOf(ev *schemas.Consent, now time.Time) string {
	if ev.Purpose == schemas.PurposeAll {
		return `a grant for "all" does not count: consent must be specific to a purpose (Art. 4(11))`
	}
	return e.proofMissing(ev.OccurredAt, ev.Method, ev.TextVersion, ev.CollectionPoint, ev.ProofRef, now, "occurred_at")
}

// notCountingNow returns why a kept grant does not count for the lead as
// it stands, or "".
func (e *Engine) notCountingNow(st *State, ls *leadState) string {
	if s := e.suppressionOf(st, ls, time.Time{}); s != nil {
		return "the lead is on the suppression list (" + s.Reason + ")"
	}
	if latestFacts(ls, time.Time{}).minorWithoutParent() {
		return "the lead is a minor without parental consent (Art. 8)"
	}
	return ""
}

// proofMissing returns why a grant does not count (GDPR Art. 7(1): the
// controller must be able to demonstrate consent), or "" when it counts.
func (e *Engine) proofMissing(at time.Time, method, textVersion, collectionPoint, proofRef string, now time.Time, atField string) string {
	// A blank or whitespace-only field proves nothing: it counts as missing.
	blank := func(v string) bool { return strings.TrimSpace(v) == "" }
	var missing []string
	if at.IsZero() {
		missing = append(missing, atField)
	}
	if blank(method) {
		missing = append(missing, "method")
	}
	if blank(textVersion) {
		missing = append(missing, "text_version")
	}
	if blank(collectionPoint) && blank(proofRef) {
		missing = append(missing, "collection_point or proof_ref")
	}
	if len(missing) > 0 {
		return "no proof of consent: it has no " + strings.Join(missing, ", no ")
	}
	if why := e.policy.methodWhy(method); why != "" {
		return why
	}
	if at.After(now.Add(e.policy.ClockSkew)) {
		return atField + " is in the future, beyond " + e.policy.ClockSkew.String() + " of clock skew"
	}
	return ""
}

// mergeLeadConsents keeps the statements of a lead event that count: every
// denial, and every grant with its proof. A grant of a minor without
// parental consent is kept but the audit says it does not count.
func (e *Engine) mergeLeadConsents(ev *schemas.Lead, f *facts, ls *leadState, now time.Time, r *Result) {
	minor := f.minorWithoutParent()
	for i := range ev.Consents {
		c := &ev.Consents[i]
		where := "consents[" + strconv.Itoa(i) + "]: "
		if c.Status == "denied" {
			at := c.At
			if at.IsZero() {
				at = ev.OccurredAt // a denial always counts
			}
			ls.addStatement(statement{Purpose: c.Purpose, At: at, Status: "denied", EventID: ev.ID, Index: i + 1})
			continue
		}
		if why := e.proofMissing(c.At, c.Method, c.TextVersion, c.CollectionPoint, c.ProofRef, now, "at"); why != "" {
			r.ignoreGrant(e.policy, c.Purpose, c.Method, where+why)
			continue
		}
		ls.addStatement(statement{
			Purpose: c.Purpose, At: c.At, Status: "granted", EventID: ev.ID, Index: i + 1,
			ProofRef: c.ProofRef, TextVersion: c.TextVersion, CollectionPoint: c.CollectionPoint,
		})
		if minor {
			r.ignore(c.Purpose, where+"the lead is a minor without parental consent (Art. 8)")
		}
	}
}

// leadPhone is a lead event's phone number in E.164 (schemas.NormalizePhone,
// in the lead's country), or "" when it has none or it cannot be told. A
// lead event's number is parsed once, here: its keys and its facts use it.
func leadPhone(ev *schemas.Lead) string {
	c := ev.Contact
	if c == nil || c.Phone == "" {
		return ""
	}
	num, _ := schemas.NormalizePhone(c.Phone, c.Country)
	return num
}

// emailKeys are the keys of a lead event's contact points for suppression
// matching, each kept as an "email key" (the state's name for them, from
// before phones were keyed): its email address in its normalised form
// (schemas.NormalizeEmail) and, unless the policy says otherwise, without
// its sub-address; and its phone number in E.164 (phone, from leadPhone),
// so that an objection made under one lead id by phone or by email reaches
// the leads of the same number or address.
func (e *Engine) emailKeys(ev *schemas.Lead, phone string) []string {
	c := ev.Contact
	if c == nil {
		return nil
	}
	var keys []string
	keyers := append([]*pseudonym.Keyer{e.keyer}, e.keyer.Previous()...)
	if c.Email != "" {
		if addr, why := schemas.NormalizeEmail(c.Email); why == "" { // else refused by validation before
			base, sub := schemas.BaseAddress(addr)
			for _, k := range keyers {
				keys = append(keys, k.EmailKey(addr))
				if sub && e.policy.subAddressing() {
					keys = append(keys, k.EmailKey(base))
				}
			}
		}
	}
	if phone != "" {
		for _, k := range keyers {
			keys = append(keys, k.PhoneKey(phone))
		}
	}
	return keys
}

// rekey moves a lead's state kept under its key of a previous HMAC key
// version to its current key lk, the first time the lead is seen after a
// rotation: its history, consents and suppressions go on under the new
// key, and the old key's changelog entry is deleted.
func (e *Engine) rekey(st *State, leadID, lk string, r *Result) {
	if _, ok := st.leads[lk]; ok {
		return
	}
	for _, k := range e.keyer.Previous() {
		old := k.LeadKey(leadID)
		ls, ok := st.leads[old]
		if !ok {
			continue
		}
		delete(st.leads, old)
		st.leads[lk] = ls
		if ls.Quarantined {
			st.expiry.add(ls.QuarantinedSince, lk)
		}
		r.changed(leadPrefix + old)
		r.changed(leadPrefix + lk)
		return
	}
}

// facts extracts what the policy needs of a lead event; phone is its
// number in E.164 (leadPhone).
func (e *Engine) facts(ev *schemas.Lead, phone string, now time.Time) *facts {
	p := e.policy
	f := &facts{EventID: ev.ID, OccurredAt: ev.OccurredAt, Age: -1}
	f.Origin, f.OriginStep, f.OriginWhy = p.originOf(ev.Source)
	if c := ev.Contact; c != nil {
		f.Country = c.Country
		f.PhoneIT = strings.HasPrefix(phone, "+39")
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

// digest is the hex SHA-256 of raw.
func digest(raw []byte) string {
	sum := sha256.Sum256(raw)
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	return string(hexSum[:])
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
