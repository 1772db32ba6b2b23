package analytics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TablePendingErasures is the queue of erasures not carried out yet.
const TablePendingErasures = "pending_erasures"

// pendingErasure is a row of pending_erasures.
type pendingErasure struct {
	LeadKey        string    `ch:"lead_key"`
	KeyVersion     string    `ch:"key_version"`
	RequestEventID string    `ch:"request_event_id"`
	RequestedAt    time.Time `ch:"requested_at"`
	QueuedAt       time.Time `ch:"queued_at"`
}

// QueueErasures adds erasure requests to the queue that ErasePending
// carries out. The sink queues the erasures of a batch with its rows,
// before the batch's offsets are committed: a queued erasure is never lost,
// and one queued twice (a replay) is carried out once.
func QueueErasures(ctx context.Context, w *Writer, reqs []ErasureRequest, now time.Time) error {
	rows := make([]pendingErasure, 0, len(reqs))
	for _, r := range reqs {
		if !hexKeyRE.MatchString(r.LeadKey) {
			return fmt.Errorf("queue an erasure: a lead key is not a hex HMAC (%d characters)", len(r.LeadKey))
		}
		rows = append(rows, pendingErasure{
			LeadKey: r.LeadKey, KeyVersion: r.KeyVersion, RequestEventID: r.EventID,
			RequestedAt: r.RequestedAt.UTC(), QueuedAt: now.UTC(),
		})
	}
	if err := Insert(ctx, w, TablePendingErasures, rows); err != nil {
		return fmt.Errorf("queue %d erasures: %w", len(reqs), err)
	}
	return nil
}

// ErasePending carries out every queued erasure (Erase, in one set of
// mutations), hands their receipts to deliver (the sink writes them to
// leadpipe.audit), and only then takes them off the queue. A request
// carried out before is carried out again: a replay queues an erasure again
// because it may have brought rows of the lead back, and a delivery that
// failed leaves its requests queued, to be erased and given receipts again.
// It returns the number of requests carried out.
func ErasePending(ctx context.Context, w *Writer, now time.Time, deliver func([]ErasureReceipt) error) (int, error) {
	var queued []pendingErasure
	if err := w.conn.Select(w.ctx(ctx), &queued, "SELECT DISTINCT lead_key, key_version, request_event_id, requested_at, queued_at FROM "+
		w.table(TablePendingErasures)+" ORDER BY queued_at, lead_key, request_event_id"); err != nil {
		return 0, fmt.Errorf("queued erasures: %w", err)
	}
	if len(queued) == 0 {
		return 0, nil
	}
	var reqs []ErasureRequest
	taken := map[string]bool{} // lead key and request event id
	for _, q := range queued {
		id := q.RequestEventID + "\x00" + q.LeadKey
		if taken[id] {
			continue // queued twice, with two queue times
		}
		taken[id] = true
		reqs = append(reqs, ErasureRequest{LeadKey: q.LeadKey, KeyVersion: q.KeyVersion, EventID: q.RequestEventID, RequestedAt: q.RequestedAt})
	}
	receipts, err := Erase(ctx, w, reqs, now)
	if err != nil {
		return 0, err
	}
	if err := deliver(receipts); err != nil {
		return 0, fmt.Errorf("deliver %d erasure receipts: %w", len(receipts), err)
	}
	// Off the queue, by lead key and request: the lead keys are not kept
	// past their erasure, and a request queued while this ran stays.
	pairs := make([]string, 0, len(taken))
	for id := range taken {
		ev, key, _ := strings.Cut(id, "\x00")
		pairs = append(pairs, "("+quote(key)+", "+quote(ev)+")")
	}
	slices.Sort(pairs)
	for chunk := range slices.Chunk(pairs, maxKeysPerStatement) {
		stmt := fmt.Sprintf("ALTER TABLE %s DELETE WHERE (lead_key, request_event_id) IN (%s)",
			w.alter(TablePendingErasures), strings.Join(chunk, ", "))
		if err := w.conn.Exec(w.ctx(ctx), stmt); err != nil {
			return len(reqs), fmt.Errorf("take %d erasures off the queue: %w", len(chunk), err)
		}
	}
	return len(reqs), nil
}

// quote is s as a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
