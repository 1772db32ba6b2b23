package analytics

import (
	"context"
	"fmt"
	"time"
)

// The sink's use of ClickHouse, as methods of the Writer: what
// pipeline/adapter's Store asks for. Each is the package's function of the
// same name on the Writer's connection and database, at the time of the
// call.

// InsertRows inserts a batch of one table's rows: []ClassificationRow,
// []BehaviorRow, []DecisionRow, []DecisionLandedRow or []AnchorRow.
func (w *Writer) InsertRows(ctx context.Context, table string, rows any) error {
	switch rs := rows.(type) {
	case []ClassificationRow:
		return Insert(ctx, w, table, rs)
	case []BehaviorRow:
		return Insert(ctx, w, table, rs)
	case []DecisionRow:
		return Insert(ctx, w, table, rs)
	case []DecisionLandedRow:
		return Insert(ctx, w, table, rs)
	case []AnchorRow:
		return Insert(ctx, w, table, rs)
	}
	return fmt.Errorf("insert into %s: rows of type %T are not a table's", table, rows)
}

// ErasedIDs is ErasedIDs of the Writer's database.
func (w *Writer) ErasedIDs(ctx context.Context) (map[string]struct{}, error) {
	return ErasedIDs(ctx, w)
}

// Purge is Purge of the Writer's database, now.
func (w *Writer) Purge(ctx context.Context, reqs []PurgeRequest) error {
	_, err := Purge(ctx, w, reqs, time.Now())
	return err
}

// QueueErasures is QueueErasures into the Writer's database, now.
func (w *Writer) QueueErasures(ctx context.Context, reqs []ErasureRequest) error {
	return QueueErasures(ctx, w, reqs, time.Now())
}

// ErasePending is ErasePending of the Writer's database, now.
func (w *Writer) ErasePending(ctx context.Context, deliver func([]ErasureReceipt) error) (int, error) {
	return ErasePending(ctx, w, time.Now(), deliver)
}

// MutationsRunning is MutationsRunning of the Writer's database.
func (w *Writer) MutationsRunning(ctx context.Context) (uint64, error) {
	return MutationsRunning(ctx, w)
}
