// Package enrich decides what a behavior event carries into analytics:
// the origin channel and decision of its lead, and the lead's pseudonymous
// key only while the lead had a basis for profiling at the event's time.
// Anonymous visitors, unknown leads and leads without a profiling basis
// stay anonymous: privacy by default (GDPR Art. 25).
package enrich

import (
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// Classification is what enrich needs to know of one classification of a
// lead, taken from leads.classified or leads.quarantine.
type Classification struct {
	At         time.Time // when it took effect: the occurred_at of the event behind it
	Decision   string    // accepted, quarantined, suppressed, erased
	Channel    string    // origin channel
	Profiling  bool      // the profiling purpose had a basis other than none
	LeadKey    string
	KeyVersion string
}

// maxHistory bounds the classifications kept per lead.
const maxHistory = 8

// Leads holds the recent classifications of the most recently seen leads,
// at most size of them. A lead evicted from it is unknown again, and its
// events are anonymous until it is classified anew: the bound errs on the
// side of privacy. Leads is safe for concurrent use.
type Leads struct {
	cache *lru.Cache[string, []Classification]
}

// NewLeads returns a table of at most size leads.
func NewLeads(size int) *Leads {
	c, err := lru.New[string, []Classification](size)
	if err != nil {
		panic(err) // only for size <= 0, which Config.Validate refuses
	}
	return &Leads{cache: c}
}

// Put records a classification of leadID. History stays ordered by At.
func (l *Leads) Put(leadID string, c Classification) {
	old, _ := l.cache.Peek(leadID)
	h := make([]Classification, 0, len(old)+1)
	h = append(h, old...)
	i, _ := slices.BinarySearchFunc(h, c.At, func(e Classification, t time.Time) int { return e.At.Compare(t) })
	// An equal time is a later decision about the same moment: it goes after.
	for i < len(h) && !h[i].At.After(c.At) {
		i++
	}
	h = slices.Insert(h, i, c)
	if len(h) > maxHistory {
		h = h[len(h)-maxHistory:]
	}
	l.cache.Add(leadID, h)
}

// At returns the classification of leadID in force at t.
func (l *Leads) At(leadID string, t time.Time) (Classification, bool) {
	h, ok := l.cache.Get(leadID)
	if !ok {
		return Classification{}, false
	}
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].At.After(t) {
			return h[i], true
		}
	}
	return Classification{}, false
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
}

// Decisions an enriched event can carry besides the classify decisions.
const (
	DecisionAnonymous = "anonymous" // the event had no lead id
	DecisionUnknown   = "unknown"   // the lead was not classified at the event's time
	ChannelUnknown    = "unknown"
)

// Enrich returns the enriched form of ev. known reports whether the lead
// (if any) had a classification at the event's time.
func Enrich(ev *schemas.Behavior, leads *Leads, keys *pseudonym.Keyer) (out Event, known bool) {
	out = Event{
		EventID:    ev.ID,
		OccurredAt: ev.OccurredAt.UTC(),
		Action:     ev.Action,
		Channel:    ChannelUnknown,
		Decision:   DecisionAnonymous,
		KeyVersion: keys.Version(),
		Value:      ev.Value,
		Currency:   ev.Currency,
	}
	if ev.Product != nil {
		out.ProductID = ev.Product.ID
		out.Category = ev.Product.Category
		if out.Value == 0 && ev.Action == "purchase" {
			out.Value = ev.Product.Price
		}
	}
	id := ev.AnonymousID
	if ev.Lead != "" {
		id = ev.Lead
		out.Decision = DecisionUnknown
		if c, ok := leads.At(ev.Lead, ev.OccurredAt); ok {
			known = true
			out.Channel = c.Channel
			out.Decision = c.Decision
			if c.Decision == "accepted" && c.Profiling {
				out.LeadKey = c.LeadKey
				out.KeyVersion = c.KeyVersion
			}
		}
	}
	// A daily pseudonym: distinct visitors per day can be counted, but a
	// visitor cannot be followed from one day to the next through it.
	out.VisitorKey = keys.Key("visitor", out.OccurredAt.Format("2006-01-02")+"|"+id)
	return out, known
}
