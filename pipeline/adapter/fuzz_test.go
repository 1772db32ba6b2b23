package adapter

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/stages/enrich"
)

// FuzzApplyClassification feeds enrich's reader of the classification
// topics what a corrupted or foreign record could hold: it never panics,
// and a lead it keeps can be asked for its span at any time.
func FuzzApplyClassification(f *testing.F) {
	f.Add([]byte("L1"), []byte(`{"lead_key":"k","decision":"accepted","seq":1,"as_of":"2026-11-01T09:00:00Z","timeline":[{"from":"2026-11-01T09:00:00Z","decision":"accepted","channel":"social","profiling":true}]}`))
	f.Add([]byte("L1"), []byte(`{"lead_key":"k","decision":"purged","as_of":"2026-11-01T09:00:00Z"}`))
	f.Add([]byte("L1"), []byte(`{"lead_key":"k","timeline":[{"decision":"erased"}]}`))
	f.Add([]byte("L1"), []byte(`{"lead_key":"k","timeline":null,"seq":18446744073709551615}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		leads := enrich.NewLeads(8)
		applyClassification(leads, &kafka.Message{Key: key, Value: value})
		for _, at := range []time.Time{{}, time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), time.Unix(1<<40, 0)} {
			leads.At(string(key), at)
		}
	})
}
