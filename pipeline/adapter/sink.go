package adapter

// This file stays whole (about 820 lines): it is the sink stage's one
// decision per record (land, skip as landed, erase, purge) and the
// memories those decisions share; the ClickHouse side is analytics/.

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json" // the hot paths' codec, chosen in bench/RESULTS.md
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/ledger"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/sink"
)

// partitionKey is one partition of a topic.
type partitionKey struct {
	topic     string
	partition int
}

// Sink lands leads.classified, leads.quarantine, behavior.enriched and
// leadpipe.audit in ClickHouse: one INSERT per table per batch, before the
// runtime commits the batch's offsets.
//
// No record lands twice. Every row carries its topic, partition and
// offset. When the sink meets a partition for the first time, or its
// offsets jump (a restart, a rebalance, a replay after a crash between
// insert and commit), it reads back which offsets from there on already
// landed and skips exactly those. After an insert whose outcome is unknown
// (the connection broke before ClickHouse answered) it does the same for
// the rows it is about to insert again. The materialized views that feed
// the aggregates therefore see each record once.
type Sink struct {
	cfg *pipeline.Config
	w   Store

	classifications []analytics.ClassificationRow
	behavior        []analytics.BehaviorRow
	decisions       []analytics.DecisionRow
	uncertain       bool // an insert failed: some of the buffered rows may have landed

	skip     map[partitionKey]map[int64]struct{} // offsets ahead that already landed
	lastSeen map[partitionKey]int64              // last offset processed in this process
	blocked  atomic.Bool

	// erased holds the lead keys of recently erased leads: behavior and
	// audit rows that still carry one (written before the erasure, read
	// after it) land without it, and their classifications do not land.
	erased  *lru.Cache[string, struct{}]
	toErase []analytics.ErasureRequest // erased in this batch; carried out in ClickHouse once it landed
	toPurge []analytics.PurgeRequest   // purged from the quarantine in this batch; carried out before it lands
	// erasedIDs are the erasure ids of every receipt in ClickHouse, read at
	// start: what another sink process, or this one before a restart,
	// erased. A row whose key hashes to one does not land with that key.
	erasedIDs map[string]struct{}

	// ErasureEvery is how often the queued erasures are carried out, in
	// one set of mutations (EraseQueued, run by Start's loop); zero carries
	// out a batch's erasures in its Flush. Log gets the loop's failures.
	ErasureEvery time.Duration
	Log          *slog.Logger
	queued       bool // erasures queued by a Flush, to be carried out by it (ErasureEvery zero)

	// seen holds the event ids that recently landed, one memory per
	// table, so that the many behavior rows never push out the ids of
	// the audit trail: a copy that comes while its original is
	// remembered (within one batch, or soon after) is dropped without
	// asking ClickHouse. It holds 128-bit hashes of them (seenKey) rather
	// than the strings: no pointers in the keys for the GC to follow, a
	// cheaper lookup, and 30 % less memory (23 MB against 33 for 200,000
	// ids of 40 bytes). Whatever it has forgotten, Flush finds in
	// ClickHouse (dropLanded).
	seen  map[string]*lru.Cache[[2]uint64, struct{}]
	seeds [2]maphash.Seed

	// decisionsLanded are the batch's entries of decisions_landed, one
	// per audit record read: inserted once the decisions rows landed.
	decisionsLanded []analytics.DecisionLandedRow
	// recount holds the records Flush found landed before, by the
	// outcome Process had counted them under (pipeline.Recounter).
	recount map[pipeline.Outcome]int64
	// Replayed counts, per table, the rows Flush found in ClickHouse
	// already and did not land again (leadpipe_sink_replayed_rows_total).
	Replayed *prometheus.CounterVec

	// The decision ledger (package ledger): Flush links the batch's
	// decisions rows into their audit partition's chain, from heads, the
	// last chained row that landed of each partition this sink knows. A
	// partition's head is forgotten whenever a row may have landed that
	// this sink did not chain (a partition met again, a record skipped as
	// landed, an insert whose outcome is unknown) and read back from
	// ClickHouse, so a chain is a function of what landed.
	heads map[int]ledger.Head
	// anchorPending are the heads landed since the last anchors, which
	// Flush writes to ledger_anchors every AnchorEvery (zero: every
	// flush), signed with AnchorKey when it is set.
	anchorPending map[int]ledger.Head
	lastAnchor    time.Time
	AnchorEvery   time.Duration
	AnchorKey     ed25519.PrivateKey
}

