package ledger

// This file stays whole (about 560 lines): it is one verification, the
// order of its checks and the kinds of break they report, read together.

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"maps"
	"slices"
	"time"

	json "github.com/goccy/go-json"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/sink"
)

// The kinds of break Verify reports.
const (
	// BreakDeleted: a row of the chain is gone (the next row names it, an
	// anchor names it, or the topic holds a record that neither landed
	// nor is a copy of one that did).
	BreakDeleted = "deleted"
	// BreakAltered: a row's columns are not what its hash, the topic's
	// record or an anchor says.
	BreakAltered = "altered"
	// BreakReordered: a row stands at an offset that is not its own.
	BreakReordered = "reordered"
	// BreakInserted: a row that no record of the topic put there.
	BreakInserted = "inserted"
	// BreakBadSignature: an anchor whose signature the public key refuses.
	BreakBadSignature = "bad_signature"
	// BreakUnsigned: an anchor without a signature, when a public key is
	// given (a signing sink signs every anchor).
	BreakUnsigned = "unsigned_anchor"
	// BreakUnaccounted: more rows lost their lead key than the erasure
	// receipts and the quarantine purges account for.
	BreakUnaccounted = "unaccounted_erasure"
)

// Config is what Verify reads.
type Config struct {
	// Writer reads decisions, ledger_anchors, erasure_receipts and
	// retention_runs.
	Writer *analytics.Writer
	// Kafka reads the audit topic and the sink's committed offsets; nil
	// checks ClickHouse alone (the chain and the anchors).
	Kafka *pipeline.Config
	// Topic is the audit topic's name (with its prefix).
	Topic string
	// SinkGroup is the sink's consumer group: the audit records below its
	// committed offsets were read by a sink, so each landed or is a copy.
	SinkGroup string
	// From and To bound the rows checked by their at (processing time),
	// From included, To not; zero is unbounded.
	From, To time.Time
	// PublicKey checks the anchors' signatures; nil leaves them unchecked.
	PublicKey ed25519.PublicKey
}

// Break is where the ledger first fails.
type Break struct {
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Kind      string `json:"kind"`
	Detail    string `json:"detail"`
}

func (b Break) String() string {
	return fmt.Sprintf("%s at partition %d, offset %d: %s", b.Kind, b.Partition, b.Offset, b.Detail)
}

// Receipt is an erasure receipt that accounts for erased rows.
type Receipt struct {
	// ID is the receipt's event id on the audit trail: the request's
	// event id, "/receipt/" and the erasure id's first 16 hex digits.
	ID          string    `json:"id"`
	CompletedAt time.Time `json:"completed_at"`
	// Rows are the decisions rows it unlinked.
	Rows uint64 `json:"rows"`
}

// Result is a verification's summary.
type Result struct {
	Topic string `json:"topic"`
	// Partitions with chained rows, and the chained rows checked.
	Partitions int   `json:"partitions"`
	Records    int64 `json:"records"`
	// Unchained are rows landed before the ledger (migration 0011).
	Unchained int64 `json:"unchained"`
	// TopicRecords is how many audit records the topic holds and were
	// checked against the rows; Copies those that did not land because
	// their event's decision had (a replay upstream), DeadLettered those
	// the sink could not decode.
	TopicRecords int64 `json:"topic_records"`
	Copies       int64 `json:"copies"`
	DeadLettered int64 `json:"dead_lettered"`
	// Anchors checked against the chain, and how many carry a signature
	// (checked with the public key when SignaturesChecked).
	Anchors           int  `json:"anchors"`
	SignedAnchors     int  `json:"signed_anchors"`
	SignaturesChecked bool `json:"signatures_checked"`
	// ErasedAccounted are the rows whose lead key and salt an erasure or
	// a purge cleared (their digest stays in the chain); Receipts the
	// erasure receipts that account for them, and PurgedAccounted what
	// the purges of the quarantine do.
	ErasedAccounted int       `json:"erased_accounted"`
	Receipts        []Receipt `json:"receipts"`
	PurgedAccounted uint64    `json:"purged_accounted"`
	// Break is the first break, nil when the ledger is whole.
	Break *Break `json:"break"`
}

