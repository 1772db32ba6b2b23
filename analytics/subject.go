package analytics

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// SubjectRows returns every row leadpipe's tables hold under one lead key,
// by table, each row as column → value: the ClickHouse part of an answer
// to an access request (GDPR Art. 15). The erasure receipts are found by
// the key's erasure id. Tables without a row of the lead are left out.
func SubjectRows(ctx context.Context, conn driver.Conn, db, leadKey string) (map[string][]map[string]any, error) {
	queries := []struct{ table, q, arg string }{
		{TableLeads, "SELECT * FROM " + db + ".leads FINAL WHERE lead_key = ?", leadKey},
		{TableClassifications, "SELECT * FROM " + db + ".classifications WHERE lead_key = ? ORDER BY occurred_at, event_id", leadKey},
		{TableDecisions, "SELECT * FROM " + db + ".decisions WHERE lead_key = ? ORDER BY at, event_id", leadKey},
		{TableBehavior, "SELECT * FROM " + db + ".behavior_events WHERE lead_key = ? ORDER BY occurred_at, event_id", leadKey},
		{TableAffinity, "SELECT lead_key, key_version, category, month, sum(score) AS score, sum(events) AS events FROM " + db +
			".category_affinity WHERE lead_key = ? GROUP BY lead_key, key_version, category, month ORDER BY month, category", leadKey},
		{TableErasureReceipts, "SELECT * FROM " + db + ".erasure_receipts WHERE erasure_id = ? ORDER BY completed_at", ErasureID(leadKey)},
		{TablePendingErasures, "SELECT * FROM " + db + ".pending_erasures WHERE lead_key = ? ORDER BY queued_at", leadKey},
	}
	out := map[string][]map[string]any{}
	for _, q := range queries {
		rows, err := queryMaps(ctx, conn, q.q, q.arg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.table, err)
		}
		if len(rows) > 0 {
			out[q.table] = rows
		}
	}
	return out, nil
}

// queryMaps runs q and returns its rows as column → value.
func queryMaps(ctx context.Context, conn driver.Conn, q string, args ...any) ([]map[string]any, error) {
	t, err := ReadTable(ctx, conn, q, args...)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, r := range t.Rows {
		row := make(map[string]any, len(t.Columns))
		for i, c := range t.Columns {
			row[c] = r[i]
		}
		out = append(out, row)
	}
	return out, nil
}
