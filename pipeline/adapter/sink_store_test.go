package adapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/pipeline/ledger"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
)

// The sink's decisions, without ClickHouse: a fake Store that keeps the
// rows it is given, answers what landed from them, and fails an insert on
// demand (with or without its rows landing, as a connection broken after
// ClickHouse took them does).

// landed is a row the fake holds: where it came from and its dedupe key.
type landed struct {
	origin  analytics.Origin
	key     string // event_id; event_id NUL lead_key for classifications
	leadKey string
	at      int64 // the event's time (Unix seconds), as LandedEvents looks it up
	id      string
	dec     *analytics.DecisionRow // a decisions row as inserted, with its ledger columns
}

type fakeStore struct {
	mu         sync.Mutex // InsertRows runs for the tables at once
	tables     map[string][]landed
	failNext   map[string]bool // the next insert into the table fails
	landAnyway bool            // ... after its rows landed
	queued     []analytics.ErasureRequest
	purged     []analytics.PurgeRequest
	erased     []string // lead keys ErasePending carried out
	noLookup   bool     // LandedEvents finds nothing
	lookups    int
	anchors    []analytics.AnchorRow
}

func newFakeStore() *fakeStore {
	return &fakeStore{tables: map[string][]landed{}, failNext: map[string]bool{}}
}

func (f *fakeStore) InsertRows(_ context.Context, table string, rows any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var in []landed
	switch rs := rows.(type) {
	case []analytics.ClassificationRow:
		for _, r := range rs {
			in = append(in, landed{r.Origin, r.EventID + "\x00" + r.LeadKey, r.LeadKey, r.OccurredAt.Unix(), r.EventID, nil})
		}
	case []analytics.BehaviorRow:
		for _, r := range rs {
			in = append(in, landed{r.Origin, r.EventID, r.LeadKey, r.OccurredAt.Unix(), r.EventID, nil})
		}
	case []analytics.DecisionRow:
		for _, r := range rs {
			in = append(in, landed{r.Origin, r.EventID, r.LeadKey, r.At.Unix(), r.EventID, &r})
		}
	case []analytics.DecisionLandedRow:
		for _, r := range rs {
			in = append(in, landed{at: r.OccurredAt.Unix(), id: r.EventID})
		}
	case []analytics.AnchorRow:
		f.anchors = append(f.anchors, rs...)
		return nil
	default:
		return fmt.Errorf("rows of type %T", rows)
	}
	if len(in) == 0 {
		return nil
	}
	if f.failNext[table] {
		f.failNext[table] = false
		if f.landAnyway {
			f.tables[table] = append(f.tables[table], in...)
		}
		return fmt.Errorf("insert into %s: %w", table, errBroken)
	}
	f.tables[table] = append(f.tables[table], in...)
	return nil
}

// errBroken is a connection that broke: retryable.
var errBroken = fmt.Errorf("read: %w", errors.New("connection reset by peer"))

func (f *fakeStore) Landed(_ context.Context, table, topic string, partition int, from, window int64) (map[int64]struct{}, []string, error) {
	offs := map[int64]struct{}{}
	var keys []string
	for _, r := range f.tables[table] {
		if r.origin.Topic != topic || int(r.origin.Partition) != partition || r.origin.Offset < from-window {
			continue
		}
		if r.origin.Offset >= from {
			offs[r.origin.Offset] = struct{}{}
		}
		keys = append(keys, r.key)
	}
	return offs, keys, nil
}

// LandedEvents finds keys as the Writer does: decisions in
// decisions_landed, classifications by lead key too. With noLookup set it
// finds nothing, as a sink that trusted its memory alone would.
func (f *fakeStore) LandedEvents(_ context.Context, table string, keys []analytics.EventKey) (map[analytics.EventKey]struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.noLookup {
		return nil, nil
	}
	from := table
	if table == analytics.TableDecisions {
		from = analytics.TableDecisionsLanded
	}
	out := map[analytics.EventKey]struct{}{}
	for _, k := range keys {
		for _, r := range f.tables[from] {
			if r.at == k.At && r.id == k.ID && (table != analytics.TableClassifications || r.leadKey == k.LeadKey) {
				out[k] = struct{}{}
			}
		}
	}
	return out, nil
}

