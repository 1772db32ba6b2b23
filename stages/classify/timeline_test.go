package classify

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// flipping is a lead whose history alternates grants and withdrawals of
// profiling, email and SMS marketing, one a minute, enough statements to
// pass the bound: its timeline changes with every profiling statement.
func flipping(lead string, n int) []string {
	purposes := []string{"profiling", "email_marketing", "sms_marketing"}
	start := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	out := []string{leadAt(lead+"-e0", lead, start.Format(time.RFC3339), adultIT, social)}
	for i := 1; i < n; i++ {
		at := start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		id := lead + "-c" + strconv.Itoa(i)
		if (i-1)/3%2 == 0 {
			out = append(out, consentAt(id, lead, at, purposes[(i-1)%3], "grant", grantProof))
		} else {
			out = append(out, consentAt(id, lead, at, purposes[(i-1)%3], "withdraw"))
		}
	}
	return out
}

// TestATimelineExtendedEventByEventIsTheOneComputedWhole: a lead's timeline
// is kept between events and extended by a later statement (rules.go);
// after every event, in order and shuffled, it must equal the timeline
// computed whole from the lead's history, for every lead of the order
// scenario and for leads whose histories pass the statements' bound.
func TestATimelineExtendedEventByEventIsTheOneComputedWhole(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	long := append(flipping("F1", 90), flipping("F2", 20)...)
	check := func(t *testing.T, st *State, after string) {
		t.Helper()
		for lk, ls := range st.leads {
			sups := st.suppressions(ls)
			got := e.timeline(ls, sups)
			var want []Span
			if c := e.timelineOf(ls, sups); c != nil {
				want = c.spans
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("after %s, lead %s: timeline kept\n%+v\ncomputed whole\n%+v", after, lk[:8], got, want)
			}
		}
	}
	t.Run("in order, the timeline is extended, not recomputed", func(t *testing.T) {
		st := NewState()
		extended := 0
		for _, raw := range long {
			var before *timelineCache
			if ls := st.leads[e.keyer.LeadKey("F1")]; ls != nil {
				before = ls.tl
			}
			apply(t, e, st, raw)
			if ls := st.leads[e.keyer.LeadKey("F1")]; before != nil && ls.tl == before {
				extended++
			}
			check(t, st, raw[:40])
		}
		if extended < 80 {
			t.Errorf("the timeline of F1 was extended after %d of its 89 consents, want nearly all (recomputed once per %d past the bound)", extended, statementSlack)
		}
		if n := len(st.leads[e.keyer.LeadKey("F1")].tl.spans); n < 20 {
			t.Errorf("F1's timeline has %d spans: its profiling does not flip, the test proves little", n)
		}
	})
	t.Run("shuffled, with the order scenario", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range 40 {
			events := append(append([]string(nil), scenario...), long...)
			rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
			st := NewState()
			for _, raw := range events {
				apply(t, e, st, raw)
				check(t, st, "permutation "+strconv.Itoa(i))
			}
		}
	})
}
