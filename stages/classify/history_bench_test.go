package classify

import (
	"strconv"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// BenchmarkHistory is classify's cost per event as a lead's history grows
// (issue 28): the next event of a lead that already has 1, 16, 64 or 256
// events. A lead's history is a lead event (a web form, an email and a
// phone number), then grants and withdrawals alternating over three
// purposes (email, SMS and phone marketing), one a minute. An op is what
// the stream does with one such event: Engine.Step against the State, then
// State.Encode of every state key it changed, the changelog records
// (pipeline/adapter/classify.go). It reports changelog-B/event, the bytes
// of those values (a tombstone counts 0), and changelog-records/event.
//
// historyLeads leads are given their prior events once, and their state
// kept as a changelog; each round restores a State from it and computes
// every lead's timeline, as a task holds them once its leads have had an
// event since its restore (not timed), then gives every lead its next
// event.
//
// Run: go test -run '^$' -bench BenchmarkHistory -benchmem -count 5 -cpu 1 ./stages/classify/
func BenchmarkHistory(b *testing.B) {
	for _, prior := range []int{1, 16, 64, 256} {
		b.Run("prior="+strconv.Itoa(prior), func(b *testing.B) {
			benchHistory(b, prior)
		})
	}
}

// historyLeads is the number of leads of BenchmarkHistory: enough that
// their state does not fit a core's cache.
const historyLeads = 256

func benchHistory(b *testing.B, prior int) {
	e := New(DefaultPolicy(), pseudonym.Development())
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	type event struct {
		ev  schemas.Event
		raw []byte
	}
	decode := func(raw string) event {
		ev, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		return event{ev, []byte(raw)}
	}
	// The changelog of the leads' prior events, and each lead's next event.
	st := NewState()
	changelog := map[string][]byte{}
	next := make([]event, historyLeads)
	for l := range historyLeads {
		for i := 0; i <= prior; i++ {
			x := decode(historyEvent(l, i))
			if i == prior {
				next[l] = x
				break
			}
			r, err := e.Step(x.ev, x.raw, st, now)
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range r.Changed {
				v, ok := st.Encode(k)
				if !ok {
					v = nil
				}
				changelog[k] = v
			}
		}
	}
	restore := func() *State {
		s := NewState()
		for k, v := range changelog {
			if v == nil {
				continue
			}
			if err := s.Restore(k, v); err != nil {
				b.Fatal(err)
			}
		}
		// What a task holds once its leads have had an event since the
		// restore: their timelines computed (rules.go).
		for _, ls := range s.leads {
			e.timeline(ls, s.suppressions(ls))
		}
		return s
	}
	st = restore()
	var bytes, records int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := i % historyLeads
		if l == 0 && i > 0 {
			b.StopTimer()
			st = restore()
			b.StartTimer()
		}
		r, err := e.Step(next[l].ev, next[l].raw, st, now)
		if err != nil {
			b.Fatal(err)
		}
		if r.Duplicate {
			b.Fatal("the next event is a duplicate")
		}
		for _, k := range r.Changed {
			v, _ := st.Encode(k)
			bytes += len(v)
			records++
		}
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "changelog-B/event")
	b.ReportMetric(float64(records)/float64(b.N), "changelog-records/event")
}

// historyEvent is event i of lead l of BenchmarkHistory: its lead event
// for i = 0, then a grant or a withdrawal, the purposes taken in turn and
// each granted, then withdrawn, then granted again.
func historyEvent(l, i int) string {
	id := "H" + strconv.Itoa(l)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(l)*time.Second + time.Duration(i)*time.Minute).Format(time.RFC3339)
	if i == 0 {
		return leadAt("h"+strconv.Itoa(l)+"-0", id, at, formKind,
			`"contact":{"email":"lead`+strconv.Itoa(l)+`@example.it","phone":"+39 02 1234 `+strconv.Itoa(1000+l)+`","country":"IT","birth_date":"1980-05-01"}`)
	}
	purpose := []string{"email_marketing", "sms_marketing", "phone_marketing"}[(i-1)%3]
	eid := "h" + strconv.Itoa(l) + "-" + strconv.Itoa(i)
	if (i-1)/3%2 == 0 {
		return consentAt(eid, id, at, purpose, "grant", grantProof)
	}
	return consentAt(eid, id, at, purpose, "withdraw")
}