func (f *fakeStore) LandedOffsets(ctx context.Context, table, topic string, partition int, from int64) (map[int64]struct{}, error) {
	offs, _, err := f.Landed(ctx, table, topic, partition, from, 0)
	return offs, err
}

func (f *fakeStore) ErasedIDs(context.Context) (map[string]struct{}, error) {
	ids := map[string]struct{}{}
	for _, k := range f.erased {
		ids[analytics.ErasureID(k)] = struct{}{}
	}
	return ids, nil
}

func (f *fakeStore) Purge(_ context.Context, reqs []analytics.PurgeRequest) error {
	f.purged = append(f.purged, reqs...)
	return nil
}

func (f *fakeStore) QueueErasures(_ context.Context, reqs []analytics.ErasureRequest) error {
	f.queued = append(f.queued, reqs...)
	return nil
}

func (f *fakeStore) ErasePending(_ context.Context, deliver func([]analytics.ErasureReceipt) error) (int, error) {
	var receipts []analytics.ErasureReceipt
	for _, r := range f.queued {
		receipts = append(receipts, analytics.ErasureReceipt{RequestEventID: r.EventID, ErasureID: analytics.ErasureID(r.LeadKey), Verified: 1})
	}
	if err := deliver(receipts); err != nil {
		return 0, err
	}
	for _, r := range f.queued {
		f.erased = append(f.erased, r.LeadKey)
	}
	n := len(f.queued)
	f.queued = nil
	return n, nil
}

func (f *fakeStore) MutationsRunning(context.Context) (uint64, error) { return 0, nil }

// LedgerHead finds the last chained decisions row below before, as the
// Writer does.
func (f *fakeStore) LedgerHead(_ context.Context, topic string, partition int, before int64) (int64, string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var head *analytics.DecisionRow
	for _, r := range f.tables[analytics.TableDecisions] {
		d := r.dec
		if d.Topic == topic && int(d.Partition) == partition && d.Offset < before && d.Hash != "" && (head == nil || d.Offset > head.Offset) {
			head = d
		}
	}
	if head == nil {
		return 0, "", false, nil
	}
	return head.Offset, head.Hash, true, nil
}

// chainBreaks returns what breaks the chains of the decisions rows the
// fake holds: each row's hash must be its own, and it must follow the row
// before it in its partition.
func (f *fakeStore) chainBreaks() []string {
	rows := map[int32][]*analytics.DecisionRow{}
	for _, r := range f.tables[analytics.TableDecisions] {
		rows[r.dec.Partition] = append(rows[r.dec.Partition], r.dec)
	}
	var out []string
	for p, rs := range rows {
		slices.SortFunc(rs, func(a, b *analytics.DecisionRow) int { return int(a.Offset - b.Offset) })
		prev := ledger.Genesis
		for _, r := range rs {
			if r.Hash != ledger.RowHash(r) {
				out = append(out, fmt.Sprintf("[%d]@%d: its hash is not its own", p, r.Offset))
			}
			if r.Prev != prev.Hash || r.PrevOffset != prev.Offset {
				out = append(out, fmt.Sprintf("[%d]@%d: follows %d, not %d", p, r.Offset, r.PrevOffset, prev.Offset))
			}
			if (r.LeadKey == "") != (r.LeadDigest == "") || (r.LeadKey != "" && r.LeadDigest != ledger.Digest(r.LeadSalt, r.LeadKey)) {
				out = append(out, fmt.Sprintf("[%d]@%d: its lead digest is not its key's", p, r.Offset))
			}
			prev = ledger.Head{Offset: r.Offset, Hash: r.Hash}
		}
	}
	return out
}

// rows returns "offset:key" of the table's rows, sorted.
func (f *fakeStore) rows(table string) []string {
	var out []string
	for _, r := range f.tables[table] {
		out = append(out, fmt.Sprintf("%d:%s", r.origin.Offset, r.leadKey))
	}
	slices.Sort(out)
	return out
}

// rec is a record of the sink's input at an offset.
type rec struct {
	topic  string
	offset int64
	value  any // enrich.Event, classify.Audit or classify.Record
}

const (
	behaviorTopic = "behavior.enriched"
	auditTopic    = "leadpipe.audit"
	classTopic    = "leads.classified"
)

