package classify

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// Suppression across leads, when the state is split by partition.
//
// A lead's state lives with the lead (keyed by lead id); an email key's
// state lives with the email key. The two meet through notices, as Kafka
// Streams joins through a re-keyed topic:
//
//  1. A lead that uses an email key, or whose own suppressions change,
//     sends an EmailUse to the email key: the lead, and its own
//     suppressions.
//  2. The email key keeps the earliest objection and erasure of its leads
//     and the leads themselves. When its suppressions change, it sends a
//     LeadSuppress to every one of its leads; a lead new to a suppressed
//     email key gets one too.
//  3. A lead keeps a copy of its email keys' suppressions and is evaluated
//     with them, like its own.
//
// Suppressions only ever grow, and every copy keeps the best of what it
// was sent, so the notices may arrive in any order, more than once: the
// state converges to the same value. The stream routes each notice through
// the leadpipe.suppressions topic, keyed by the email key or the lead id;
// Apply delivers them in the same State at once.

// Notice kinds.
const (
	NoticeEmailUse     = "email_use"
	NoticeLeadSuppress = "lead_suppress"
	// NoticeLeadForget tells an email key that one of its leads was purged
	// (Expire): the key forgets it.
	NoticeLeadForget = "lead_forget"
)

// Notice is a message from a lead to an email key or back.
type Notice struct {
	// Kind is NoticeEmailUse, NoticeLeadSuppress or NoticeLeadForget.
	Kind string `json:"kind"`
	// EmailKey is the email key concerned.
	EmailKey string `json:"email_key"`
	// LeadKey and LeadID name the lead; LeadID is "" for an erased lead.
	LeadKey string `json:"lead_key"`
	LeadID  string `json:"lead_id,omitempty"`
	// Objection and Erasure are the suppressions carried: the lead's own
	// (EmailUse) or the email key's (LeadSuppress).
	Objection *suppression `json:"objection,omitempty"`
	Erasure   *suppression `json:"erasure,omitempty"`
}

// Key is the key that routes the notice: the email key for an EmailUse or
// a LeadForget, the lead id for a LeadSuppress (the key of the lead's
// events).
func (n *Notice) Key() string {
	if n.Kind == NoticeEmailUse || n.Kind == NoticeLeadForget {
		return n.EmailKey
	}
	return n.LeadID
}

// sups holds the best objection and erasure of a set of suppressions.
type sups struct {
	Objection *suppression `json:"objection,omitempty"`
	Erasure   *suppression `json:"erasure,omitempty"`
}

// add keeps s if it outranks what is held of its kind; it reports whether
// it did.
func (x *sups) add(s *suppression) bool {
	if s == nil {
		return false
	}
	slot := &x.Objection
	if s.Reason == ReasonErasure {
		slot = &x.Erasure
	}
	if !s.outranks(*slot) {
		return false
	}
	c := *s
	*slot = &c
	return true
}

// covers reports whether own is the email key's suppression of its kind,
// or there is none.
func covers(own, email *suppression) bool {
	return email == nil || own != nil && *own == *email
}

// ownSups are the lead's own suppressions, best of each kind.
func (ls *leadState) ownSups() sups {
	var x sups
	for i := range ls.Suppressions {
		x.add(&ls.Suppressions[i])
	}
	return x
}

// emailLead is a lead of an email key.
type emailLead struct {
	Key string `json:"key"`
	ID  string `json:"id,omitempty"` // "" once the lead is erased
}

// useEmails returns the EmailUse notices of the lead for its email keys:
// all of them, or only the one given.
func (ls *leadState) useEmails(lk string, only string) []Notice {
	own := ls.ownSups()
	var out []Notice
	for _, ek := range ls.EmailKeys {
		if only != "" && ek != only {
			continue
		}
		out = append(out, Notice{Kind: NoticeEmailUse, EmailKey: ek, LeadKey: lk, LeadID: ls.LeadID,
			Objection: own.Objection, Erasure: own.Erasure})
	}
	return out
}

