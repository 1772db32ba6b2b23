package classify

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// The stream splits the state by partition (pipeline/adapter/classify.go):
// a task per partition number holds the leads and email keys whose key
// hashes to it, restores its State from its partition of the changelog,
// and routes notices through a topic. A batch's outputs are written
// first, its changelog records next, then its offsets are committed; a
// crash at any point between leaves a part of that, and the task's next
// owner restores the changelog and processes again from the last commit.
// The simulation below does exactly that, without Kafka, and checks that
// every lead ends as one State that holds everything (Apply) says.

// simMsg is a record of a task's input: an event or a notice.
type simMsg struct {
	raw    string
	notice *Notice
}

// simTask is one partition: its input, its changelog, its owner's state.
type simTask struct {
	log       []simMsg
	committed int // the offset of the next record to process after a restart
	pos       int
	st        *State
	changelog []simKV
}

type simKV struct {
	key   string
	value []byte // nil: a tombstone
}

// simOut is an output record: a lead's record, or a quarantine tombstone.
type simOut struct {
	rec      *Record
	leftQuar bool // a tombstone on leads.quarantine follows the record
}

type simulation struct {
	t     *testing.T
	e     *Engine
	rng   *rand.Rand
	tasks []*simTask
	out   []simOut
}

func (s *simulation) partition(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(len(s.tasks)))
}

// restore gives a task a new owner: the state its changelog holds, and the
// input from the last commit.
func (s *simulation) restore(task *simTask) {
	task.st = NewState()
	for _, kv := range task.changelog {
		if err := task.st.Restore(kv.key, kv.value); err != nil {
			s.t.Fatal(err)
		}
	}
	task.pos = task.committed
}

// batch processes up to n records of a task, then writes its outputs
// (all, or up to a crash).
func (s *simulation) batch(task *simTask, n int, crash bool) {
	var head []func() // outputs: records and notices
	var changelog []simKV
	for ; n > 0 && task.pos < len(task.log); n-- {
		m := task.log[task.pos]
		task.pos++
		var res Result
		if m.notice != nil {
			res = s.e.Deliver(m.notice, task.st, testNow)
		} else {
			ev, err := schemas.Decode([]byte(m.raw), schemas.DefaultLimits())
			if err != nil {
				s.t.Fatal(err)
			}
			if res, err = s.e.Step(ev, []byte(m.raw), task.st, testNow); err != nil {
				s.t.Fatal(err)
			}
			if res.Duplicate {
				continue
			}
			if res.Record.Decision != DecisionNoLead {
				rec := res.Record
				head = append(head, func() { s.out = append(s.out, simOut{rec: &rec, leftQuar: rec.LeftQuarantine}) })
			}
		}
		for i := range res.Others {
			rec := res.Others[i]
			if rec.Decision != DecisionNoLead {
				head = append(head, func() { s.out = append(s.out, simOut{rec: &rec, leftQuar: rec.LeftQuarantine}) })
			}
		}
		for _, k := range res.Changed {
			v, ok := task.st.Encode(k)
			if !ok {
				v = nil
			}
			changelog = append(changelog, simKV{k, v})
		}
		for i := range res.Notices {
			n := res.Notices[i]
			to := s.tasks[s.partition(n.Key())]
			head = append(head, func() { to.log = append(to.log, simMsg{notice: &n}) })
		}
	}
	if !crash {
		for _, w := range head {
			w()
		}
		task.changelog = append(task.changelog, changelog...)
		task.committed = task.pos
		return
	}
	// A crash: a part of the outputs (records of several partitions land
	// independently), then, only once they all did, a part of the
	// changelog; never the commit.
	switch s.rng.IntN(3) {
	case 0: // some outputs
		for _, w := range head {
			if s.rng.IntN(2) == 0 {
				w()
			}
		}
	case 1: // every output and a part of the changelog (a write that
		// failed for some records and not others)
		for _, w := range head {
			w()
		}
		for _, kv := range changelog {
			if s.rng.IntN(2) == 0 {
				task.changelog = append(task.changelog, kv)
			}
		}
	case 2: // everything but the commit
		for _, w := range head {
			w()
		}
		task.changelog = append(task.changelog, changelog...)
	}
	s.restore(task)
}