func behavior(id, leadKey string) enrich.Event {
	return enrich.Event{EventID: id, OccurredAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Action: "page_view",
		Channel: "direct", Decision: "accepted", KeyVersion: "dev", LeadKey: leadKey, VisitorKey: "v1"}
}

func record(id, leadKey, decision string) classify.Record {
	return classify.Record{EventID: id, LeadID: "l-" + leadKey, Key: "l-" + leadKey, LeadKey: leadKey, Decision: decision,
		KeyVersion: "dev", OccurredAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), Seq: 1}
}

// feed gives the sink each record, then flushes, as the runtime does with
// one batch; it returns the Kafka records the flush added (receipts).
func feed(t *testing.T, s *adapter.Sink, recs ...rec) []kafka.Message {
	t.Helper()
	ctx := context.Background()
	var out pipeline.Outputs
	for _, r := range recs {
		v, err := json.Marshal(r.value)
		if err != nil {
			t.Fatal(err)
		}
		m := kafka.Message{Topic: r.topic, Partition: 0, Offset: r.offset, Value: v}
		if _, err := s.Process(ctx, &m, &out); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // the runtime retries a failed flush
		if err := s.Flush(ctx, &out); err == nil {
			return out.Messages()
		}
	}
	t.Fatal("the flush failed three times")
	return nil
}

func newSink(store adapter.Store) *adapter.Sink {
	cfg := pipeline.DefaultConfig()
	return adapter.NewSink(&cfg, store)
}