// Store is what the sink needs of ClickHouse: *analytics.Writer, or a
// fake in the tests that run without a server.
type Store interface {
	// InsertRows inserts a batch of one table's rows. The sink inserts
	// into its tables at once: it is called from several goroutines.
	InsertRows(ctx context.Context, table string, rows any) error
	// Landed returns the offsets of a topic partition from from on that
	// landed in table, and the dedupe keys of its rows from from-window on
	// (analytics.Writer.Landed).
	Landed(ctx context.Context, table, topic string, partition int, from, window int64) (map[int64]struct{}, []string, error)
	// LandedEvents returns which of keys landed in table, at any distance
	// (analytics.Writer.LandedEvents).
	LandedEvents(ctx context.Context, table string, keys []analytics.EventKey) (map[analytics.EventKey]struct{}, error)
	// LandedOffsets returns the offsets from from on that landed in table.
	LandedOffsets(ctx context.Context, table, topic string, partition int, from int64) (map[int64]struct{}, error)
	// ErasedIDs returns the erasure id of every receipt.
	ErasedIDs(ctx context.Context) (map[string]struct{}, error)
	// Purge deletes purged quarantined leads' history.
	Purge(ctx context.Context, reqs []analytics.PurgeRequest) error
	// QueueErasures queues erasures; ErasePending carries out every queued
	// one and hands deliver their receipts before they leave the queue.
	QueueErasures(ctx context.Context, reqs []analytics.ErasureRequest) error
	ErasePending(ctx context.Context, deliver func([]analytics.ErasureReceipt) error) (int, error)
	// MutationsRunning returns how many mutations have not finished.
	MutationsRunning(ctx context.Context) (uint64, error)
	// LedgerHead returns the offset and hash of the last chained decisions
	// row of a topic partition below before; ok is false without one.
	LedgerHead(ctx context.Context, topic string, partition int, before int64) (offset int64, hash string, ok bool, err error)
}

// seenEvents bounds the event ids the sink remembers per table; a replay
// upstream covers one uncommitted batch, far fewer. A copy further away
// is found in ClickHouse.
const seenEvents = 200_000

// sinkTables are the tables the sink lands rows in.
var sinkTables = []string{analytics.TableClassifications, analytics.TableBehavior, analytics.TableDecisions}

// landedWindow is how many offsets of a partition before the first record
// a sink reads have their event ids read back from ClickHouse, when it
// meets the partition: a replay upstream lands its copies this close to
// the originals (one uncommitted batch of classify or enrich, 2,000
// records by default).
const landedWindow = 20_000

// NewSink returns the sink stage writing through w.
func NewSink(cfg *pipeline.Config, w Store) *Sink {
	erased, _ := lru.New[string, struct{}](100_000)
	seen := map[string]*lru.Cache[[2]uint64, struct{}]{}
	for _, t := range sinkTables {
		seen[t], _ = lru.New[[2]uint64, struct{}](seenEvents)
	}
	return &Sink{
		cfg: cfg, w: w, erased: erased, seen: seen, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		skip: map[partitionKey]map[int64]struct{}{}, lastSeen: map[partitionKey]int64{},
		recount: map[pipeline.Outcome]int64{},
		heads:   map[int]ledger.Head{}, anchorPending: map[int]ledger.Head{},
		Replayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadpipe_sink_replayed_rows_total",
			Help: "Rows the sink found in ClickHouse already when it flushed (a copy of an event replayed upstream), per table, and did not land again.",
		}, []string{"table"}),
	}
}