// Whole reports whether no break was found.
func (r *Result) Whole() bool { return r.Break == nil }

// Verify checks the ledger of the audit topic: every chained decisions row
// against its hash, the row before it and the topic's record at its
// offset; every audit record the sink read against the rows; every anchor
// against the chain and, with a public key, its signature; and the erased
// rows against the receipts and purges. It returns the first break (by
// partition, then offset) in Result.Break; err is for what could not be
// read.
func Verify(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Topic: cfg.Topic, Receipts: []Receipt{}, SignaturesChecked: cfg.PublicKey != nil}
	// What is read first bounds what is read after, so that a pipeline
	// landing records meanwhile shows no break: the sink's committed
	// offsets first (every record below them landed before the rows are
	// read), then the anchors (each names rows that landed before it),
	// then the rows, then the topic's records.
	var committed map[int]int64
	var err error
	if cfg.Kafka != nil {
		if committed, err = committedOffsets(ctx, cfg.Kafka, cfg.Topic, cfg.SinkGroup); err != nil {
			return res, err
		}
	}
	anchors, err := cfg.Writer.Anchors(ctx, cfg.Topic)
	if err != nil {
		return res, err
	}
	all, err := cfg.Writer.LedgerRows(ctx, cfg.Topic)
	if err != nil {
		return res, err
	}
	ids, err := cfg.Writer.EventIDs(ctx)
	if err != nil {
		return res, err
	}
	rows := map[int][]*analytics.DecisionRow{}
	for i := range all {
		p := int(all[i].Partition)
		rows[p] = append(rows[p], &all[i])
	}
	byPart := map[int][]*analytics.AnchorRow{}
	for i := range anchors {
		byPart[int(anchors[i].Partition)] = append(byPart[int(anchors[i].Partition)], &anchors[i])
	}
	parts := map[int]bool{}
	for p := range rows {
		parts[p] = true
	}
	var topic map[int]*topicPartition
	if cfg.Kafka != nil {
		if topic, err = readTopic(ctx, cfg.Kafka, cfg.Topic, committed); err != nil {
			return res, err
		}
		for p := range topic {
			parts[p] = true
		}
	}
	erased := 0
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		v := partitionCheck{cfg: &cfg, p: p, rows: rows[p], anchors: byPart[p], topic: topic[p], ids: ids, res: &res}
		b := v.run()
		erased += v.erased
		if b != nil && (res.Break == nil) {
			res.Break = b
		}
		if v.chained > 0 {
			res.Partitions++
		}
	}
	// Erased rows, accounted for by the erasures that gave receipts and by
	// the purges, as their runs counted the rows they unlinked.
	accounts, err := cfg.Writer.ReceiptAccounts(ctx)
	if err != nil {
		return res, err
	}
	byErasures, byPurges, err := cfg.Writer.UnlinkedDecisions(ctx)
	if err != nil {
		return res, err
	}
	for _, a := range accounts {
		res.Receipts = append(res.Receipts, Receipt{ID: a.RequestEventID + "/receipt/" + a.ErasureID[:min(16, len(a.ErasureID))],
			CompletedAt: a.CompletedAt, Rows: a.DecisionsUnlinked})
	}
	left := erased
	n := min(uint64(left), byErasures)
	left -= int(n)
	n = min(uint64(left), byPurges)
	res.PurgedAccounted = n
	left -= int(n)
	res.ErasedAccounted = erased - left
	if left > 0 && res.Break == nil {
		res.Break = &Break{Partition: -1, Offset: -1, Kind: BreakUnaccounted,
			Detail: fmt.Sprintf("%d rows lost their lead key; the erasure receipts and the purges account for %d", erased, erased-left)}
	}
	return res, nil
}