// TestTheSinkLandsEachRecordOnceWithoutClickHouse: the decisions the sink
// takes of what to land, one case each, against the fake store.
func TestTheSinkLandsEachRecordOnceWithoutClickHouse(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *fakeStore) // feeds one or more sinks
		want map[string][]string              // table → "offset:lead key" rows
	}{
		{
			name: "a new sink skips the offsets that landed before it and lands the rest",
			run: func(t *testing.T, f *fakeStore) {
				f.noLookup = true // the offsets read back alone: a new sink remembers no event id
				feed(t, newSink(f), rec{behaviorTopic, 0, behavior("b0", "k1")}, rec{behaviorTopic, 1, behavior("b1", "k1")})
				// A restart after the insert, before the commit: consumed again from 0.
				feed(t, newSink(f), rec{behaviorTopic, 0, behavior("b0", "k1")}, rec{behaviorTopic, 1, behavior("b1", "k1")},
					rec{behaviorTopic, 2, behavior("b2", "k1")})
			},
			want: map[string][]string{analytics.TableBehavior: {"0:k1", "1:k1", "2:k1"}},
		},
		{
			name: "an event replayed upstream at new offsets lands once, in this sink and in the next",
			run: func(t *testing.T, f *fakeStore) {
				feed(t, newSink(f), rec{behaviorTopic, 0, behavior("b0", "")}, rec{behaviorTopic, 1, behavior("b0", "")})
				feed(t, newSink(f), rec{behaviorTopic, 2, behavior("b0", "")}, rec{behaviorTopic, 3, behavior("b3", "")})
			},
			want: map[string][]string{analytics.TableBehavior: {"0:", "3:"}},
		},
		{
			name: "a copy replayed upstream further back than the sink reads back and remembers lands once",
			run: func(t *testing.T, f *fakeStore) {
				feed(t, newSink(f), rec{behaviorTopic, 0, behavior("b0", "")},
					rec{auditTopic, 0, classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "accepted", OccurredAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}})
				// An enrich group reset to the start, and classify writing a
				// batch again, a million offsets later: a new sink reads none of
				// it back from the partitions.
				feed(t, newSink(f), rec{behaviorTopic, 1_000_000, behavior("b0", "")},
					rec{auditTopic, 1_000_000, classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "quarantined",
						At: time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), OccurredAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}})
			},
			want: map[string][]string{analytics.TableBehavior: {"0:"}, analytics.TableDecisions: {"0:k1"}},
		},
		{
			name: "the decisions chain on across an insert that failed after landing, a restart and a copy replayed upstream",
			run: func(t *testing.T, f *fakeStore) {
				audit := func(id, leadKey string) classify.Audit {
					return classify.Audit{EventID: id, EventType: "lead", LeadKey: leadKey, Decision: "accepted",
						At: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), OccurredAt: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
				}
				s := newSink(f)
				feed(t, s, rec{auditTopic, 0, audit("a0", "k1")})
				f.failNext[analytics.TableDecisions], f.landAnyway = true, true
				feed(t, s, rec{auditTopic, 1, audit("a1", "")}, rec{auditTopic, 2, audit("a2", "k2")})
				feed(t, s, rec{auditTopic, 3, audit("a3", "k1")})
				// A restart after the insert, before the commit; a1 comes again
				// at offset 5 (classify wrote its batch again).
				feed(t, newSink(f), rec{auditTopic, 2, audit("a2", "k2")}, rec{auditTopic, 3, audit("a3", "k1")},
					rec{auditTopic, 4, audit("a4", "")}, rec{auditTopic, 5, audit("a1", "")}, rec{auditTopic, 6, audit("a6", "k3")})
			},
			want: map[string][]string{analytics.TableDecisions: {"0:k1", "1:", "2:k2", "3:k1", "4:", "6:k3"}},
		},
		{
			name: "the behavior rows do not push the audit trail's event ids out of the sink's memory",
			run: func(t *testing.T, f *fakeStore) {
				f.noLookup = true // the memory alone
				s := newSink(f)
				feed(t, s, rec{auditTopic, 0, classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "accepted"}})
				recs := make([]rec, 0, 200_001)
				for i := range 200_001 {
					recs = append(recs, rec{behaviorTopic, int64(i), behavior(fmt.Sprintf("b%d", i), "")})
				}
				feed(t, s, recs...)
				delete(f.tables, analytics.TableBehavior) // only the audit trail is checked
				feed(t, s, rec{auditTopic, 1, classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "accepted"}})
			},
			want: map[string][]string{analytics.TableDecisions: {"0:k1"}},
		},
		{
			name: "a batch dropped at a rebalance (Discard) lands when its records come again",
			run: func(t *testing.T, f *fakeStore) {
				s := newSink(f)
				var out pipeline.Outputs
				audit := classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "accepted"}
				recs := []rec{{behaviorTopic, 0, behavior("b0", "")}, {behaviorTopic, 1, behavior("b1", "")},
					{classTopic, 0, record("c0", "k1", "accepted")}, {auditTopic, 0, audit}}
				for _, r := range recs {
					v, _ := json.Marshal(r.value)
					m := kafka.Message{Topic: r.topic, Offset: r.offset, Value: v}
					if _, err := s.Process(context.Background(), &m, &out); err != nil {
						t.Fatal(err)
					}
				}
				s.Discard()
				if err := s.Assign(context.Background(), []int{0}); err != nil {
					t.Fatal(err)
				}
				feed(t, s, recs...)
			},
			want: map[string][]string{analytics.TableBehavior: {"0:", "1:"}, analytics.TableClassifications: {"0:k1"}, analytics.TableDecisions: {"0:k1"}},
		},
		{
			name: "an insert whose rows landed though it failed is not landed twice by the retry",
			run: func(t *testing.T, f *fakeStore) {
				f.failNext[analytics.TableBehavior], f.landAnyway = true, true
				feed(t, newSink(f), rec{behaviorTopic, 0, behavior("b0", "")}, rec{behaviorTopic, 1, behavior("b1", "")})
			},
			want: map[string][]string{analytics.TableBehavior: {"0:", "1:"}},
		},
		{
			name: "an insert that failed without landing is landed by the retry",
			run: func(t *testing.T, f *fakeStore) {
				f.failNext[analytics.TableDecisions] = true
				feed(t, newSink(f), rec{auditTopic, 0, classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "accepted"}})
			},
			want: map[string][]string{analytics.TableDecisions: {"0:k1"}},
		},
		{
			name: "one table's insert fails beside two that land: the retry lands it, and the others once",
			run: func(t *testing.T, f *fakeStore) {
				f.failNext[analytics.TableBehavior] = true
				feed(t, newSink(f),
					rec{behaviorTopic, 0, behavior("b0", "")},
					rec{auditTopic, 0, classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "accepted"}},
					rec{classTopic, 0, record("c0", "k1", classify.DecisionAccepted)})
			},
			want: map[string][]string{
				analytics.TableBehavior:        {"0:"},
				analytics.TableDecisions:       {"0:k1"},
				analytics.TableClassifications: {"0:k1"},
			},
		},
		{
			name: "an erasure: the lead's rows of the batch lose their key or do not land, and it is queued and carried out",
			run: func(t *testing.T, f *fakeStore) {
				got := feed(t, newSink(f),
					rec{behaviorTopic, 0, behavior("b0", "k1")},
					rec{auditTopic, 0, classify.Audit{EventID: "a0", EventType: "lead", LeadKey: "k1", Decision: "accepted"}},
					rec{classTopic, 0, record("c0", "k1", classify.DecisionAccepted)},
					rec{classTopic, 1, record("c1", "k1", classify.DecisionErased)},
					rec{behaviorTopic, 1, behavior("b1", "k1")},
					rec{classTopic, 2, record("c2", "k2", classify.DecisionAccepted)})
				if len(f.erased) != 1 || f.erased[0] != "k1" || len(got) != 1 || got[0].Topic != pipeline.TopicAudit {
					t.Errorf("erased %v, receipts written %d; want k1 erased and its receipt on leadpipe.audit", f.erased, len(got))
				}
			},
			want: map[string][]string{
				analytics.TableBehavior:        {"0:", "1:"},
				analytics.TableDecisions:       {"0:"},
				analytics.TableClassifications: {"1:k1", "2:k2"}, // the erasure's own record lands, then the erasure takes it
			},
		},
		{
			name: "with --erasure-every, an erasure is only queued by its batch, and carried out by EraseQueued",
			run: func(t *testing.T, f *fakeStore) {
				s := newSink(f)
				s.ErasureEvery = time.Hour
				got := feed(t, s, rec{classTopic, 0, record("c0", "k1", classify.DecisionErased)})
				if len(f.queued) != 1 || len(f.erased) != 0 || len(got) != 0 {
					t.Fatalf("after the batch: queued %d, erased %v, receipts %d; want 1 queued, none carried out", len(f.queued), f.erased, len(got))
				}
				var produced []kafka.Message
				fail := errors.New("broker away")
				if _, err := s.EraseQueued(context.Background(), func(context.Context, ...kafka.Message) error { return fail }); !errors.Is(err, fail) {
					t.Fatalf("a failed delivery: %v", err)
				}
				if len(f.queued) != 1 {
					t.Fatalf("a failed delivery took the erasure off the queue")
				}
				n, err := s.EraseQueued(context.Background(), func(_ context.Context, ms ...kafka.Message) error {
					produced = append(produced, ms...)
					return nil
				})
				if err != nil || n != 1 || len(produced) != 1 || len(f.queued) != 0 || len(f.erased) != 1 {
					t.Errorf("EraseQueued: %d carried out (%v), %d receipts produced, %d still queued", n, err, len(produced), len(f.queued))
				}
			},
			want: map[string][]string{analytics.TableClassifications: {"0:k1"}},
		},
		{
			name: "rows of a lead erased before the sink started land without its key",
			run: func(t *testing.T, f *fakeStore) {
				f.erased = []string{"k1"}
				s := newSink(f)
				if err := s.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				feed(t, s, rec{behaviorTopic, 0, behavior("b0", "k1")}, rec{classTopic, 0, record("c0", "k1", classify.DecisionAccepted)})
			},
			want: map[string][]string{analytics.TableBehavior: {"0:"}},
		},
		{
			name: "a purge goes to ClickHouse and the purged history's record does not land",
			run: func(t *testing.T, f *fakeStore) {
				quarantined := record("c0", "k1", classify.DecisionQuarantined)
				purged := record("p0", "k1", classify.DecisionPurged)
				purged.AsOf = quarantined.OccurredAt // the end of the purged history
				feed(t, newSink(f), rec{classTopic, 0, quarantined}, rec{classTopic, 1, purged})
				if len(f.purged) != 1 || f.purged[0].LeadKey != "k1" {
					t.Errorf("purged %+v, want k1", f.purged)
				}
			},
			want: map[string][]string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeStore()
			tc.run(t, f)
			for _, table := range []string{analytics.TableBehavior, analytics.TableDecisions, analytics.TableClassifications} {
				if got, want := f.rows(table), tc.want[table]; !slices.Equal(got, want) {
					t.Errorf("%s holds %v, want %v", table, got, want)
				}
			}
			// Whatever happened, the decisions that landed form whole chains.
			if breaks := f.chainBreaks(); len(breaks) > 0 {
				t.Errorf("the ledger is broken: %v", breaks)
			}
		})
	}
}
