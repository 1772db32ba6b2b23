package adapter

import (
	"testing"
	"time"
)

// look is one look of followClassify at leadpipe.suppressions: classify's
// committed offsets, then the ends read after them.
type look struct{ committed, ends map[int]int64 }

func TestCheckpointsBegunALookApartPassTheNoticeHopsTogether(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	w1, w2 := t0, t0.Add(20*time.Millisecond)
	classification := map[string]map[int]int64{"leads.classified": {0: 7}}
	ends := func() map[string]map[int]int64 { return classification }
	have := func(map[string]map[int]int64) bool { return true }

	var cps []checkpoint
	var published time.Time
	// Classify commits leadpipe.suppressions up to what it had at the look
	// before: each hop takes one look.
	looks := []struct {
		look
		w    time.Time
		want time.Time
	}{
		{look{map[int]int64{0: 0}, map[int]int64{0: 10}}, w1, time.Time{}},
		{look{map[int]int64{0: 5}, map[int]int64{0: 12}}, w2, time.Time{}},
		// Both reach the notices written before them: one hop each.
		{look{map[int]int64{0: 12}, map[int]int64{0: 20}}, time.Time{}, time.Time{}},
		// The notices those caused are committed: both are through.
		{look{map[int]int64{0: 20}, map[int]int64{0: 25}}, time.Time{}, w2},
	}
	for i, l := range looks {
		if !l.w.IsZero() {
			cps = addCheckpoint(cps, l.w, l.ends)
		}
		cps, published = advance(cps, l.committed, l.ends, ends, have)
		if !published.Equal(l.want) {
			t.Fatalf("look %d: published %v, want %v (checkpoints left %d): a checkpoint waited for the one before it to pass every hop first", i+1, published, l.want, len(cps))
		}
	}
	if len(cps) != 0 {
		t.Errorf("%d checkpoints left, want none", len(cps))
	}
}

func TestACheckpointIsPublishedOnlyOnceTheFollowersHaveReadWhatClassifyWrote(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	classification := map[string]map[int]int64{"leads.classified": {0: 7}}
	read := false
	have := func(e map[string]map[int]int64) bool { return read && e["leads.classified"][0] == 7 }
	ends := func() map[string]map[int]int64 { return classification }

	cps := addCheckpoint(nil, t0, map[int]int64{0: 3})
	cps = addCheckpoint(cps, t0.Add(time.Millisecond), map[int]int64{0: 3})
	cps = addCheckpoint(cps, t0, map[int]int64{0: 3}) // not later: adds nothing
	if len(cps) != 2 {
		t.Fatalf("%d checkpoints, want 2", len(cps))
	}
	// Commits past every hop, followers behind: nothing is published.
	cps, published := advance(cps, map[int]int64{0: 3}, map[int]int64{0: 3}, ends, have)
	if !published.IsZero() || len(cps) != 2 {
		t.Fatalf("published %v with the followers behind (%d checkpoints left)", published, len(cps))
	}
	read = true
	cps, published = advance(cps, map[int]int64{0: 3}, map[int]int64{0: 3}, ends, have)
	if !published.Equal(t0.Add(time.Millisecond)) || len(cps) != 0 {
		t.Errorf("published %v, %d checkpoints left; want the later one, none left", published, len(cps))
	}
}

func TestAFullListOfCheckpointsRestartsItsLastFromTheFirstHop(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	var cps []checkpoint
	for i := range maxCheckpoints {
		cps = addCheckpoint(cps, t0.Add(time.Duration(i)*time.Millisecond), map[int]int64{0: 1})
	}
	cps[maxCheckpoints-1].step = 1 // halfway through its hops
	later := t0.Add(time.Hour)
	cps = addCheckpoint(cps, later, map[int]int64{0: 9})
	last := cps[len(cps)-1]
	if len(cps) != maxCheckpoints || !last.w.Equal(later) || last.step != 0 || last.need[0] != 9 {
		t.Errorf("last checkpoint %+v of %d: want the later candidate from the first hop, needing 9", last, len(cps))
	}
}

func TestAPartitionIsClassifiedUpToItsLastCommittedRecordLessTheProduceDelay(t *testing.T) {
	observed := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	last := observed.Add(-100 * time.Millisecond)
	delay := 500 * time.Millisecond
	for _, c := range []struct {
		name                  string
		committed, start, end int64
		lastCommitted, want   time.Time
	}{
		{"read to its end", 10, 0, 10, last, observed.Add(-delay)},
		// A record stamped before the last committed one, up to delay
		// earlier, may still be on its way to the broker.
		{"read to an offset", 7, 0, 10, last, last.Add(-delay)},
		{"nothing committed", -1, 0, 10, time.Time{}, time.Time{}},
		{"the last committed record unreadable", 7, 0, 10, time.Time{}, time.Time{}},
		// Nothing to classify, though classify never committed on it.
		{"never written to", -1, 0, 0, time.Time{}, observed.Add(-delay)},
		{"emptied by retention", -1, 12, 12, time.Time{}, observed.Add(-delay)},
		{"written to since retention emptied it", -1, 12, 13, time.Time{}, time.Time{}},
	} {
		if got := partitionWatermark(c.committed, c.start, c.end, observed, c.lastCommitted, delay); !got.Equal(c.want) {
			t.Errorf("%s: classified up to %v, want %v", c.name, got, c.want)
		}
	}
}
