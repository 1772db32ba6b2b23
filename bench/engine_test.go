package bench

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// classifyCorpus is the well-formed lead and consent events of the
// default workload, in order, as the classify stage reads them.
func classifyCorpus(b *testing.B) [][]byte {
	b.Helper()
	wl := workload.DefaultConfig()
	wl.BehaviorPerLead, wl.MalformedRate = 0, 0
	events, err := workload.All(wl)
	if err != nil {
		b.Fatal(err)
	}
	var raws [][]byte
	var size int64
	for _, e := range events {
		if e.Kind == workload.KindLead || e.Kind == workload.KindConsent {
			raws = append(raws, e.Value)
			size += int64(len(e.Value))
		}
	}
	b.SetBytes(size / int64(len(raws)))
	b.ReportAllocs()
	return raws
}

// BenchmarkEngine is what the classify stage does per event: strict
// decode, classify against the state, encode the record and the audit.
func BenchmarkEngine(b *testing.B) {
	raws := classifyCorpus(b)
	e := classify.New(classify.DefaultPolicy(), pseudonym.Development())
	st := classify.NewState()
	l := schemas.DefaultLimits()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := raws[i%len(raws)]
		ev, err := schemas.Decode(raw, l)
		if err != nil {
			b.Fatal(err)
		}
		var res classify.Result
		switch ev := ev.(type) {
		case *schemas.Lead:
			res = e.Lead(ev, raw, st, now)
		case *schemas.Consent:
			res = e.Consent(ev, raw, st, now)
		}
		if _, err := json.Marshal(&res.Record); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(&res.Audit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareDecodeEncode is the baseline: encoding/json decodes each
// event into its struct and encodes it back, with no validation and no
// decision.
func BenchmarkBareDecodeEncode(b *testing.B) {
	raws := classifyCorpus(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := raws[i%len(raws)]
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

// BenchmarkStrictDecodeEncode is leadpipe's own decoder with no decision:
// the part of BenchmarkEngine that is not classification.
func BenchmarkStrictDecodeEncode(b *testing.B) {
	raws := classifyCorpus(b)
	l := schemas.DefaultLimits()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev, err := schemas.Decode(raws[i%len(raws)], l)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}
