// Package enrich decides what a behavior event carries into analytics:
// the origin channel and decision of its lead as of the event's time, and
// the lead's pseudonymous key only if the lead had a basis for profiling
// then. It reads the lead's timeline (classify.Span), which classify
// computes from every event of the lead, so the answer for an event at time
// t does not depend on whether classify saw the lead's later events first.
// Anonymous visitors, unknown leads and leads without a profiling basis
// stay anonymous: privacy by default (GDPR Art. 25). The visitor's own
// consent signals on the page (schemas.PageConsent, read by a
// SignalPolicy) decide too: without analytics consent the event carries
// no key at all, without profiling consent no lead key, whatever the lead's
// basis (the stricter of the two wins).
package enrich

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// Lead is what enrich needs to know of a lead: its timeline, from the
// lead's latest record on leads.classified or leads.quarantine.
type Lead struct {
	// Seq orders the lead's records: the one with the highest is current.
	Seq uint64
	// AsOf is the latest event time classify had applied to the lead.
	AsOf time.Time
	// Timeline is the lead's decision, channel and profiling basis from
	// each time its history changed.
	Timeline   []classify.Span
	LeadKey    string
	KeyVersion string
}

// Leads holds the current timeline of the most recently seen leads, at
// most size of them. A lead evicted from it is unknown again, and its
// events are anonymous until it is classified anew: the bound errs on the
// side of privacy. Leads is safe for concurrent use.
type Leads struct {
	mu    sync.Mutex // makes Put's compare and add one step
	cache *lru.Cache[string, Lead]
}

// NewLeads returns a table of at most size leads.
func NewLeads(size int) *Leads {
	c, err := lru.New[string, Lead](size)
	if err != nil {
		panic(err) // only for size <= 0, which Config.Validate refuses
	}
	return &Leads{cache: c}
}

// Put records the lead's record unless one with a higher Seq is held:
// whatever order the two classification topics are read in, the current
// record wins.
func (l *Leads) Put(leadID string, c Lead) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.cache.Peek(leadID); ok && old.Seq > c.Seq {
		return
	}
	l.cache.Add(leadID, c)
}

// Forget drops leadID's record if it is as of asOf or earlier: the lead
// was purged (classify.DecisionPurged) with that history. A record of a
// new history of the same lead id (a later lead event, read first from
// the other classification topic) is later, and stays.
func (l *Leads) Forget(leadID string, asOf time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.cache.Peek(leadID); ok && !old.AsOf.After(asOf) {
		l.cache.Remove(leadID)
	}
}

// At returns the span of leadID's timeline in force at t, and whether
// classify had applied the lead's events up to t (settled): a lead not
// settled may still change as of t.
func (l *Leads) At(leadID string, t time.Time) (span classify.Span, lead Lead, found, settled bool) {
	c, ok := l.cache.Get(leadID)
	if !ok {
		return classify.Span{}, Lead{}, false, false
	}
	settled = !c.AsOf.Before(t)
	for i := len(c.Timeline) - 1; i >= 0; i-- {
		if !c.Timeline[i].From.After(t) {
			if c.Timeline[i].Decision == classify.DecisionErased {
				settled = true // an erased lead stays erased
			}
			return c.Timeline[i], c, true, settled
		}
	}
	return classify.Span{}, c, false, settled
}

// Len is the number of leads held.
func (l *Leads) Len() int { return l.cache.Len() }

// Event is an enriched behavior event, the value of behavior.enriched. It
// carries no raw identifier: no lead id, anonymous id, or URL.
type Event struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	Action     string    `json:"action"`
	Channel    string    `json:"channel"`
	Decision   string    `json:"decision"`
	LeadKey    string    `json:"lead_key,omitempty"`
	KeyVersion string    `json:"key_version"`
	VisitorKey string    `json:"visitor_key"`
	ProductID  string    `json:"product_id,omitempty"`
	Category   string    `json:"category,omitempty"`
	Value      float64   `json:"value,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	// Analytics and Profiling are what the visitor's consent signals
	// allowed, and AnalyticsSignal and ProfilingSignal the signal that
	// decided each (one of Signals). Profiling is the signal's verdict;
	// the lead key also needs the lead's own basis.
	Analytics       bool   `json:"analytics"`
	AnalyticsSignal string `json:"analytics_signal"`
	Profiling       bool   `json:"profiling"`
	ProfilingSignal string `json:"profiling_signal"`
}

// Decisions an enriched event can carry besides the classify decisions.
const (
	DecisionAnonymous = "anonymous" // the event had no lead id
	DecisionUnknown   = "unknown"   // the lead was not classified at the event's time
	ChannelUnknown    = "unknown"
)

// Enrich returns the enriched form of ev. settled reports whether the
// answer is final as far as classify knows: the event is anonymous, or
// classify had applied its lead's events up to the event's time. An event
// whose lead is not settled may be enriched again a moment later, when
// classify has caught up. sig decides what the event's consent signals
// allow: the visitor key only with analytics, the lead key only with
// profiling as well as the lead's basis.
func Enrich(ev *schemas.Behavior, leads *Leads, keys *pseudonym.Keyer, sig *SignalPolicy) (out Event, settled bool) {
	v := sig.Decide(ev.Consent)
	out = Event{
		EventID:    ev.ID,
		OccurredAt: ev.OccurredAt.UTC(),
		Action:     ev.Action,
		Channel:    ChannelUnknown,
		Decision:   DecisionAnonymous,
		KeyVersion: keys.Version(),
		Value:      ev.Value,
		Currency:   ev.Currency,

		Analytics: v.Analytics, AnalyticsSignal: v.AnalyticsSignal,
		Profiling: v.Profiling, ProfilingSignal: v.ProfilingSignal,
	}
	if ev.Product != nil {
		out.ProductID = ev.Product.ID
		out.Category = ev.Product.Category
		if out.Value == 0 && ev.Action == "purchase" {
			out.Value = ev.Product.Price
		}
	}
	id := ev.AnonymousID
	settled = true
	if ev.Lead != "" {
		id = ev.Lead
		out.Decision = DecisionUnknown
		span, lead, found, ok := leads.At(ev.Lead, ev.OccurredAt)
		settled = ok
		if found {
			out.Decision = span.Decision
			if span.Channel != "" {
				out.Channel = span.Channel
			}
			if span.Decision == classify.DecisionAccepted && span.Profiling && v.Profiling {
				out.LeadKey = lead.LeadKey
				out.KeyVersion = lead.KeyVersion
			}
		}
	}
	if v.Analytics {
		out.VisitorKey = keys.VisitorKey(id, out.OccurredAt)
	}
	return out, settled
}
