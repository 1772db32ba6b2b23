package analytics

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed figures/period.sql
var periodSQL string

// Figures are the figures of a period the marketer's page leads with.
// Quarantined and released count the leads of the period's quarantine
// backlog and releases: the quarantine and release answers do not filter
// by channel, nor do these two. Erasures counts the erasures requested in
// the period and carried out, every channel; ErasuresVerified those of
// them with a verified receipt (no row of the lead left).
type Figures struct {
	Leads, Accepted, Quarantined, Released uint64
	Erasures, ErasuresVerified             uint64
}

// AcceptedShare is the share of the period's leads accepted now, 0 to 1.
func (f Figures) AcceptedShare() float64 {
	if f.Leads == 0 {
		return 0
	}
	return float64(f.Accepted) / float64(f.Leads)
}

// PeriodFigures reads the figures of filter f from database marketing,
// latest snapshot (figures/period.sql).
func PeriodFigures(ctx context.Context, conn driver.Conn, marketing string, f Filter) (Figures, error) {
	sql, err := bindFilter(periodSQL, marketing, f)
	if err != nil {
		return Figures{}, err
	}
	var out Figures
	if err := conn.QueryRow(ctx, sql).Scan(&out.Leads, &out.Accepted, &out.Quarantined, &out.Released, &out.Erasures, &out.ErasuresVerified); err != nil {
		return Figures{}, fmt.Errorf("the period's figures: %w", err)
	}
	return out, nil
}
