package bench

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	hotjson "github.com/goccy/go-json"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/pipeline/ledger"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
	"github.com/leadpipe/leadpipe/stages/sink"
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
func (nopStore) LedgerHead(context.Context, string, int, int64) (int64, string, bool, error) {
	return 0, "", false, nil
}

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

// BenchmarkSinkAudit is the sink stage's work on one audit record
// (Process: decode, the checks, the decisions row; Flush every 2,000
// records: the ledger's chain over the batch's rows, into a ClickHouse
// that takes no time), the record a decision of a lead with a lead key,
// encoded in the loop (a new event id each op). BenchmarkLedgerLink is
// the chaining alone of such a row (ledger.Link: salt, digest, hash):
// their ratio is the share of the sink's work on an audit record that
// chaining takes.
func BenchmarkSinkAudit(b *testing.B) {
	cfg := pipeline.DefaultConfig()
	topic := cfg.Topic(pipeline.TopicAudit)
	s := adapter.NewSink(&cfg, nopStore{})
	ctx := context.Background()
	var out pipeline.Outputs
	for i := 0; b.Loop(); i++ {
		v, err := hotjson.Marshal(auditRecord(i))
		if err != nil {
			b.Fatal(err)
		}
		m := kafka.Message{Topic: topic, Offset: int64(i), Value: v}
		if _, err := s.Process(ctx, &m, &out); err != nil {
			b.Fatal(err)
		}
		if i%2_000 == 1_999 {
			if err := s.Flush(ctx, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkLedgerLink(b *testing.B) {
	r := sink.Decision(auditRecord(0), analytics.Origin{Topic: "leadpipe.audit"})
	head := ledger.Genesis
	for i := 0; b.Loop(); i++ {
		r.Offset = int64(i)
		head = ledger.Link(&r, head)
	}
}

// auditRecord is a lead's decision with a consent proof, as classify
// writes it, under a new event id.
func auditRecord(i int) *classify.Audit {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return &classify.Audit{EventID: "ev-" + strconv.Itoa(i), EventType: "lead", LeadKey: "3f9c0e51a2b7d4603f9c0e51a2b7d4603f9c0e51a2b7d4603f9c0e51a2b7d460",
		KeyVersion: "v1", Decision: "accepted", Rule: "accepted", PolicyVersion: "2026-11", InputSHA256: "9e1c",
		ConsentProofs:   []classify.ConsentProof{{Purpose: "email_marketing", EventID: "ev-" + strconv.Itoa(i), At: at, ProofRef: "proof-1"}},
		IgnoredConsents: []classify.IgnoredConsent{}, At: at, OccurredAt: at}
}
