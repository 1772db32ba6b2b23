package bench

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	goccy "github.com/goccy/go-json"
	segmentio "github.com/segmentio/encoding/json"

	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// The JSON codec of the hot paths, chosen by measurement (bench/RESULTS.md,
// "Choosing the JSON codec"): the classify stage encodes a Record and an
// Audit per event, the enrich stage an enrich.Event, and the sink decodes
// all three. A codec may replace encoding/json there only if it writes the
// very same bytes and reads them back into the very same values.

// codec is one JSON implementation under comparison.
type codec struct {
	name      string
	marshal   func(any) ([]byte, error)
	unmarshal func([]byte, any) error
}

var codecs = []codec{
	{"encoding_json", stdjson.Marshal, stdjson.Unmarshal},
	{"segmentio", segmentio.Marshal, segmentio.Unmarshal},
	{"goccy", goccy.Marshal, goccy.Unmarshal},
}

// hotCodec is the codec pipeline/adapter/classify.go, enrich.go and
// sink.go use.
const hotCodec = "goccy"

// hotValues are the values the hot paths encode: every Record, Audit and
// enrich.Event the default workload produces, and a few the workload does
// not (explain, strings that need escaping, odd times and numbers).
func hotValues(t testing.TB) (records []*classify.Record, audits []*classify.Audit, events []*enrich.Event) {
	c, err := loadCorpus()
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.results {
		records = append(records, &c.results[i].Record)
		audits = append(audits, &c.results[i].Audit)
	}
	keys := pseudonym.Development()
	for _, ev := range c.behaviorEvents {
		e, _ := enrich.Enrich(ev, c.leads, keys, enrich.DefaultSignalPolicy(0))
		events = append(events, &e)
	}

	// Explain on, as `leadpipe classify --explain` writes records.
	e, st := newEngine(), classify.NewState()
	e.Explain = true
	for i := range min(500, len(c.classify)) {
		res := classifyEvent(e, c.classifyEvents[i], c.classify[i], st)
		records = append(records, &res.Record)
	}
	odd := "<script>&amp;</script> \u2028\u2029 \x7f é 漢字 \"quoted\" back\\slash \t\n \xff invalid"
	rome := time.FixedZone("CET", 3600)
	records = append(records,
		&classify.Record{EventID: odd, LeadID: odd, Decision: classify.DecisionNoLead, OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, rome)},
		&classify.Record{Origin: classify.Origin{Campaign: odd, Paid: true}, Purposes: classify.Purposes{Profiling: classify.Basis{Evidence: odd}},
			FirstSeen: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Explain: []classify.Step{{Rule: odd, Matched: true, Why: odd}}},
	)
	audits = append(audits,
		&classify.Audit{EventID: odd, Reason: odd, At: time.Date(2026, 6, 30, 23, 59, 59, 999999999, rome)},
		&classify.Audit{ConsentProofs: []classify.ConsentProof{{Purpose: odd, ProofRef: odd}}, IgnoredConsents: []classify.IgnoredConsent{{Why: odd}}},
	)
	for _, v := range []float64{0.1, 0.1 + 0.2, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, -0.5, 5e-324, 1.7976931348623157e308} {
		events = append(events, &enrich.Event{EventID: odd, Value: v, OccurredAt: time.Date(2026, 3, 29, 1, 30, 0, 0, rome)})
	}
	return records, audits, events
}

func TestTheHotCodecWritesAndReadsTheHotTypesAsEncodingJSONDoes(t *testing.T) {
	records, audits, events := hotValues(t)
	for _, cd := range codecs[1:] {
		diffs := append(append(compare(cd, records), compare(cd, audits)...), compare(cd, events)...)
		switch {
		case len(diffs) == 0:
			t.Logf("%s writes and reads every record, audit and enriched event as encoding/json does", cd.name)
		case cd.name == hotCodec:
			t.Errorf("%s, the codec of the hot paths, differs from encoding/json in %d values; first: %s", cd.name, len(diffs), diffs[0])
		default:
			t.Logf("%s differs from encoding/json in %d values (so it cannot be the hot codec); first: %s", cd.name, len(diffs), diffs[0])
		}
	}
}

// compare encodes each value with cd and with encoding/json, and decodes
// encoding/json's bytes with both, and returns what differs.
func compare[T any](cd codec, vs []*T) []string {
	var diffs []string
	for _, v := range vs {
		want, err := stdjson.Marshal(v)
		if err != nil {
			panic(err)
		}
		got, err := cd.marshal(v)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%T: marshal: %v", v, err))
			continue
		}
		if !bytes.Equal(got, want) {
			diffs = append(diffs, fmt.Sprintf("%T: marshal wrote\n%s\nwant\n%s", v, got, want))
			continue
		}
		var fromStd, fromCodec T
		if err := stdjson.Unmarshal(want, &fromStd); err != nil {
			panic(err)
		}
		if err := cd.unmarshal(want, &fromCodec); err != nil {
			diffs = append(diffs, fmt.Sprintf("%T: unmarshal: %v", v, err))
			continue
		}
		if !reflect.DeepEqual(fromCodec, fromStd) {
			diffs = append(diffs, fmt.Sprintf("%T: unmarshal of\n%s\ngave %+v\nwant %+v", v, want, fromCodec, fromStd))
		}
	}
	return diffs
}

// BenchmarkCodec compares the codecs on what the hot paths do, one value
// per op: Marshal and Unmarshal of a Record, an Audit and an enriched
// event. Run it with -cpu 1 and compare with
// benchstat -col /codec.
func BenchmarkCodec(b *testing.B) {
	records, audits, events := hotValues(b)
	for _, cd := range codecs {
		name := func(typ, op string) string { return "type=" + typ + "/op=" + op + "/codec=" + cd.name }
		b.Run(name("Record", "Marshal"), func(b *testing.B) { benchMarshal(b, cd, records) })
		b.Run(name("Audit", "Marshal"), func(b *testing.B) { benchMarshal(b, cd, audits) })
		b.Run(name("Event", "Marshal"), func(b *testing.B) { benchMarshal(b, cd, events) })
		b.Run(name("Record", "Unmarshal"), func(b *testing.B) { benchUnmarshal(b, cd, records) })
		b.Run(name("Audit", "Unmarshal"), func(b *testing.B) { benchUnmarshal(b, cd, audits) })
		b.Run(name("Event", "Unmarshal"), func(b *testing.B) { benchUnmarshal(b, cd, events) })
	}
}

func benchMarshal[T any](b *testing.B, cd codec, vs []*T) {
	b.ReportAllocs()
	b.SetBytes(meanSize(vs))
	for i := 0; b.Loop(); i++ {
		if _, err := cd.marshal(vs[i%len(vs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchUnmarshal[T any](b *testing.B, cd codec, vs []*T) {
	raws := make([][]byte, len(vs))
	for i, v := range vs {
		raws[i], _ = stdjson.Marshal(v)
	}
	b.ReportAllocs()
	b.SetBytes(meanSize(vs))
	for i := 0; b.Loop(); i++ {
		var v T
		if err := cd.unmarshal(raws[i%len(raws)], &v); err != nil {
			b.Fatal(err)
		}
	}
}

func meanSize[T any](vs []*T) int64 {
	var n int
	for _, v := range vs {
		b, _ := stdjson.Marshal(v)
		n += len(b)
	}
	return int64(n / len(vs))
}