// Deliver applies a notice to st, which holds its key, and returns the
// records of the leads it re-classified (in Others), the state keys it
// changed, and the notices it sends on.
func (e *Engine) Deliver(n *Notice, st *State, now time.Time) Result {
	var r Result
	switch n.Kind {
	case NoticeEmailUse:
		es := st.email(n.EmailKey)
		joined := es.addLead(emailLead{Key: n.LeadKey, ID: n.LeadID})
		x := sups{es.Objection, es.Erasure}
		changed := x.add(n.Objection)
		changed = x.add(n.Erasure) || changed
		es.Objection, es.Erasure = x.Objection, x.Erasure
		if joined || changed {
			r.changed(emailPrefix + n.EmailKey)
		}
		if es.Objection == nil && es.Erasure == nil {
			break
		}
		// The sender needs the email key's suppressions only if they are
		// not its own.
		senderHas := covers(n.Objection, es.Objection) && covers(n.Erasure, es.Erasure)
		for _, l := range es.Leads {
			sender := l.Key == n.LeadKey
			if l.ID == "" || sender && senderHas || !changed && !(sender && joined) {
				continue
			}
			{
				r.Notices = append(r.Notices, Notice{Kind: NoticeLeadSuppress, EmailKey: n.EmailKey, LeadKey: l.Key, LeadID: l.ID,
					Objection: es.Objection, Erasure: es.Erasure})
			}
		}
	case NoticeLeadForget:
		e.forget(n, st, &r)
	case NoticeLeadSuppress:
		leadKey := n.LeadKey
		if _, ok := st.leads[leadKey]; !ok && n.LeadID != "" {
			// Addressed to the lead's key of a previous HMAC key version:
			// the lead goes on under its current key.
			lk := e.keyer.LeadKey(n.LeadID)
			e.rekey(st, n.LeadID, lk, &r)
			if _, ok := st.leads[lk]; ok {
				leadKey = lk
			}
		}
		ls := st.leads[leadKey]
		if ls == nil {
			ls = &leadState{}
			st.leads[leadKey] = ls
		}
		x := ls.EmailSups[n.EmailKey]
		changed := x.add(n.Objection)
		changed = x.add(n.Erasure) || changed
		if !changed {
			break
		}
		if ls.EmailSups == nil {
			ls.EmailSups = map[string]sups{}
		}
		ls.EmailSups[n.EmailKey] = x
		ls.tl = nil
		ls.Seq++
		r.changed(leadPrefix + leadKey)
		if ls.LeadID == "" || len(ls.Facts) == 0 {
			break // unknown, no lead event yet, or erased: nothing to re-classify
		}
		cause := x.Erasure
		if cause == nil {
			cause = x.Objection
		}
		rec := Record{
			EventID: cause.EventID, LeadID: ls.LeadID, Key: ls.LeadID, PolicyVersion: e.policy.Version,
			LeadKey: leadKey, KeyVersion: e.keyer.Version(), OccurredAt: cause.At,
		}
		e.evaluate(st, ls, &rec, nil, false, now)
		st.emitted(leadKey, ls, &rec)
		r.Others = append(r.Others, rec)
	}
	return r
}

// EventTypeReclassification is the event_type of the audit record of a
// lead re-classified by a notice: no event of its own, another lead's
// objection, withdrawal or erasure under one of its email keys.
const EventTypeReclassification = "reclassification"

// EventTypeRetention is the event_type of the audit record of a lead
// purged by Expire: no event either, the retention of its quarantine.
const EventTypeRetention = "retention"

// ReclassificationAudit is the audit record of rec, a lead's record that a
// notice produced (Result.Others of Deliver): every decision is recorded
// (Art. 5(2)), this one too. Its event id is the cause's with the lead
// key's first 16 characters, so that one cause re-classifying several
// leads records each once.
func (e *Engine) ReclassificationAudit(rec *Record, now time.Time) Audit {
	typ := EventTypeReclassification
	if rec.Decision == DecisionPurged {
		typ = EventTypeRetention
	}
	a := Audit{
		EventID: rec.EventID + "/" + rec.LeadKey[:min(16, len(rec.LeadKey))], EventType: typ,
		LeadKey: rec.LeadKey, KeyVersion: rec.KeyVersion, PolicyVersion: rec.PolicyVersion, At: now, OccurredAt: rec.OccurredAt,
		ConsentProofs: []ConsentProof{}, IgnoredConsents: []IgnoredConsent{},
	}
	a.Decision, a.Reason, a.Rule = rec.Decision, rec.Reason, rec.Rule
	return a
}

// deliverAll delivers r's notices, and those they send on, within st,
// adding their records and state keys to r: a State that holds every key.
func (e *Engine) deliverAll(st *State, r *Result, now time.Time) {
	own := false // the event's own lead was re-classified
	for len(r.Notices) > 0 {
		n := r.Notices[0]
		r.Notices = r.Notices[1:]
		d := e.Deliver(&n, st, now)
		for _, k := range d.Changed {
			r.changed(k)
		}
		for _, rec := range d.Others {
			if rec.LeadKey == r.Record.LeadKey {
				own = true
				continue
			}
			r.replace(rec)
		}
		r.Notices = append(r.Notices, d.Notices...)
	}
	if !own {
		return
	}
	// The event's own record and audit, evaluated again with what its
	// email keys brought back (a re-import of an objector's address).
	ls := st.leads[r.Record.LeadKey]
	before := r.Record.Decision
	rec := Record{EventID: r.Record.EventID, LeadID: r.Record.LeadID, Key: r.Record.Key, PolicyVersion: r.Record.PolicyVersion,
		LeadKey: r.Record.LeadKey, KeyVersion: r.Record.KeyVersion, OccurredAt: r.Record.OccurredAt}
	r.Audit.ConsentProofs = r.Audit.ConsentProofs[:0]
	e.evaluate(st, ls, &rec, &r.Audit, e.Explain, now)
	rec.LeftQuarantine = r.Record.LeftQuarantine || ls.Quarantined && rec.Decision != DecisionQuarantined
	st.emitted(r.Record.LeadKey, ls, &rec)
	r.Record = rec
	if rec.Decision == DecisionSuppressed && before != DecisionSuppressed {
		for i, p := range r.consents {
			r.ignore(p, "consents["+strconv.Itoa(i)+"]: the lead is on the suppression list ("+rec.Reason+", by email key)")
		}
	}
	r.finish()
}

// addLead records a lead of the email key; it reports whether the lead is
// new to it. An erased lead's id is forgotten.
func (es *emailState) addLead(l emailLead) bool {
	i, found := slices.BinarySearchFunc(es.Leads, l.Key, func(e emailLead, k string) int { return cmp.Compare(e.Key, k) })
	if found {
		if l.ID == "" {
			es.Leads[i].ID = ""
		}
		return false
	}
	es.Leads = slices.Insert(es.Leads, i, l)
	if len(es.Leads) > maxEmailLeads {
		es.Leads = es.Leads[1:]
	}
	return true
}
