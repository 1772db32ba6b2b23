package analytics

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The queries marketers run, as the dashboards and the demo run them. Each
// reads the tables the way their engines need: leads with FINAL (one row
// per lead key), the aggregates with their -Merge functions or sums.

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

// QuarantineByReason sums quarantined leads per network and reason.
func QuarantineByReason(ctx context.Context, conn driver.Conn, db string) ([]Count, error) {
	return counts(ctx, conn, "SELECT concat(if(network = '', '-', network), ' / ', reason), sum(leads) FROM "+db+
		".quarantine_daily GROUP BY network, reason ORDER BY sum(leads) DESC, network, reason")
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

// Engagement is engagement_daily merged over all days, per channel and
// action.
type Engagement struct {
	Channel  string
	Action   string
	Events   uint64
	Visitors uint64
	Revenue  float64
}

// EngagementByChannel returns events, distinct visitors and revenue per
// origin channel and action over all days, the busiest first, at most limit rows.
func EngagementByChannel(ctx context.Context, conn driver.Conn, db string, limit int) ([]Engagement, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT channel, action, sumMerge(events) AS e, uniqMerge(visitors), sumMerge(revenue)
		FROM %s.engagement_daily GROUP BY channel, action ORDER BY e DESC, channel, action LIMIT %d`, db, limit))
	if err != nil {
		return nil, fmt.Errorf("query engagement: %w", err)
	}
	defer rows.Close()
	var out []Engagement
	for rows.Next() {
		var e Engagement
		if err := rows.Scan(&e.Channel, &e.Action, &e.Events, &e.Visitors, &e.Revenue); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Coverage is the share of leads of a channel with a consent basis for a purpose.
type Coverage struct {
	Channel, Purpose string
	Consent, Total   uint64
}

// ConsentCoverage returns, per channel and purpose, the distinct leads whose
// basis was consent against all distinct leads classified.
func ConsentCoverage(ctx context.Context, conn driver.Conn, db string) ([]Coverage, error) {
	rows, err := conn.Query(ctx, `SELECT if(channel = '', '-', channel) AS c, purpose, uniqMergeIf(leads, basis = 'consent'), uniqMerge(leads)
		FROM `+db+`.consent_coverage_daily GROUP BY c, purpose ORDER BY c, purpose`)
	if err != nil {
		return nil, fmt.Errorf("query consent coverage: %w", err)
	}
	defer rows.Close()
	var out []Coverage
	for rows.Next() {
		var c Coverage
		if err := rows.Scan(&c.Channel, &c.Purpose, &c.Consent, &c.Total); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
