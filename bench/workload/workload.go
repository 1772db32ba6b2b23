package workload

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// The raw topics, unprefixed, and the kinds of event written to them.
const (
	TopicLeads    = "leads.raw"
	TopicConsents = "consents.raw"
	TopicBehavior = "behavior.raw"

	KindLead     = "lead"
	KindConsent  = "consent"
	KindBehavior = "behavior"
)

// Latest bounds every generated time: the corpus lies wholly before it, so no
// consent it carries is ever in the future of a pipeline run after it.
var Latest = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// MaxLeads is the largest Config.Leads accepted. Generation keeps about 300
// bytes of state per lead until the lead's last event (65 MiB of heap for
// 200,000 leads).
const MaxLeads = 10_000_000

// Config says what corpus to generate. Start from DefaultConfig: a zero value
// is not valid, and a zero rate means zero, not the default.
type Config struct {
	// Seed selects the corpus: the same Seed and Config give the same events,
	// byte for byte.
	Seed uint64
	// Leads is the number of distinct leads, from 1 to MaxLeads.
	Leads int
	// BehaviorPerLead is the mean number of behavior events per lead,
	// anonymous ones included (default 20). The count per lead is skewed:
	// many leads browse little, a few browse a lot.
	BehaviorPerLead float64
	// MalformedRate is the fraction of events, on every topic, that are
	// deliberately invalid (default 0.02).
	MalformedRate float64
	// AnonymousRate is the fraction of behavior events that carry the
	// visitor's anonymous_id instead of the lead_id (default 0.2).
	AnonymousRate float64
	// Start is the time of the earliest event (default 2026-01-05T08:00:00Z).
	Start time.Time
	// Span is how long the events last (default 30 days); Start+Span must
	// not be after Latest.
	Span time.Duration
	// Domain is the host of the site's own pages, e.g. "shop.example.com":
	// behavior URLs, landing pages and direct-traffic referrers use it.
	Domain string
	// NoSignals leaves the visitor's consent signals out of behavior
	// events, as before issue 26: the harness measures what reading them
	// costs. Every other byte is the same.
	NoSignals bool
}

// DefaultConfig returns the defaults: 1,000 leads, 20 behavior events per
// lead, 2% malformed, 20% anonymous, 30 days from 2026-01-05T08:00:00Z on
// shop.example.com, seed 1.
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Leads:           1000,
		BehaviorPerLead: 20,
		MalformedRate:   0.02,
		AnonymousRate:   0.2,
		Start:           time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC),
		Span:            30 * 24 * time.Hour,
		Domain:          "shop.example.com",
	}
}

// Validate reports, in whole sentences, everything wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Leads < 1 || c.Leads > MaxLeads {
		errs = append(errs, fmt.Errorf("leads must be between 1 and %d, not %d", MaxLeads, c.Leads))
	}
	if !(c.BehaviorPerLead >= 0 && c.BehaviorPerLead <= 10000) {
		errs = append(errs, fmt.Errorf("behavior per lead must be between 0 and 10000, not %v", c.BehaviorPerLead))
	}
	if !(c.MalformedRate >= 0 && c.MalformedRate <= 1) {
		errs = append(errs, fmt.Errorf("malformed rate must be a fraction between 0 and 1, not %v", c.MalformedRate))
	}
	if !(c.AnonymousRate >= 0 && c.AnonymousRate <= 1) {
		errs = append(errs, fmt.Errorf("anonymous rate must be a fraction between 0 and 1, not %v", c.AnonymousRate))
	}
	if c.Start.IsZero() {
		errs = append(errs, errors.New("start must be set; begin from DefaultConfig()"))
	}
	if c.Span < time.Hour {
		errs = append(errs, fmt.Errorf("span must be at least one hour, not %v", c.Span))
	}
	if !c.Start.IsZero() && c.Start.Add(c.Span).After(Latest) {
		errs = append(errs, fmt.Errorf("start plus span must not be after %s, so that no consent is in the future; it is %s",
			Latest.Format(time.RFC3339), c.Start.Add(c.Span).UTC().Format(time.RFC3339)))
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, "/:?#@ \t\"\\") || strings.ToLower(c.Domain) != c.Domain {
		errs = append(errs, fmt.Errorf("domain must be a lower-case host name such as shop.example.com, not %q", c.Domain))
	}
	return errors.Join(errs...)
}

// Event is one generated Kafka message. Key and Value belong to the receiver.
type Event struct {
	Topic     string    // TopicLeads, TopicConsents or TopicBehavior
	Kind      string    // KindLead, KindConsent or KindBehavior
	Key       []byte    // the lead_id, the anonymous_id of anonymous behavior, empty for some malformed events
	Value     []byte    // the JSON event
	Time      time.Time // when it occurred (also for malformed events whose occurred_at is broken)
	Malformed bool      // deliberately invalid
}