// Collectors are the sink's own metrics (pipeline.Observed).
func (s *Sink) Collectors() []prometheus.Collector { return []prometheus.Collector{s.Replayed} }

func (s *Sink) Name() string { return "sink" }
func (s *Sink) Topics() []string {
	return []string{
		s.cfg.Topic(pipeline.TopicLeadsClassified), s.cfg.Topic(pipeline.TopicLeadsQuarantine),
		s.cfg.Topic(pipeline.TopicBehaviorEnriched), s.cfg.Topic(pipeline.TopicAudit),
	}
}

// table is the ClickHouse table of a topic.
func (s *Sink) table(topic string) string {
	switch topic {
	case s.cfg.Topic(pipeline.TopicBehaviorEnriched):
		return analytics.TableBehavior
	case s.cfg.Topic(pipeline.TopicAudit):
		return analytics.TableDecisions
	}
	return analytics.TableClassifications
}

// Blocked reports whether the sink waits for ClickHouse inside Process.
func (s *Sink) Blocked() bool { return s.blocked.Load() }

// landed reads back the offsets of a partition, from offset from on, that
// already landed in table, waiting for ClickHouse while it is away; and it
// remembers the event ids of the last landedWindow offsets before from as
// seen, so that a record an upstream replay brings back is not landed
// again by a sink that did not land the first copy (a restart, a
// handover).
func (s *Sink) landed(ctx context.Context, table, topic string, partition int, from int64) (map[int64]struct{}, error) {
	for {
		offs, keys, err := s.w.Landed(ctx, table, topic, partition, from, landedWindow)
		s.blocked.Store(err != nil)
		if err == nil {
			for _, k := range keys {
				s.seen[table].Add(s.seenKey(k), struct{}{})
			}
			return offs, nil
		}
		if !pipeline.IsRetryable(err) {
			s.blocked.Store(false)
			return nil, fmt.Errorf("%w (not retryable)", err)
		}
		select {
		case <-ctx.Done():
			s.blocked.Store(false)
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Process turns one record into a row of its table.
func (s *Sink) Process(ctx context.Context, m *kafka.Message, _ *pipeline.Outputs) (pipeline.Outcome, error) {
	pk := partitionKey{m.Topic, m.Partition}
	table := s.table(m.Topic)
	if last, ok := s.lastSeen[pk]; !ok || m.Offset != last+1 {
		offs, err := s.landed(ctx, table, m.Topic, m.Partition, m.Offset)
		if err != nil {
			return 0, err
		}
		s.skip[pk] = offs
		if table == analytics.TableDecisions {
			delete(s.heads, m.Partition) // rows of another sink may have landed since
		}
	}
	s.lastSeen[pk] = m.Offset
	_, landed := s.skip[pk][m.Offset]
	if landed {
		delete(s.skip[pk], m.Offset)
	}
	if m.Value == nil {
		return pipeline.Produced, nil // a compaction tombstone: nothing to land
	}
	o := analytics.Origin{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}
	switch table {
	case analytics.TableBehavior:
		if landed {
			return pipeline.Skipped, nil
		}
		var e enrich.Event
		if err := json.Unmarshal(m.Value, &e); err != nil {
			return 0, fmt.Errorf("decode enriched event: %w", err)
		}
		if s.duplicate(table, e.EventID) {
			return pipeline.Skipped, nil
		}
		row := sink.Behavior(&e, o)
		if row.LeadKey != "" && s.isErased(row.LeadKey) {
			row.LeadKey = ""
		}
		s.behavior = append(s.behavior, row)
	case analytics.TableDecisions:
		var a classify.Audit
		if err := json.Unmarshal(m.Value, &a); err != nil {
			if landed {
				return pipeline.Skipped, nil
			}
			return 0, fmt.Errorf("decode audit record: %w", err)
		}
		// Every audit record read is entered in decisions_landed, those
		// that landed before too: a sink stopped between the two inserts
		// of a flush leaves decisions rows that only this entry lets a
		// far copy find.
		row := sink.Decision(&a, o)
		s.decisionsLanded = append(s.decisionsLanded, analytics.DecisionLandedRow{OccurredAt: row.EventAt, EventID: row.EventID})
		if landed {
			delete(s.heads, m.Partition) // the chain goes on from the row that landed
			return pipeline.Skipped, nil
		}
		if s.duplicate(table, a.EventID) {
			return pipeline.Skipped, nil
		}
		if row.LeadKey != "" && (s.isErased(row.LeadKey) || a.EventType == classify.EventTypeRetention) {
			row.LeadKey = "" // a purge's own audit lands without the key it purged
		}
		s.decisions = append(s.decisions, row)
	default:
		var r classify.Record
		if err := json.Unmarshal(m.Value, &r); err != nil {
			return 0, fmt.Errorf("decode classified record: %w", err)
		}
		// A purged quarantined lead: what landed of its history goes, and
		// the record itself lands nowhere.
		if r.Decision == classify.DecisionPurged && r.LeadKey != "" {
			s.purge(&r)
			return pipeline.Produced, nil
		}
		// An erasure is acted on even when its record landed before: a
		// replay may bring back behavior rows that it unlinked.
		erased := r.Decision == classify.DecisionErased && r.LeadKey != ""
		if erased {
			s.erase(&r)
		}
		// An earlier record of an erased lead, read after its erasure (from
		// the other classification topic), does not land.
		late := !erased && s.isErased(r.LeadKey)
		// One event can re-classify several leads (an objection reaches
		// every lead of the same email): a record is one per event and lead.
		if landed || late || s.duplicate(table, r.EventID+"\x00"+r.LeadKey) {
			return pipeline.Skipped, nil
		}
		s.classifications = append(s.classifications, sink.Classification(&r, o))
		if r.Decision == classify.DecisionQuarantined {
			return pipeline.Quarantined, nil
		}
	}
	return pipeline.Produced, nil
}

// duplicate reports whether the event id already landed in table, and
// remembers it otherwise.
func (s *Sink) duplicate(table, eventID string) bool {
	if eventID == "" {
		return false
	}
	found, _ := s.seen[table].ContainsOrAdd(s.seenKey(eventID), struct{}{})
	return found
}

// seenKey is the key of an event id in a table's memory of seen: two 64-bit hashes
// of them under two random seeds of this process. Two different ids share
// a key with a chance of about one in 2^128 per pair, far below that of a
// corrupted record; and with the seeds unknown outside the process, ids
// cannot be chosen to collide.
func (s *Sink) seenKey(eventID string) [2]uint64 {
	var k [2]uint64
	for i, seed := range s.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		h.WriteString(eventID)
		k[i] = h.Sum64()
	}
	return k
}

// Start reads the erasure ids of every receipt, so that rows of a lead
// erased before this process started do not land with its key; then, with
// ErasureEvery set, it carries out the queued erasures every ErasureEvery
// until ctx ends, those queued before a restart first.
func (s *Sink) Start(ctx context.Context) error {
	for {
		ids, err := s.w.ErasedIDs(ctx)
		s.blocked.Store(err != nil)
		if err == nil {
			s.erasedIDs = ids
			if s.ErasureEvery > 0 {
				go s.eraseEvery(ctx)
			}
			return nil
		}
		if !pipeline.IsRetryable(err) {
			s.blocked.Store(false)
			return fmt.Errorf("read the erasure receipts: %w (is the database migrated? leadpipe migrate)", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read the erasure receipts: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// eraseEvery carries out the queued erasures every ErasureEvery until ctx
// ends; a failure is logged and tried again at the next tick.
func (s *Sink) eraseEvery(ctx context.Context) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	w := pipeline.NewWriter(s.cfg)
	defer w.Close()
	t := time.NewTicker(s.ErasureEvery)
	defer t.Stop()
	for {
		var n int
		// The last set's mutations may outlast the wait (MutationTimeout):
		// a new set waits for them rather than piling up behind them.
		running, err := s.w.MutationsRunning(ctx)
		if err == nil && running == 0 {
			n, err = s.EraseQueued(ctx, w.WriteMessages)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("carrying out the queued erasures failed; trying again", "err", err, "in", s.ErasureEvery)
		case running > 0:
			log.Info("the queued erasures wait for the mutations still running", "mutations", running)
		case n > 0:
			log.Info("erasures carried out", "leads", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EraseQueued carries out every queued erasure and writes its receipts to
// leadpipe.audit with produce (a kafka.Writer's WriteMessages), before
// they leave the queue (Store.ErasePending).
func (s *Sink) EraseQueued(ctx context.Context, produce func(context.Context, ...kafka.Message) error) (int, error) {
	return s.w.ErasePending(ctx, func(receipts []analytics.ErasureReceipt) error {
		var out pipeline.Outputs
		if err := s.addReceipts(receipts, &out); err != nil {
			return err
		}
		return produce(ctx, out.Messages()...)
	})
}

// addReceipts adds erasure receipts to out, for leadpipe.audit.
func (s *Sink) addReceipts(receipts []analytics.ErasureReceipt, out *pipeline.Outputs) error {
	for i := range receipts {
		v, err := json.Marshal(sink.Receipt(&receipts[i]))
		if err != nil {
			return fmt.Errorf("encode erasure receipt: %w", err)
		}
		// Keyed by the erasure id: a receipt given again (a replay acts
		// on the erasure again) lands on the original's partition, where
		// the event ids read back from ClickHouse drop it.
		out.Add(s.cfg.Topic(pipeline.TopicAudit), []byte(receipts[i].ErasureID), v)
	}
	return nil
}

// isErased reports whether the lead key was erased, by this process or
// (by its receipt) before it started.
func (s *Sink) isErased(leadKey string) bool {
	if s.erased.Contains(leadKey) {
		return true
	}
	if len(s.erasedIDs) == 0 {
		return false
	}
	_, ok := s.erasedIDs[analytics.ErasureID(leadKey)]
	return ok
}

// purge queues the deletion of a purged lead's history (Flush carries it
// out before it inserts the batch) and drops the batch's rows of that
// history; rows of a newer history of the lead id stay.
func (s *Sink) purge(r *classify.Record) {
	s.toPurge = append(s.toPurge, analytics.PurgeRequest{LeadKey: r.LeadKey, AsOf: r.AsOf, Deadline: r.OccurredAt})
	kept := s.classifications[:0]
	for _, c := range s.classifications {
		if c.LeadKey != r.LeadKey || c.OccurredAt.After(r.AsOf) {
			kept = append(kept, c)
		}
	}
	s.classifications = kept
	for i := range s.decisions {
		if s.decisions[i].LeadKey == r.LeadKey {
			s.decisions[i].LeadKey = ""
		}
	}
}

func (s *Sink) erase(r *classify.Record) {
	leadKey := r.LeadKey
	s.erased.Add(leadKey, struct{}{})
	req := analytics.ErasureRequest{LeadKey: leadKey, KeyVersion: r.KeyVersion, EventID: r.EventID, RequestedAt: r.OccurredAt}
	if r.Erasure != nil {
		req.EventID, req.RequestedAt = r.Erasure.EventID, r.Erasure.RequestedAt
	}
	s.toErase = append(s.toErase, req)
	for i := range s.behavior { // rows of this batch enriched before the erasure
		if s.behavior[i].LeadKey == leadKey {
			s.behavior[i].LeadKey = ""
		}
	}
	for i := range s.decisions {
		if s.decisions[i].LeadKey == leadKey {
			s.decisions[i].LeadKey = ""
		}
	}
	kept := s.classifications[:0]
	for _, c := range s.classifications {
		if c.LeadKey != leadKey {
			kept = append(kept, c)
		}
	}
	s.classifications = kept
}

// Assign forgets what the sink knew of the offsets of every partition: in
// a new generation a partition may come back after another sink owned it
// for a while, and inserted rows it could not commit. The first record of
// each partition then reads back which offsets from there on landed.
func (s *Sink) Assign(context.Context, []int) error {
	clear(s.skip)
	clear(s.lastSeen)
	clear(s.heads)
	return nil
}

// Revoke keeps nothing per partition beyond what Assign forgets.
func (s *Sink) Revoke([]int) {}

// Discard drops the rows and erasures buffered since the last Flush, and
// what the sink knew of the partitions' offsets: it reads back which
// offsets landed when it meets a partition again.
func (s *Sink) Discard() {
	// The dropped rows' event ids are forgotten, or their replay would be
	// taken for a duplicate and lost.
	for _, r := range s.classifications {
		s.seen[analytics.TableClassifications].Remove(s.seenKey(r.EventID + "\x00" + r.LeadKey))
	}
	for _, r := range s.behavior {
		s.seen[analytics.TableBehavior].Remove(s.seenKey(r.EventID))
	}
	for _, r := range s.decisions {
		s.seen[analytics.TableDecisions].Remove(s.seenKey(r.EventID))
	}
	s.classifications, s.behavior, s.decisions, s.toErase = s.classifications[:0], s.behavior[:0], s.decisions[:0], s.toErase[:0]
	s.decisionsLanded = s.decisionsLanded[:0]
	clear(s.recount)
	s.toPurge = s.toPurge[:0]
	s.uncertain = false
	clear(s.skip)
	clear(s.lastSeen)
	clear(s.heads)
}

// Flush carries out the batch's purges, inserts the buffered rows, one
// INSERT per table, the three at once, then carries out the batch's
// erasures and adds their receipts to out, for leadpipe.audit.
// A table whose insert succeeded is not inserted again when another table
// fails and the runtime retries; after a failed insert, rows that landed
// anyway are dropped from the retry.
func (s *Sink) Flush(ctx context.Context, out *pipeline.Outputs) error {
	if s.uncertain {
		var err error
		if s.classifications, err = unlanded(ctx, s, analytics.TableClassifications, s.classifications,
			func(r *analytics.ClassificationRow) analytics.Origin { return r.Origin }); err != nil {
			return err
		}
		if s.behavior, err = unlanded(ctx, s, analytics.TableBehavior, s.behavior,
			func(r *analytics.BehaviorRow) analytics.Origin { return r.Origin }); err != nil {
			return err
		}
		if s.decisions, err = unlanded(ctx, s, analytics.TableDecisions, s.decisions,
			func(r *analytics.DecisionRow) analytics.Origin { return r.Origin }); err != nil {
			return err
		}
		s.uncertain = false
	}
	if err := s.dropLanded(ctx); err != nil {
		return err
	}
	// Storage limitation: purged leads' history goes before the batch
	// lands, so that a newer history of the same lead id in it stays.
	if len(s.toPurge) > 0 {
		if err := s.w.Purge(ctx, s.toPurge); err != nil {
			return fmt.Errorf("purge %d quarantined leads: %w", len(s.toPurge), err)
		}
		s.toPurge = s.toPurge[:0]
	}
	next, err := s.chain(ctx)
	if err != nil {
		return fmt.Errorf("the ledger's heads: %w", err)
	}
	if err := s.insert(ctx, next); err != nil {
		s.uncertain = true
		return err
	}
	// Art. 17: what already landed for an erased lead goes too. The
	// erasure is queued with the batch, and carried out now (ErasureEvery
	// zero) or with every other queued one by the loop.
	if len(s.toErase) > 0 {
		if err := s.w.QueueErasures(ctx, s.toErase); err != nil {
			return err
		}
		s.toErase = s.toErase[:0]
		s.queued = s.ErasureEvery == 0
	}
	if s.queued {
		_, err := s.w.ErasePending(ctx, func(receipts []analytics.ErasureReceipt) error {
			return s.addReceipts(receipts, out)
		})
		if err != nil {
			return fmt.Errorf("erase the queued leads: %w", err)
		}
		s.queued = false
	}
	return s.anchor(ctx)
}

// chain links the batch's decisions rows, in the order Process read them
// (each partition's in offset order), into their partitions' chains, and
// returns the heads they make. A partition whose head this sink does not
// know starts from the last chained row below its first row in
// ClickHouse, or from the genesis.
func (s *Sink) chain(ctx context.Context) (map[int]ledger.Head, error) {
	next := map[int]ledger.Head{}
	for i := range s.decisions {
		r := &s.decisions[i]
		p := int(r.Partition)
		h, ok := next[p]
		if !ok {
			if h, ok = s.heads[p]; !ok {
				off, hash, found, err := s.w.LedgerHead(ctx, r.Topic, p, r.Offset)
				if err != nil {
					return nil, err
				}
				h = ledger.Genesis
				if found {
					h = ledger.Head{Offset: off, Hash: hash}
				}
			}
		}
		next[p] = ledger.Link(r, h)
	}
	return next, nil
}

// anchor writes the heads landed since the last anchors to ledger_anchors,
// once AnchorEvery has passed since then.
func (s *Sink) anchor(ctx context.Context) error {
	if len(s.anchorPending) == 0 || time.Since(s.lastAnchor) < s.AnchorEvery {
		return nil
	}
	now := time.Now()
	rows := make([]analytics.AnchorRow, 0, len(s.anchorPending))
	for _, p := range slices.Sorted(maps.Keys(s.anchorPending)) {
		rows = append(rows, ledger.Anchor(s.cfg.Topic(pipeline.TopicAudit), p, s.anchorPending[p], now, s.AnchorKey))
	}
	if err := s.w.InsertRows(ctx, analytics.TableLedgerAnchors, rows); err != nil {
		return fmt.Errorf("anchor the ledger: %w", err)
	}
	clear(s.anchorPending)
	s.lastAnchor = now
	return nil
}

// insert inserts the buffered rows of each table, the tables at once: an
// INSERT's time is mostly ClickHouse's, writing its parts and those of the
// table's materialized views, and a flush waits for the slowest table
// rather than for the sum. The rows of a table whose insert succeeded are
// dropped from the buffer; a failed one keeps its rows for the retry.
func (s *Sink) insert(ctx context.Context, next map[int]ledger.Head) error {
	var g errgroup.Group
	g.Go(insertInto(ctx, s.w, analytics.TableClassifications, &s.classifications))
	g.Go(insertInto(ctx, s.w, analytics.TableBehavior, &s.behavior))
	g.Go(func() error {
		// decisions_landed after decisions: an entry there says its row
		// landed.
		if err := s.insertDecisions(ctx); err != nil {
			clear(s.heads) // some rows may have landed: read the heads back
			return err
		}
		for p, h := range next {
			s.heads[p], s.anchorPending[p] = h, h
		}
		return insertInto(ctx, s.w, analytics.TableDecisionsLanded, &s.decisionsLanded)()
	})
	return g.Wait()
}

// insertDecisions inserts the decisions rows in order, one INSERT per run
// of rows within the same quarter of an hour of their at, and drops each
// run from the buffer once it landed. An INSERT into one partition of a
// MergeTree lands whole or not at all, and the table is partitioned by
// month of at in the server's time zone (a multiple of 15 minutes away
// from UTC), so what lands of a batch is always a prefix of each
// partition's rows: a chained row never lands without the rows before it.
func (s *Sink) insertDecisions(ctx context.Context) error {
	for len(s.decisions) > 0 {
		slot := s.decisions[0].At.Unix() / 900
		n := 1
		for n < len(s.decisions) && s.decisions[n].At.Unix()/900 == slot {
			n++
		}
		if err := s.w.InsertRows(ctx, analytics.TableDecisions, s.decisions[:n]); err != nil {
			return err
		}
		s.decisions = s.decisions[n:]
	}
	return nil
}

// dropLanded drops the buffered rows whose event already landed in their
// table, however long ago: a copy that an upstream replay brought back
// under a new offset (enrich's group reset to the start, classify writing
// a batch again after a crash). Each table is asked once per flush, by its
// primary key (Store.LandedEvents). The records of the rows dropped are
// counted as skipped (Recount).
func (s *Sink) dropLanded(ctx context.Context) error {
	var err error
	if s.classifications, err = dropLandedRows(ctx, s, analytics.TableClassifications, s.classifications,
		func(r *analytics.ClassificationRow) analytics.EventKey {
			return analytics.EventKey{LeadKey: r.LeadKey, At: r.OccurredAt.Unix(), ID: r.EventID}
		},
		func(r *analytics.ClassificationRow) pipeline.Outcome {
			if r.Decision == classify.DecisionQuarantined {
				return pipeline.Quarantined
			}
			return pipeline.Produced
		}); err != nil {
		return err
	}
	if s.behavior, err = dropLandedRows(ctx, s, analytics.TableBehavior, s.behavior,
		func(r *analytics.BehaviorRow) analytics.EventKey {
			return analytics.EventKey{At: r.OccurredAt.Unix(), ID: r.EventID}
		}, nil); err != nil {
		return err
	}
	s.decisions, err = dropLandedRows(ctx, s, analytics.TableDecisions, s.decisions,
		func(r *analytics.DecisionRow) analytics.EventKey {
			return analytics.EventKey{At: r.EventAt.Unix(), ID: r.EventID}
		}, nil)
	return err
}

// dropLandedRows returns the rows of table whose keys have not landed.
// outcome is what Process counted a row's record as (nil: produced).
func dropLandedRows[T any](ctx context.Context, s *Sink, table string, rows []T,
	key func(*T) analytics.EventKey, outcome func(*T) pipeline.Outcome) ([]T, error) {
	if len(rows) == 0 {
		return rows, nil
	}
	keys := make([]analytics.EventKey, len(rows))
	for i := range rows {
		keys[i] = key(&rows[i])
	}
	landed, err := s.w.LandedEvents(ctx, table, keys)
	if err != nil || len(landed) == 0 {
		return rows, err
	}
	kept := rows[:0]
	for i := range rows {
		if _, ok := landed[keys[i]]; !ok {
			kept = append(kept, rows[i])
			continue
		}
		o := pipeline.Produced
		if outcome != nil {
			o = outcome(&rows[i])
		}
		s.recount[o]++
		s.Replayed.WithLabelValues(table).Inc()
	}
	return kept, nil
}

// Recount returns how many records of the batch, by the outcome Process
// counted them under, Flush found landed before (pipeline.Recounter).
func (s *Sink) Recount() map[pipeline.Outcome]int64 {
	if len(s.recount) == 0 {
		return nil
	}
	out := maps.Clone(s.recount)
	clear(s.recount)
	return out
}

// insertInto inserts *rows into table and empties *rows once they landed.
func insertInto[T any](ctx context.Context, w Store, table string, rows *[]T) func() error {
	return func() error {
		if err := w.InsertRows(ctx, table, *rows); err != nil {
			return err
		}
		*rows = (*rows)[:0]
		return nil
	}
}

// unlanded returns the rows whose offsets have not landed in table.
func unlanded[T any](ctx context.Context, s *Sink, table string, rows []T, origin func(*T) analytics.Origin) ([]T, error) {
	if len(rows) == 0 {
		return rows, nil
	}
	from := map[partitionKey]int64{}
	for i := range rows {
		o := origin(&rows[i])
		pk := partitionKey{o.Topic, int(o.Partition)}
		if f, ok := from[pk]; !ok || o.Offset < f {
			from[pk] = o.Offset
		}
	}
	landed := map[partitionKey]map[int64]struct{}{}
	for pk, f := range from {
		offs, err := s.w.LandedOffsets(ctx, table, pk.topic, pk.partition, f)
		if err != nil {
			return rows, err
		}
		landed[pk] = offs
	}
	kept := rows[:0]
	for i := range rows {
		o := origin(&rows[i])
		if _, ok := landed[partitionKey{o.Topic, int(o.Partition)}][o.Offset]; ok {
			continue
		}
		kept = append(kept, rows[i])
	}
	return kept, nil
}
