package bench

import (
	"encoding/json"
	"runtime"
	"strconv"
	"testing"

	hotjson "github.com/goccy/go-json" // the codec of the hot paths (codec_test.go)
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// The in-process benchmarks: each step of the classify and enrich stages
// on the well-formed events of the default workload, one event per op, and
// the bare encoding/json loop they are measured against. Run them on one
// core: go test -run '^$' -bench . -benchmem -count 5 -cpu 1 ./bench/

// BenchmarkDecode is the strict decoder (schemas.Decode) on lead and
// consent events.
func BenchmarkDecode(b *testing.B) {
	c := load(b, false)
	l := schemas.DefaultLimits()
	for i := 0; b.Loop(); i++ {
		if _, err := schemas.Decode(c.classify[i%len(c.classify)], l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBehavior is the strict decoder on behavior events.
func BenchmarkDecodeBehavior(b *testing.B) {
	c := load(b, true)
	l := schemas.DefaultLimits()
	for i := 0; b.Loop(); i++ {
		if _, err := schemas.Decode(c.behavior[i%len(c.behavior)], l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassify is the engine alone on decoded lead and consent
// events, against one State.
func BenchmarkClassify(b *testing.B) {
	c := load(b, false)
	e, st := newEngine(), classify.NewState()
	for i := 0; b.Loop(); i++ {
		j := i % len(c.classify)
		if j == 0 && i > 0 {
			st = classify.NewState() // a second pass would meet only duplicates
		}
		classifyEvent(e, c.classifyEvents[j], c.classify[j], st)
	}
}

// BenchmarkEncode is the encoding of the engine's outputs, the record and
// the audit record, with the codec of the hot paths.
func BenchmarkEncode(b *testing.B) {
	c := load(b, false)
	for i := 0; b.Loop(); i++ {
		res := &c.results[i%len(c.results)]
		if _, err := hotjson.Marshal(&res.Record); err != nil {
			b.Fatal(err)
		}
		if _, err := hotjson.Marshal(&res.Audit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnrich is the enrich stage's work on a decoded behavior event:
// stages/enrich.Enrich against a table holding every lead's
// classifications, and the encoding of the enriched event with the codec
// of the hot paths.
func BenchmarkEnrich(b *testing.B) {
	c := load(b, true)
	keys := pseudonym.Development()
	sig := enrich.DefaultSignalPolicy(0)
	for i := 0; b.Loop(); i++ {
		e, _ := enrich.Enrich(c.behaviorEvents[i%len(c.behaviorEvents)], c.leads, keys, sig)
		if _, err := hotjson.Marshal(&e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngine is the whole classify path, what the classify stage does
// per event: strict decode, classify against the state, encode the record
// and the audit with the codec of the hot paths.
func BenchmarkEngine(b *testing.B) {
	c := load(b, false)
	e, st := newEngine(), classify.NewState()
	l := schemas.DefaultLimits()
	for i := 0; b.Loop(); i++ {
		if i > 0 && i%len(c.classify) == 0 {
			st = classify.NewState() // a second pass would meet only duplicates
		}
		raw := c.classify[i%len(c.classify)]
		ev, err := schemas.Decode(raw, l)
		if err != nil {
			b.Fatal(err)
		}
		res := classifyEvent(e, ev, raw, st)
		if _, err := hotjson.Marshal(&res.Record); err != nil {
			b.Fatal(err)
		}
		if _, err := hotjson.Marshal(&res.Audit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareDecodeEncode is the baseline: encoding/json decodes each
// lead or consent event into its struct and encodes it back, with no
// validation and no decision.
func BenchmarkBareDecodeEncode(b *testing.B) {
	c := load(b, false)
	for i := 0; b.Loop(); i++ {
		raw := c.classify[i%len(c.classify)]
		var v any = new(schemas.Lead)
		if raw[9] == 'c' { // {"type":"consent"
			v = new(schemas.Consent)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStrictDecodeEncode is leadpipe's own decoder with no decision,
// encoding the event back with encoding/json: the part of BenchmarkEngine
// that is not classification, in the shape of the baseline.
func BenchmarkStrictDecodeEncode(b *testing.B) {
	c := load(b, false)
	l := schemas.DefaultLimits()
	for i := 0; b.Loop(); i++ {
		ev, err := schemas.Decode(c.classify[i%len(c.classify)], l)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// stateLeads is the number of leads whose events BenchmarkStateMemory
// classifies into one State.
const stateLeads = 10_000

// BenchmarkStateMemory builds a classify.State from every lead and consent
// event of stateLeads leads of the workload and reports the live heap it
// holds per lead (B/lead: the HeapAlloc difference, each after a GC), the
// suppression list's email keys included. ns/op is the time to build it.
func BenchmarkStateMemory(b *testing.B) {
	wl := workload.DefaultConfig()
	wl.Leads, wl.BehaviorPerLead, wl.MalformedRate = stateLeads, 0, 0
	events, err := workload.All(wl)
	if err != nil {
		b.Fatal(err)
	}
	e, l := newEngine(), schemas.DefaultLimits()
	var total int64
	var keys int
	for b.Loop() {
		var before, after runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		st := classify.NewState()
		for _, ev := range events {
			d, err := schemas.Decode(ev.Value, l)
			if err != nil {
				b.Fatal(err)
			}
			classifyEvent(e, d, ev.Value, st)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.StartTimer()
		total += int64(after.HeapAlloc) - int64(before.HeapAlloc)
		keys = st.Len()
		runtime.KeepAlive(st)
	}
	b.ReportMetric(float64(total)/float64(b.N)/stateLeads, "B/lead")
	b.ReportMetric(float64(keys)/stateLeads, "keys/lead")
}

// BenchmarkStatePerProcess is the classify state one process holds when
// n processes share 12 partitions, as the stream splits it: the lead and
// consent events of stateLeads leads go to the State of their key's
// partition (murmur2, as the producers put them), and the engine's notices
// to the State of their own key's partition, until none is left. It
// reports the live heap (after a GC) of the States of the first process's
// partitions, per lead of the workload, and in MiB per million leads.
func BenchmarkStatePerProcess(b *testing.B) {
	const partitions = 12
	wl := workload.DefaultConfig()
	wl.Leads, wl.BehaviorPerLead, wl.MalformedRate = stateLeads, 0, 0
	events, err := workload.All(wl)
	if err != nil {
		b.Fatal(err)
	}
	e, l := newEngine(), schemas.DefaultLimits()
	all := make([]int, partitions)
	for i := range all {
		all[i] = i
	}
	partitionOf := func(key string) int {
		return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(key)}, all...)
	}
	for _, procs := range []int{1, 2, 4} {
		b.Run(strconv.Itoa(procs)+"_processes", func(b *testing.B) {
			var perLead float64
			for b.Loop() {
				b.StopTimer()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				states := make([]*classify.State, partitions)
				for i := range states {
					states[i] = classify.NewState()
				}
				for _, ev := range events {
					d, err := schemas.Decode(ev.Value, l)
					if err != nil {
						b.Fatal(err)
					}
					res, err := e.Step(d, ev.Value, states[partitionOf(string(ev.Key))], benchNow)
					if err != nil {
						b.Fatal(err)
					}
					for notices := res.Notices; len(notices) > 0; {
						n := notices[0]
						notices = append(notices[1:], e.Deliver(&n, states[partitionOf(n.Key())], benchNow).Notices...)
					}
				}
				b.StopTimer()
				// The first process holds the first 12/procs partitions.
				for i := partitions / procs; i < partitions; i++ {
					states[i] = nil
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perLead = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / stateLeads
				runtime.KeepAlive(states)
				b.StartTimer()
			}
			b.ReportMetric(perLead, "B/lead")
			b.ReportMetric(perLead*1e6/(1<<20), "MiB/Mlead")
		})
	}
}