// run processes every task's input to its end, crashing a fifth of the
// batches of the first steps.
func (s *simulation) run(events []string) {
	for _, raw := range events {
		var ev struct {
			Lead string `json:"lead_id"`
		}
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			s.t.Fatal(err)
		}
		to := s.tasks[s.partition(ev.Lead)]
		to.log = append(to.log, simMsg{raw: raw})
	}
	for step := 0; ; step++ {
		var busy []*simTask
		for _, task := range s.tasks {
			if task.pos < len(task.log) {
				busy = append(busy, task)
			}
		}
		if len(busy) == 0 {
			return
		}
		if step > 100000 {
			s.t.Fatal("the tasks do not come to rest")
		}
		task := busy[s.rng.IntN(len(busy))]
		s.batch(task, 1+s.rng.IntN(6), step < 400 && s.rng.IntN(5) == 0)
	}
}

// finals is the last record of every lead by seq, as enrich and the sink
// keep it, with what may differ between orders left out; and the leads
// left on leads.quarantine.
func (s *simulation) finals() (map[string]Record, map[string]bool) {
	last := map[string]Record{}
	bySeq := map[string]Record{}
	quarantined := map[string]bool{}
	for _, o := range s.out {
		r := *o.rec
		id := fmt.Sprintf("%s/%d", r.LeadKey, r.Seq)
		if prev, ok := bySeq[id]; ok && !reflect.DeepEqual(prev, r) {
			pj, _ := json.Marshal(prev)
			rj, _ := json.Marshal(r)
			s.t.Errorf("lead %s has two different records with seq %d:\n%s\n%s", r.LeadKey[:8], r.Seq, pj, rj)
		}
		bySeq[id] = r
		if prev, ok := last[r.LeadKey]; !ok || r.Seq > prev.Seq {
			last[r.LeadKey] = r
		}
		switch {
		case r.Decision == DecisionQuarantined:
			quarantined[r.LeadKey] = true
		case o.leftQuar || r.Decision == DecisionErased || r.Decision == DecisionPurged:
			delete(quarantined, r.LeadKey)
		}
	}
	for k, r := range last {
		r.EventID, r.OccurredAt, r.Seq, r.Explain, r.LeftQuarantine = "", time.Time{}, 0, nil, false
		last[k] = r
	}
	return last, quarantined
}

// peopleEvents is a seeded set of lead and consent events about people
// who come back under other lead ids with the same address: objections,
// erasures, withdrawals and grants across them.
func peopleEvents(rng *rand.Rand, leads int) []string {
	var events []string
	at := func(day, minute int) string {
		return time.Date(2026, 11, 1+day, 8, minute, 0, 0, time.UTC).Format(time.RFC3339)
	}
	for i := range leads {
		id := fmt.Sprintf("L%d", i)
		person := rng.IntN(leads / 3) // about three lead ids per address
		contact := fmt.Sprintf(`"contact":{"email":"person%d@example.org","country":"DE"}`, person)
		source := formKind
		if rng.IntN(3) == 0 {
			source = social
		}
		fields := []string{contact, source}
		if rng.IntN(2) == 0 {
			fields = append(fields, consents(emailOK))
		}
		events = append(events, leadAt("e"+id, id, at(rng.IntN(8), rng.IntN(60)), fields...))
		for c := range rng.IntN(3) {
			cid := fmt.Sprintf("c%s-%d", id, c)
			when := at(rng.IntN(10), rng.IntN(60))
			switch rng.IntN(10) {
			case 0:
				events = append(events, consentAt(cid, id, when, "all", "object"))
			case 1:
				events = append(events, consentAt(cid, id, when, "all", "erase"))
			case 2:
				events = append(events, consentAt(cid, id, when, "all", "withdraw"))
			case 3, 4:
				events = append(events, consentAt(cid, id, when, "email_marketing", "withdraw"))
			default:
				events = append(events, consentAt(cid, id, when, "email_marketing", "grant", grantProof))
			}
		}
	}
	return events
}

func TestTasksThatCrashAndRestoreFromTheirChangelogEndAsOneStateDoes(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		events := peopleEvents(rng, 60)
		want := finals(t, e, events)
		rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
		s := &simulation{t: t, e: e, rng: rng}
		for range 4 {
			task := &simTask{st: NewState()}
			s.tasks = append(s.tasks, task)
		}
		s.run(events)
		got, quarantined := s.finals()
		if len(got) != len(want) {
			t.Errorf("seed %d: %d leads have records, want %d", seed, len(got), len(want))
		}
		for k, w := range want {
			if g := got[k]; !reflect.DeepEqual(g, w) {
				gj, _ := json.Marshal(g)
				wj, _ := json.Marshal(w)
				t.Fatalf("seed %d: lead %s ends\n%s\nwant\n%s", seed, k[:8], gj, wj)
			}
			if quarantined[k] != (w.Decision == DecisionQuarantined) {
				t.Fatalf("seed %d: lead %s is %s and on leads.quarantine: %v", seed, k[:8], w.Decision, quarantined[k])
			}
		}
	}
}
