package adapter

import (
	"maps"
	"testing"
)

// look is one look of followClassify at leadpipe.suppressions: classify's
// committed offsets, then the ends read after them.
type look struct{ committed, ends map[int]int64 }

func TestCheckpointsBegunALookApartPassTheNoticeHopsTogether(t *testing.T) {
	w1, w2 := map[int]int64{0: 40}, map[int]int64{0: 55}
	classification := map[string]map[int]int64{"leads.classified": {0: 7}}
	ends := func() map[string]map[int]int64 { return classification }
	have := func(map[string]map[int]int64) bool { return true }

	var cps []checkpoint
	var published map[int]int64
	// Classify commits leadpipe.suppressions up to what it had at the look
	// before: each hop takes one look.
	looks := []struct {
		look
		w    map[int]int64
		want map[int]int64
	}{
		{look{map[int]int64{0: 0}, map[int]int64{0: 10}}, w1, nil},
		{look{map[int]int64{0: 5}, map[int]int64{0: 12}}, w2, nil},
		// Both reach the notices written before them: one hop each.
		{look{map[int]int64{0: 12}, map[int]int64{0: 20}}, nil, nil},
		// The notices those caused are committed: both are through.
		{look{map[int]int64{0: 20}, map[int]int64{0: 25}}, nil, w2},
	}
	for i, l := range looks {
		if l.w != nil {
			cps = addCheckpoint(cps, l.w, l.ends)
		}
		cps, published = advance(cps, l.committed, l.ends, ends, have)
		if !maps.Equal(published, l.want) {
			t.Fatalf("look %d: published %v, want %v (checkpoints left %d): a checkpoint waited for the one before it to pass every hop first", i+1, published, l.want, len(cps))
		}
	}
	if len(cps) != 0 {
		t.Errorf("%d checkpoints left, want none", len(cps))
	}
}

func TestACheckpointIsPublishedOnlyOnceTheFollowersHaveReadWhatClassifyWrote(t *testing.T) {
	classification := map[string]map[int]int64{"leads.classified": {0: 7}}
	read := false
	have := func(e map[string]map[int]int64) bool { return read && e["leads.classified"][0] == 7 }
	ends := func() map[string]map[int]int64 { return classification }

	cps := addCheckpoint(nil, map[int]int64{0: 10, 1: 4}, map[int]int64{0: 3})
	cps = addCheckpoint(cps, map[int]int64{0: 10, 1: 6}, map[int]int64{0: 3})
	cps = addCheckpoint(cps, map[int]int64{0: 9, 1: 6}, map[int]int64{0: 3}) // no further: adds nothing
	if len(cps) != 2 {
		t.Fatalf("%d checkpoints, want 2", len(cps))
	}
	// Commits past every hop, followers behind: nothing is published.
	cps, published := advance(cps, map[int]int64{0: 3}, map[int]int64{0: 3}, ends, have)
	if published != nil || len(cps) != 2 {
		t.Fatalf("published %v with the followers behind (%d checkpoints left)", published, len(cps))
	}
	read = true
	cps, published = advance(cps, map[int]int64{0: 3}, map[int]int64{0: 3}, ends, have)
	if !maps.Equal(published, map[int]int64{0: 10, 1: 6}) || len(cps) != 0 {
		t.Errorf("published %v, %d checkpoints left; want the later one, none left", published, len(cps))
	}
}

func TestAFullListOfCheckpointsRestartsItsLastFromTheFirstHop(t *testing.T) {
	var cps []checkpoint
	for i := range maxCheckpoints {
		cps = addCheckpoint(cps, map[int]int64{0: int64(i + 1)}, map[int]int64{0: 1})
	}
	cps[maxCheckpoints-1].step = 1 // halfway through its hops
	later := map[int]int64{0: 1000}
	cps = addCheckpoint(cps, later, map[int]int64{0: 9})
	last := cps[len(cps)-1]
	if len(cps) != maxCheckpoints || !maps.Equal(last.released, later) || last.step != 0 || last.need[0] != 9 {
		t.Errorf("last checkpoint %+v of %d: want the later candidate from the first hop, needing 9", last, len(cps))
	}
}
