package analytics

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The operator's queries on leadpipe's own tables, which the demo prints:
// leads per decision, rule and channel, and the erasures carried out. They
// read leads with FINAL (one row per lead key). The marketers' questions
// are the files of queries/, on the marketing database (marketing.go).

// Count is a label and a number.
type Count struct {
	Label string
	N     uint64
}

// LeadsByDecision counts current leads per decision.
func LeadsByDecision(ctx context.Context, conn driver.Conn, db string) ([]Count, error) {
	return counts(ctx, conn, "SELECT decision, count() FROM "+db+".leads FINAL GROUP BY decision ORDER BY count() DESC, decision")
}

// LeadsByRule counts current leads per decision and the rule that decided
// it: how many were released from quarantine by a consent, how many were
// erased, suppressed by objection or withdrawal, and so on.
func LeadsByRule(ctx context.Context, conn driver.Conn, db string) ([]Count, error) {
	return counts(ctx, conn, "SELECT concat(decision, ' / ', rule), count() FROM "+db+
		".leads FINAL GROUP BY decision, rule ORDER BY count() DESC, decision, rule")
}

// LeadsByChannel counts current leads per origin channel; "-" for erased
// leads, whose origin is not kept.
func LeadsByChannel(ctx context.Context, conn driver.Conn, db string) ([]Count, error) {
	return counts(ctx, conn, "SELECT if(channel = '', '-', channel) AS c, count() FROM "+db+".leads FINAL GROUP BY c ORDER BY count() DESC, c")
}

// Erasures counts the erasure requests carried out (erasure_receipts
// FINAL: one per request and lead) and those verified to have left no row
// with the lead's key.
func Erasures(ctx context.Context, conn driver.Conn, db string) (done, verified uint64, err error) {
	err = conn.QueryRow(ctx, "SELECT count(), countIf(verified = 1) FROM "+db+".erasure_receipts FINAL").Scan(&done, &verified)
	if err != nil {
		err = fmt.Errorf("query: %w", err)
	}
	return done, verified, err
}

func counts(ctx context.Context, conn driver.Conn, q string) ([]Count, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Label, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
