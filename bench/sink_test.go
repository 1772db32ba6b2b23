package bench

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	hotjson "github.com/goccy/go-json"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// nopStore is a ClickHouse that lands everything and holds nothing.
type nopStore struct{}

func (nopStore) InsertRows(context.Context, string, any) error { return nil }
func (nopStore) Landed(context.Context, string, string, int, int64, int64) (map[int64]struct{}, []string, error) {
	return map[int64]struct{}{}, nil, nil
}
func (nopStore) LandedEvents(context.Context, string, []analytics.EventKey) (map[analytics.EventKey]struct{}, error) {
	return nil, nil
}
func (nopStore) LandedOffsets(context.Context, string, string, int, int64) (map[int64]struct{}, error) {
	return map[int64]struct{}{}, nil
}
func (nopStore) ErasedIDs(context.Context) (map[string]struct{}, error)          { return nil, nil }
func (nopStore) Purge(context.Context, []analytics.PurgeRequest) error           { return nil }
func (nopStore) QueueErasures(context.Context, []analytics.ErasureRequest) error { return nil }
func (nopStore) ErasePending(context.Context, func([]analytics.ErasureReceipt) error) (int, error) {
	return 0, nil
}
func (nopStore) MutationsRunning(context.Context) (uint64, error) { return 0, nil }

// BenchmarkSink is the sink stage's work on one enriched behavior event
// (adapter.Sink.Process: decode, the landed-offset and duplicate checks,
// the row), with a flush every 50,000 rows (its default batch) into a
// ClickHouse that takes no time. Every op's event id is new, as on a
// stream, so the duplicate check's memory (200,000 ids) is full and
// evicts at every op once warm.
func BenchmarkSink(b *testing.B) {
	c := load(b, true)
	cfg := pipeline.DefaultConfig()
	topic := cfg.Topic(pipeline.TopicBehaviorEnriched)
	keys := pseudonym.Development()
	type template struct {
		value []byte
		at    int // where the event id's 10-digit counter is
	}
	ts := make([]template, len(c.behaviorEvents))
	for i, ev := range c.behaviorEvents {
		e, _ := enrich.Enrich(ev, c.leads, keys, enrich.DefaultSignalPolicy(0))
		e.EventID = "ev-0000000000"
		v, err := hotjson.Marshal(&e)
		if err != nil {
			b.Fatal(err)
		}
		at := bytes.Index(v, []byte(`"ev-0000000000"`))
		if at < 0 {
			b.Fatal("the enriched event's id is not where it is expected")
		}
		ts[i] = template{v, at + 4}
	}
	s := adapter.NewSink(&cfg, nopStore{})
	ctx := context.Background()
	var out pipeline.Outputs
	var digits [20]byte
	for i := 0; b.Loop(); i++ {
		t := &ts[i%len(ts)]
		v := append([]byte(nil), t.value...)
		id := strconv.AppendInt(digits[:0], int64(i), 10)
		copy(v[t.at+10-len(id):], id)
		m := kafka.Message{Topic: topic, Offset: int64(i), Value: v}
		if _, err := s.Process(ctx, &m, &out); err != nil {
			b.Fatal(err)
		}
		if i%50_000 == 49_999 {
			if err := s.Flush(ctx, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
}
