package classify

import (
	"slices"
	"time"
)

// Span is one stretch of a lead's timeline: from From on, until the next
// span, the lead had this decision, origin channel and profiling basis.
// Enrich reads it to key a behavior event only if the lead had a basis for
// profiling at the event's time.
type Span struct {
	// From is when the span starts; zero for an erased lead, whose single
	// span covers all time.
	From     time.Time `json:"from,omitzero"`
	Decision string    `json:"decision"`
	Channel  string    `json:"channel,omitempty"`
	// Profiling: accepted with a basis for profiling other than none.
	Profiling bool `json:"profiling,omitempty"`
}

// timeline is the lead's decision as of each time its history changes,
// from its first lead event on: the verdict of the events up to that time.
// Before the first span the lead is unknown.
//
// It is kept in the lead's state (timelineCache, in memory only) and
// extended in place when the only change since is statements later than
// every time it was computed at, the common case of a lead's events
// arriving in order: the cost of an event then does not grow with the
// lead's history. Any other change recomputes it whole (timelineOf).
func (e *Engine) timeline(ls *leadState, sups []suppression) []Span {
	c := ls.tl
	if c == nil || c.e != e {
		if c = e.timelineOf(ls, sups); c == nil {
			return nil
		}
		ls.tl = c
		return slices.Clip(c.spans)
	}
	if len(c.pending) > 0 {
		slices.SortFunc(c.pending, func(a, b statement) int { return a.compare(&b) })
		for i := 0; i < len(c.pending); {
			t := c.pending[i].At
			for ; i < len(c.pending) && c.pending[i].At.Equal(t); i++ {
				c.stand(&c.pending[i])
			}
			c.point(e, t)
		}
		c.pending = c.pending[:0]
	}
	return slices.Clip(c.spans)
}

// timelineCache is a lead's timeline as last computed, and the view as of
// its last point, from which a later statement extends it.
type timelineCache struct {
	e     *Engine // the engine (policy, RPO) that computed it
	spans []Span
	// last is the latest time the timeline has a point at: no fact,
	// statement or suppression of the lead is later.
	last time.Time
	// standing is the standing statement of each purpose as of last;
	// facts, sup and contacts the rest of the view.
	standing [numPurposes]*statement
	facts    *facts
	sup      *suppression
	contacts []string
	// pending are statements later than last, added since (addStatement).
	pending []statement
}

// stand makes s the standing statement of its purpose if it outranks the
// one there.
func (c *timelineCache) stand(s *statement) {
	p := purposeIndex(s.Purpose)
	if p < 0 {
		return
	}
	if cur := c.standing[p]; cur == nil || s.compare(cur) > 0 {
		x := *s
		c.standing[p] = &x
	}
}

// point adds the verdict as of t, the view held, unless it continues the
// last span.
func (c *timelineCache) point(e *Engine, t time.Time) {
	v := view{facts: c.facts, standing: c.standing, sup: c.sup, contacts: c.contacts, at: t}
	d := e.verdictOf(&v)
	s := Span{From: t.UTC(), Decision: d.decision, Channel: v.facts.Origin.Channel,
		Profiling: d.decision == DecisionAccepted && d.bases[pProfiling] != BasisNone}
	c.last = t
	if n := len(c.spans); n > 0 && c.spans[n-1].Decision == s.Decision && c.spans[n-1].Channel == s.Channel && c.spans[n-1].Profiling == s.Profiling {
		return
	}
	c.spans = append(c.spans, s)
}

// timelineOf computes the lead's timeline whole: one pass over its facts,
// statements (in rank order, so by time) and suppressions in time order.
func (e *Engine) timelineOf(ls *leadState, sups []suppression) *timelineCache {
	if len(ls.Facts) == 0 {
		return nil
	}
	c := &timelineCache{e: e, contacts: ls.EmailKeys}
	start := ls.Facts[0].OccurredAt
	times := make([]time.Time, 0, len(ls.Facts)+len(ls.Statements)+len(sups))
	for _, f := range ls.Facts {
		times = append(times, f.OccurredAt)
	}
	for i := range ls.Statements {
		if at := ls.Statements[i].At; at.After(start) {
			times = append(times, at)
		}
	}
	for i := range sups {
		if at := sups[i].At; at.After(start) {
			times = append(times, at)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	times = slices.CompactFunc(times, time.Time.Equal)
	bySupTime := make([]*suppression, len(sups))
	for i := range sups {
		bySupTime[i] = &sups[i]
	}
	slices.SortFunc(bySupTime, func(a, b *suppression) int { return a.At.Compare(b.At) })
	fi, si, ui := 0, 0, 0
	for _, t := range times {
		for ; fi < len(ls.Facts) && !ls.Facts[fi].OccurredAt.After(t); fi++ {
			c.facts = ls.Facts[fi]
		}
		for ; si < len(ls.Statements) && !ls.Statements[si].At.After(t); si++ {
			c.stand(&ls.Statements[si])
		}
		for ; ui < len(bySupTime) && !bySupTime[ui].At.After(t); ui++ {
			if bySupTime[ui].outranks(c.sup) {
				x := *bySupTime[ui]
				c.sup = &x
			}
		}
		c.point(e, t)
	}
	return c
}