// Generate calls emit for every event of the corpus cfg describes, in time
// order, deterministically: a lead's first lead event comes before its
// consent events, and some of its behavior comes before it (visitors browse
// before they sign up). It stops at, and returns, the first error of emit.
func Generate(cfg Config, emit func(Event) error) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("workload config: %w", err)
	}
	g := newGenerator(cfg)
	for len(g.heap) > 0 {
		a := g.heap[0]
		ev := g.render(a)
		if err := emit(ev); err != nil {
			return err
		}
		if a.advance(g) {
			g.fix()
		} else {
			g.pop()
		}
	}
	return nil
}

// All returns the whole corpus Generate would emit.
func All(cfg Config) ([]Event, error) {
	n := 0
	if cfg.Leads > 0 && cfg.BehaviorPerLead > 0 {
		n = int(float64(cfg.Leads) * (cfg.BehaviorPerLead + 2))
	}
	evs := make([]Event, 0, min(n, 1<<24))
	err := Generate(cfg, func(e Event) error {
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

// generator holds the run's shared state: the catalogue, the corrupter, the
// event counter, and a min-heap of actors ordered by their next event.
type generator struct {
	cfg       Config
	start     int64 // ms
	end       int64 // ms, exclusive
	anonT     uint64
	malT      uint64
	rng       rand.PCG // malformation decisions, drawn in emission order
	seq       uint64   // events emitted
	seedText  []byte   // "ev-<seed>-"
	catalogue []product
	buf       []byte // the value being rendered
	tail      []byte // the end of a lead event being rendered
	key       []byte // the key being rendered
	eventID   []byte // the event id being rendered
	heap      []*actor
}

func newGenerator(cfg Config) *generator {
	g := &generator{
		cfg:   cfg,
		start: cfg.Start.UnixMilli(),
		end:   cfg.Start.Add(cfg.Span).UnixMilli(),
		anonT: threshold(cfg.AnonymousRate),
		malT:  threshold(cfg.MalformedRate),
		buf:   make([]byte, 0, 4096),
	}
	g.rng.Seed(mix64(cfg.Seed^0x6d616c66), mix64(cfg.Seed+1))
	g.seedText = fmt.Appendf(nil, "ev-%d-", cfg.Seed)
	g.catalogue = newCatalogue(cfg.Seed)
	orphans := (cfg.Leads + 99) / 100
	g.heap = make([]*actor, 0, cfg.Leads+orphans)
	for i := range cfg.Leads + orphans {
		a := newActor(g, i)
		if a.pending() {
			g.heap = append(g.heap, a)
		}
	}
	for i := len(g.heap)/2 - 1; i >= 0; i-- {
		g.down(i)
	}
	return g
}

// less orders actors by their next event's time, then by lead index.
func less(a, b *actor) bool {
	if a.next != b.next {
		return a.next < b.next
	}
	return a.idx < b.idx
}

func (g *generator) down(i int) {
	h := g.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// fix restores the heap after the head's next event moved later.
func (g *generator) fix() { g.down(0) }

func (g *generator) pop() {
	n := len(g.heap) - 1
	g.heap[0] = g.heap[n]
	g.heap[n] = nil
	g.heap = g.heap[:n]
	if n > 0 {
		g.down(0)
	}
}

// render builds the event the actor at the head of the heap has pending.
func (g *generator) render(a *actor) Event {
	g.seq++
	w := jw{b: g.buf[:0]}
	var ev Event
	var ef eventFacts
	switch a.nextKind {
	case stepLead:
		ev.Topic, ev.Kind = TopicLeads, KindLead
		ef = g.lead(&w, a)
	case stepConsent:
		ev.Topic, ev.Kind = TopicConsents, KindConsent
		ef = g.consent(&w, a)
	default:
		ev.Topic, ev.Kind = TopicBehavior, KindBehavior
		ef = g.behavior(&w, a)
	}
	g.buf, g.key, g.eventID = w.b[:0], ef.id[:0], ef.eventID[:0]
	value, key := w.b, ef.id
	if g.rng.Uint64()>>11 < g.malT {
		ev.Malformed = true
		value, key = g.malform(value, key, ev.Kind, ef)
	}
	mem := make([]byte, len(key)+len(value))
	copy(mem, key)
	copy(mem[len(key):], value)
	ev.Key = mem[:len(key):len(key)]
	ev.Value = mem[len(key):]
	ev.Time = time.UnixMilli(a.next).UTC()
	return ev
}

// eventFacts tells the corrupter what a rendered event holds.
type eventFacts struct {
	id        []byte // the lead_id or anonymous_id written, the Kafka key
	anonymous bool
	eventID   []byte
	consents  bool // a lead event with a consents array
}

// appendEventID appends this event's id, "ev-<seed>-<n>".
func (g *generator) appendEventID(b []byte) []byte {
	b = append(b, g.seedText...)
	return appendUint(b, g.seq)
}

func appendUint(b []byte, n uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
