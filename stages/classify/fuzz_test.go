package classify

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// fuzzSeeds are events whose state records and classification records seed
// the fuzzers: a lead with consents, an objection, an erasure.
var fuzzSeeds = []string{
	`{"type":"lead","event_id":"e1","occurred_at":"2026-11-01T09:00:00Z","lead_id":"L1","contact":{"email":"a@example.com","phone":"+33 6 12 34 56 78"},"source":{"kind":"social","network":"linkedin"},"consents":[{"purpose":"email_marketing","status":"granted","method":"checkbox","proof_ref":"p1","text_version":"v1"}]}`,
	`{"type":"consent","event_id":"c1","occurred_at":"2026-11-02T09:00:00Z","lead_id":"L1","purpose":"profiling","action":"grant","method":"double_opt_in","proof_ref":"p2"}`,
	`{"type":"lead","event_id":"e2","occurred_at":"2026-11-03T09:00:00Z","lead_id":"L2","contact":{"email":"A@example.com"},"source":{"kind":"web_form"}}`,
	`{"type":"consent","event_id":"c2","occurred_at":"2026-11-04T09:00:00Z","lead_id":"L2","purpose":"all","action":"object"}`,
	`{"type":"consent","event_id":"c3","occurred_at":"2026-11-05T09:00:00Z","lead_id":"L1","purpose":"all","action":"erase","proof_ref":"r1"}`,
}

// seedRecords runs the seed events and returns the state changelog
// records (key, value) and the classification records they produce.
func seedRecords(t testing.TB) (state [][2][]byte, records [][]byte) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	for _, res := range run(t, e, st, fuzzSeeds...) {
		for _, k := range res.Changed {
			if v, ok := st.Encode(k); ok {
				state = append(state, [2][]byte{[]byte(k), v})
			}
		}
		if b, err := json.Marshal(res.Record); err == nil {
			records = append(records, b)
		}
	}
	return state, records
}

// FuzzRestore feeds the state changelog decoder what a corrupted or
// foreign leadpipe.state record could hold, in the binary form and in the
// JSON of before: it never panics, and what it accepts it encodes again
// into a value that restores to the same state (the second encoding is the
// first's bytes).
func FuzzRestore(f *testing.F) {
	state, _ := seedRecords(f)
	for _, kv := range state {
		f.Add(kv[0], kv[1])
	}
	for _, kv := range jsonSeedRecords(f) {
		f.Add(kv[0], kv[1])
	}
	f.Add([]byte("lead:x"), []byte(`{"facts":[{}],"statements":null}`))
	f.Add([]byte("email:x"), []byte(`{"leads":[{"key":""}]}`))
	f.Add([]byte("lead:x"), []byte(`{"facts":[null]}`))
	f.Add([]byte("lead:x"), []byte("\x01"))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st := NewState()
		if err := st.Restore(string(key), value); err != nil {
			return
		}
		if st.Len() > 1 {
			t.Fatalf("one record restored %d keys", st.Len())
		}
		if st.Len() == 1 {
			v, ok := st.Encode(string(key))
			if !ok {
				t.Fatalf("a restored key %q does not encode again", key)
			}
			again := NewState()
			if err := again.Restore(string(key), v); err != nil {
				t.Fatalf("a restored key %q encodes to a value that does not restore: %v", key, err)
			}
			if w, _ := again.Encode(string(key)); !bytes.Equal(w, v) {
				t.Fatalf("key %q: the value encoded again differs", key)
			}
		}
	})
}

// jsonSeedRecords are the seed events' state records as the JSON of before
// wrote them.
func jsonSeedRecords(t testing.TB) (state [][2][]byte) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	for _, res := range run(t, e, st, fuzzSeeds...) {
		for _, k := range res.Changed {
			if _, ok := st.Encode(k); ok {
				state = append(state, [2][]byte{[]byte(k), jsonValue(t, st, k)})
			}
		}
	}
	return state
}

// FuzzRecord feeds the classification record decoder of enrich and the
// sink (encoding/json into Record) arbitrary bytes, then asks an engine for
// what the stages ask of a record: it never panics.
func FuzzRecord(f *testing.F) {
	_, records := seedRecords(f)
	for _, r := range records {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if _, err := json.Marshal(&r); err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		quarantineStart(&r)
	})
}
