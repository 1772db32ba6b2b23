package classify

import (
	"container/heap"
	"slices"
	"time"
)

// Quarantine retention (GDPR Art. 5(1)(e), storage limitation): a lead
// quarantined for want of a counting consent is kept for
// Engine.QuarantineRetention of event time, the time its consent may
// still come in. Once the stream time of its State (the latest occurred_at
// of the events given to Expire) passes the start of its quarantine plus
// the retention, Expire purges it: its state is deleted, its email keys
// forget it, and its last record (DecisionPurged, RuleQuarantineExpired,
// without the raw lead id) tells the stream and the sink to delete what
// they hold of it. A counting consent that comes later finds no lead; a
// lead event that comes later starts a new history.
//
// The purge depends on when the stream time passes the deadline, so it is
// the one decision that depends on the order of events: an event that
// arrives after its lead was purged, dated before the deadline, is late,
// as an event past a window's grace is in Kafka Streams.

// Expire advances st's stream time to t, if t is later, and purges every
// lead whose quarantine began at or before t minus the retention. Call it
// before applying an event dated t, so that the event meets the state as
// of its time. It returns the purged leads' records (in Others), the state
// keys deleted, and the notices to their email keys.
func (e *Engine) Expire(st *State, t time.Time, now time.Time) Result {
	var r Result
	if limit := now.Add(MaxEventSkew); t.After(limit) {
		t = limit // Step refuses the event; the stream time does not follow it
	}
	if t.After(st.streamTime) {
		st.streamTime = t
	}
	if e.QuarantineRetention <= 0 {
		return r
	}
	cutoff := st.streamTime.Add(-e.QuarantineRetention).Unix()
	for st.expiry.Len() > 0 && st.expiry[0].since <= cutoff {
		x := heap.Pop(&st.expiry).(expiring)
		ls := st.leads[x.lead]
		if ls == nil || !ls.Quarantined || ls.QuarantinedSince != x.since {
			continue // released, erased, purged, or quarantined again since
		}
		e.purge(st, x.lead, ls, time.Unix(x.since, 0).UTC().Add(e.QuarantineRetention), &r)
	}
	return r
}

// ExpireAll is Expire for a State that holds every key (the offline tool,
// tests): the notices to the purged leads' email keys are delivered in st.
func (e *Engine) ExpireAll(st *State, t time.Time, now time.Time) Result {
	r := e.Expire(st, t, now)
	e.deliverAll(st, &r, now)
	return r
}

// purge deletes a lead whose quarantine expired at deadline.
func (e *Engine) purge(st *State, lk string, ls *leadState, deadline time.Time, r *Result) {
	rec := Record{
		EventID: RuleQuarantineExpired + ":" + deadline.Format(time.RFC3339), Key: ls.LeadID,
		Decision: DecisionPurged, Reason: RuleQuarantineExpired, Rule: RuleQuarantineExpired,
		Purposes: allNone("purged: quarantined since " + time.Unix(ls.QuarantinedSince, 0).UTC().Format(time.RFC3339) +
			" without a counting consent (Art. 5(1)(e))"),
		PolicyVersion: e.policy.Version, LeadKey: lk, KeyVersion: e.keyer.Version(),
		Seq: ls.Seq + 1, AsOf: ls.AsOf, OccurredAt: deadline, FirstSeen: ls.FirstSeen,
		Timeline: []Span{{From: deadline, Decision: DecisionPurged}}, LeftQuarantine: true,
	}
	r.Others = append(r.Others, rec)
	for _, ek := range ls.EmailKeys {
		r.Notices = append(r.Notices, Notice{Kind: NoticeLeadForget, EmailKey: ek, LeadKey: lk})
	}
	delete(st.leads, lk)
	r.changed(leadPrefix + lk)
}

// forget removes a purged lead from an email key; the key goes too once it
// holds no lead and no suppression.
func (e *Engine) forget(n *Notice, st *State, r *Result) {
	es := st.emails[n.EmailKey]
	if es == nil {
		return
	}
	i := slices.IndexFunc(es.Leads, func(l emailLead) bool { return l.Key == n.LeadKey })
	if i < 0 {
		return
	}
	es.Leads = slices.Delete(es.Leads, i, i+1)
	if len(es.Leads) == 0 && es.Objection == nil && es.Erasure == nil {
		delete(st.emails, n.EmailKey)
	}
	r.changed(emailPrefix + n.EmailKey)
}

// expiring is a lead in the expiry heap: the start of its quarantine, Unix
// seconds.
type expiring struct {
	since int64
	lead  string
}

// expiryHeap orders quarantined leads by the start of their quarantine. An
// entry outlives a release or a new quarantine of its lead; Expire skips
// it when it no longer matches the lead's state.
type expiryHeap []expiring

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	return h[i].since < h[j].since || h[i].since == h[j].since && h[i].lead < h[j].lead
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiring)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (h *expiryHeap) add(since int64, lead string) { heap.Push(h, expiring{since, lead}) }