// topicPartition is what the audit topic holds of one partition.
type topicPartition struct {
	first, end int64
	// read is the sink group's committed offset: the records below it
	// were read by a sink.
	read    int64
	records map[int64]*classify.Audit // nil: a record the sink dead-letters
}

// readTopic reads every partition of the audit topic, and the sink
// group's committed offsets.
// committedOffsets are the offsets of the audit topic's partitions the
// sink's group committed (none without a group).
func committedOffsets(ctx context.Context, kcfg *pipeline.Config, topic, group string) (map[int]int64, error) {
	client := kcfg.Client(30 * time.Second)
	ids, err := partitionIDs(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	committed := map[int]int64{}
	if group != "" {
		c, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
		if err != nil {
			return nil, fmt.Errorf("the offsets %s committed: %w", group, err)
		}
		for _, p := range c.Topics[topic] {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	return committed, nil
}

func partitionIDs(ctx context.Context, client *kafka.Client, topic string) ([]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	var ids []int
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("%s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
	}
	return ids, nil
}

// readTopic reads every record of the audit topic, with what the sink had
// committed of each partition (committedOffsets, read before the rows).
func readTopic(ctx context.Context, kcfg *pipeline.Config, topic string, committed map[int]int64) (map[int]*topicPartition, error) {
	ids, err := partitionIDs(ctx, kcfg.Client(30*time.Second), topic)
	if err != nil {
		return nil, err
	}
	out := map[int]*topicPartition{}
	for _, p := range ids {
		tp := &topicPartition{records: map[int64]*classify.Audit{}, read: committed[p]}
		if tp.first, tp.end, err = pipeline.PartitionBounds(ctx, kcfg, topic, p); err != nil {
			return nil, err
		}
		if tp.end > tp.first {
			err = pipeline.ReadPartition(ctx, kcfg, topic, p, tp.first, func(m *kafka.Message) (bool, error) {
				var a classify.Audit
				if m.Value != nil && json.Unmarshal(m.Value, &a) == nil {
					tp.records[m.Offset] = &a
				} else {
					tp.records[m.Offset] = nil
				}
				return m.Offset+1 >= tp.end, nil
			})
			if err != nil {
				return nil, fmt.Errorf("read %s[%d]: %w", topic, p, err)
			}
		}
		out[p] = tp
	}
	return out, nil
}

// partitionCheck verifies one audit partition.
type partitionCheck struct {
	cfg     *Config
	p       int
	rows    []*analytics.DecisionRow
	anchors []*analytics.AnchorRow
	topic   *topicPartition // nil without Kafka
	ids     map[string]struct{}
	res     *Result

	chained, erased int
}

func (v *partitionCheck) brk(offset int64, kind, format string, args ...any) *Break {
	return &Break{Partition: v.p, Offset: offset, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func (v *partitionCheck) inWindow(at time.Time) bool {
	return (v.cfg.From.IsZero() || !at.Before(v.cfg.From)) && (v.cfg.To.IsZero() || at.Before(v.cfg.To))
}

// run walks the partition's rows in offset order and returns its first
// break, the earliest by offset of the chain's, the topic's and the
// anchors'.
func (v *partitionCheck) run() *Break {
	var breaks []*Break
	if b := v.walk(); b != nil {
		breaks = append(breaks, b)
	}
	if b := v.checkAnchors(); b != nil {
		breaks = append(breaks, b)
	}
	if len(breaks) == 0 {
		return nil
	}
	return slices.MinFunc(breaks, func(a, b *Break) int { return int(a.Offset - b.Offset) })
}

func (v *partitionCheck) walk() *Break {
	// The rows in the window: from the first with at in it to the last.
	lo, hi := -1, -1
	for i, r := range v.rows {
		if v.inWindow(r.At) {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 {
		return v.tail(-1, false)
	}
	at := map[int64][]*analytics.DecisionRow{}
	hashes := map[string]int64{}
	for _, r := range v.rows {
		at[r.Offset] = append(at[r.Offset], r)
		if r.Hash != "" {
			hashes[r.Hash] = r.Offset
		}
	}
	windowed := !v.cfg.From.IsZero() || !v.cfg.To.IsZero()
	started := false
	prev := Genesis
	last := int64(-1) // the offset of the previous row, chained or not
	if lo > 0 {
		last = v.rows[lo-1].Offset
	}
	for _, r := range v.rows[lo : hi+1] {
		if len(at[r.Offset]) > 1 {
			return v.brk(r.Offset, BreakInserted, "%d rows at this offset: one record of the topic makes one row", len(at[r.Offset]))
		}
		if b := v.gap(last, r.Offset); b != nil {
			return b
		}
		last = r.Offset
		if r.Hash == "" {
			if started {
				return v.brk(r.Offset, BreakAltered, "the row has no ledger hash, inside the chain")
			}
			v.res.Unchained++
			continue
		}
		if !started && (windowed || lo > 0) {
			prev = Head{Offset: r.PrevOffset, Hash: r.Prev} // the chain before the window is not checked
		}
		started = true
		if RowHash(r) != r.Hash {
			if r.PrevOffset >= r.Offset {
				return v.brk(r.Offset, BreakReordered, "the row follows offset %d, at or after its own: it was moved here", r.PrevOffset)
			}
			if b := v.foreign(r); b != nil {
				return b
			}
			return v.brk(r.Offset, BreakAltered, "the row's columns do not give its hash")
		}
		if r.Prev != prev.Hash || r.PrevOffset != prev.Offset {
			if off, ok := hashes[r.Prev]; ok && off > r.Offset {
				return v.brk(r.Offset, BreakReordered, "the row follows the row at offset %d, which comes after it", off)
			}
			switch {
			case r.PrevOffset > prev.Offset:
				if rs := at[r.PrevOffset]; len(rs) > 0 {
					return v.brk(r.PrevOffset, BreakAltered, "the row the chain names here is not the one it follows")
				}
				return v.brk(r.PrevOffset, BreakDeleted, "the row at offset %d names it as the row before it, and it is gone", r.Offset)
			case r.PrevOffset < prev.Offset:
				return v.brk(prev.Offset, BreakInserted, "the chain goes from offset %d to %d, past this row", r.PrevOffset, r.Offset)
			default:
				return v.brk(prev.Offset, BreakAltered, "the row's hash is not the one the row at offset %d follows", r.Offset)
			}
		}
		if b := v.witness(r); b != nil {
			return b
		}
		switch {
		case r.LeadKey != "" && (r.LeadSalt == "" || Digest(r.LeadSalt, r.LeadKey) != r.LeadDigest):
			return v.brk(r.Offset, BreakAltered, "the lead key is not the one the row's digest commits to")
		case r.LeadKey == "" && r.LeadSalt != "":
			return v.brk(r.Offset, BreakAltered, "the lead key was cleared outside an erasure (its salt is left)")
		case r.LeadKey == "" && r.LeadDigest != "":
			v.erased++
		}
		v.chained++
		v.res.Records++
		prev = Head{Offset: r.Offset, Hash: r.Hash}
	}
	return v.tail(last, hi == len(v.rows)-1)
}

// foreign tells an inserted row from an altered one by the topic: a row
// whose offset holds another event's record, or none, was put there.
func (v *partitionCheck) foreign(r *analytics.DecisionRow) *Break {
	if v.topic == nil || r.Offset < v.topic.first {
		return nil
	}
	a, ok := v.topic.records[r.Offset]
	switch {
	case !ok:
		return v.brk(r.Offset, BreakInserted, "the topic holds no record at this offset")
	case a == nil || a.EventID != r.EventID:
		for off, o := range v.topic.records {
			if o != nil && o.EventID == r.EventID && off != r.Offset {
				return v.brk(r.Offset, BreakReordered, "the row is the record at offset %d", off)
			}
		}
		return v.brk(r.Offset, BreakInserted, "the topic's record at this offset is another event")
	}
	return nil
}

// witness compares a row with the topic's record at its offset: the sink
// makes the row from it, and may only clear its lead key.
func (v *partitionCheck) witness(r *analytics.DecisionRow) *Break {
	if v.topic == nil || r.Offset < v.topic.first {
		return nil
	}
	a, ok := v.topic.records[r.Offset]
	if !ok || a == nil || a.EventID != r.EventID {
		if b := v.foreign(r); b != nil {
			return b
		}
		return v.brk(r.Offset, BreakInserted, "the topic holds no decodable record at this offset")
	}
	v.res.TopicRecords++
	want := sink.Decision(a, r.Origin)
	want.Ledger = r.Ledger
	want.LeadKey = r.LeadKey
	if RowHash(&want) != r.Hash {
		return v.brk(r.Offset, BreakAltered, "the row is not what the topic's record %s says", r.EventID)
	}
	if r.LeadKey != "" && r.LeadKey != a.LeadKey {
		return v.brk(r.Offset, BreakAltered, "the row's lead key is not the topic's record's")
	}
	if r.LeadDigest != "" && a.LeadKey != "" && Digest(r.LeadSalt, a.LeadKey) != r.LeadDigest && r.LeadSalt != "" {
		return v.brk(r.Offset, BreakAltered, "the row's lead digest is not the topic record's key's")
	}
	return nil
}

// gap checks the topic's records between two rows' offsets: each the sink
// read must be a copy of an event whose decision landed, or one it could
// not decode (a dead letter).
func (v *partitionCheck) gap(after, before int64) *Break {
	if v.topic == nil {
		return nil
	}
	for o := max(after+1, v.topic.first); o < before && o < v.topic.end; o++ {
		if b := v.accounted(o); b != nil {
			return b
		}
	}
	return nil
}

func (v *partitionCheck) accounted(o int64) *Break {
	a := v.topic.records[o]
	v.res.TopicRecords++
	switch {
	case a == nil:
		v.res.DeadLettered++
		return nil
	case a.EventID != "":
		if _, ok := v.ids[a.EventID]; ok {
			v.res.Copies++
			return nil
		}
	}
	return v.brk(o, BreakDeleted, "the topic's record %s has no row, and no row of its event landed", a.EventID)
}

// tail checks the records after the last row up to what the sink group
// committed: the sink read them, so each landed or is a copy. Outside a
// window's end only.
func (v *partitionCheck) tail(last int64, toEnd bool) *Break {
	if v.topic == nil || !toEnd || !v.cfg.To.IsZero() {
		return nil
	}
	for o := max(last+1, v.topic.first); o < v.topic.read && o < v.topic.end; o++ {
		if b := v.accounted(o); b != nil {
			return b
		}
	}
	return nil
}

// checkAnchors checks each anchor of the window against the chain, and
// its signature with the public key.
func (v *partitionCheck) checkAnchors() *Break {
	byOffset := map[int64]*analytics.DecisionRow{}
	for _, r := range v.rows {
		byOffset[r.Offset] = r
	}
	for _, a := range v.anchors {
		if !v.inWindow(a.At) {
			continue
		}
		v.res.Anchors++
		if a.Signature != "" {
			v.res.SignedAnchors++
		}
		if pub := v.cfg.PublicKey; pub != nil {
			switch {
			case a.Signature == "":
				return v.brk(a.Offset, BreakUnsigned, "the anchor of %s is not signed", a.At.UTC().Format(time.RFC3339))
			case a.KeyID != KeyID(pub) || !CheckSignature(a, pub):
				return v.brk(a.Offset, BreakBadSignature, "the anchor of %s is not signed by key %s (it names key %s)",
					a.At.UTC().Format(time.RFC3339), KeyID(pub), a.KeyID)
			}
		}
		r, ok := byOffset[a.Offset]
		switch {
		case !ok:
			return v.brk(a.Offset, BreakDeleted, "the anchor of %s names a row that is gone", a.At.UTC().Format(time.RFC3339))
		case r.Hash != a.Head:
			return v.brk(a.Offset, BreakAltered, "the chain here is not the one anchored at %s", a.At.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
