package analytics

import (
	"context"
	"fmt"
	"time"
)

// The decision ledger's reads (package ledger): the head of an audit
// partition's chain for the sink, and for `leadpipe ledger verify` the
// chained rows, the anchors and what accounts for erased rows.

// TableLedgerAnchors holds the anchored heads of the audit partitions'
// chains (migration 0011).
const TableLedgerAnchors = "ledger_anchors"

// LedgerHead returns the offset and hash of the last chained decisions
// row of a topic partition below offset before; ok is false when the
// partition has none (its chain starts at the next row).
func (w *Writer) LedgerHead(ctx context.Context, topic string, partition int, before int64) (offset int64, hash string, ok bool, err error) {
	rows, err := w.conn.Query(w.ctx(ctx), "SELECT _offset, ledger_hash FROM "+w.table(TableDecisions)+
		" WHERE _topic = ? AND _partition = ? AND _offset < ? AND ledger_hash != '' ORDER BY _offset DESC LIMIT 1",
		topic, int32(partition), before)
	if err != nil {
		return 0, "", false, fmt.Errorf("ledger head of %s[%d]: %w", topic, partition, err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&offset, &hash); err != nil {
			return 0, "", false, err
		}
		ok = true
	}
	return offset, hash, ok, rows.Err()
}

// LedgerRows returns every decisions row of topic, ordered by partition and
// offset, with the columns the ledger covers.
func (w *Writer) LedgerRows(ctx context.Context, topic string) ([]DecisionRow, error) {
	var out []DecisionRow
	if err := w.conn.Select(w.ctx(ctx), &out, "SELECT "+columnList[DecisionRow]()+" FROM "+w.table(TableDecisions)+
		" WHERE _topic = ? ORDER BY _partition, _offset", topic); err != nil {
		return nil, fmt.Errorf("decisions of %s: %w", topic, err)
	}
	return out, nil
}

// EventIDs returns the event id of every decisions row of every topic:
// an audit record the sink did not land because its event's decision had
// landed (a copy) is found by it.
func (w *Writer) EventIDs(ctx context.Context) (map[string]struct{}, error) {
	rows, err := w.conn.Query(w.ctx(ctx), "SELECT DISTINCT event_id FROM "+w.table(TableDecisions))
	if err != nil {
		return nil, fmt.Errorf("event ids of decisions: %w", err)
	}
	defer rows.Close()
	out := map[string]struct{}{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = struct{}{}
	}
	return out, rows.Err()
}

// Anchors returns the anchors of topic, by partition and offset.
func (w *Writer) Anchors(ctx context.Context, topic string) ([]AnchorRow, error) {
	var out []AnchorRow
	if err := w.conn.Select(w.ctx(ctx), &out, "SELECT "+columnList[AnchorRow]()+" FROM "+w.table(TableLedgerAnchors)+
		" WHERE _topic = ? ORDER BY _partition, _offset, at", topic); err != nil {
		return nil, fmt.Errorf("ledger anchors of %s: %w", topic, err)
	}
	return out, nil
}

// ReceiptAccount is what one erasure receipt says it unlinked in
// decisions: the largest count of its copies. (A receipt given again, after
// a replay or by a second sink, finds the rows unlinked already and counts
// none, and erasure_receipts keeps the latest copy once it merges: the
// count may read 0. The runs of retention_runs count each row once.)
type ReceiptAccount struct {
	RequestEventID    string    `ch:"request_event_id"`
	ErasureID         string    `ch:"erasure_id"`
	CompletedAt       time.Time `ch:"done"`
	DecisionsUnlinked uint64    `ch:"unlinked"`
}

// ReceiptAccounts returns, per erasure request and lead, the decisions rows
// its receipts unlinked, earliest completed first.
func (w *Writer) ReceiptAccounts(ctx context.Context) ([]ReceiptAccount, error) {
	var out []ReceiptAccount
	if err := w.conn.Select(w.ctx(ctx), &out, "SELECT request_event_id, erasure_id, min(completed_at) AS done, "+
		"max(decisions_unlinked) AS unlinked FROM "+w.table(TableErasureReceipts)+
		" GROUP BY request_event_id, erasure_id ORDER BY done, request_event_id, erasure_id"); err != nil {
		return nil, fmt.Errorf("erasure receipts: %w", err)
	}
	return out, nil
}

// UnlinkedDecisions returns how many decisions rows the erasures and the
// purges of the quarantine unlinked, by their runs in retention_runs: each
// run counted the rows that still had a matching lead key, so a row is
// counted once, however often its erasure was carried out.
func (w *Writer) UnlinkedDecisions(ctx context.Context) (erased, purged uint64, err error) {
	if err := w.conn.QueryRow(w.ctx(ctx), "SELECT sumIf(rows, reason = 'erasure'), sumIf(rows, reason = 'quarantine_expired') FROM "+
		w.table(TableRetentionRuns)+" WHERE table_name = ? AND action = 'clear_lead_key'", TableDecisions).Scan(&erased, &purged); err != nil {
		return 0, 0, fmt.Errorf("the rows of decisions unlinked: %w", err)
	}
	return erased, purged, nil
}
