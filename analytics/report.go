package analytics

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// accountabilityFS holds the queries of the accountability report
// (`leadpipe report`), one file per part, each headed by what it counts
// and by which time. {db}, {from} and {to} are bound by ReadAccountability.
// They run on ClickHouse 18.16 and, in make chdb, on current ClickHouse.
//
//go:embed accountability/*.sql
var accountabilityFS embed.FS

// The parts of the accountability report that ClickHouse answers. Times
// are UTC. Each names which time it counts by: the event's time
// (classifications, erasure requests) or the processing time (decisions,
// retention runs).
type Accountability struct {
	// OriginDecisions and OriginBases: the leads first seen in the period
	// by origin channel, and by decision or by purpose and basis, as of
	// the end of the period.
	OriginDecisions []OriginDecision
	OriginBases     []OriginBasis
	Quarantine      QuarantineFlow
	// Erasures are the receipts of the erasures requested in the period;
	// PendingErasures the requests of the period without a receipt yet.
	Erasures        []ErasureTiming
	PendingErasures []PendingErasure
	// IgnoredGrants are the grants that did not count in the decisions of
	// the period, by purpose and reason as the audit wrote it.
	IgnoredGrants []IgnoredGrant
	// PolicyVersions are the versions that decided in the period.
	PolicyVersions []PolicyVersionUse
	// Removals are what retention, erasures and purges removed.
	Removals []Removal
}

// OriginDecision is a count of leads of one origin channel and decision.
type OriginDecision struct {
	Channel, Decision string
	Leads             uint64
}

// OriginBasis is a count of leads of one origin channel whose purpose
// rests on a basis.
type OriginBasis struct {
	Channel, Purpose, Basis string
	Leads                   uint64
}

// QuarantineFlow is the quarantine of the period.
type QuarantineFlow struct {
	// Entered: leads whose first quarantine began in the period; Released:
	// leads a consent released in it; MedianWait: the median time from the
	// first quarantine to the release of those released (0 when none).
	Entered, Released uint64
	MedianWait        time.Duration
	// WaitingAtEnd: leads quarantined at the end of the period.
	WaitingAtEnd uint64
	// Purged: quarantined leads purged in the period (processing time).
	Purged uint64
}

// ErasureTiming is one erasure receipt: its erasure id, when the request
// was made and when the receipt was written, and whether no row is left.
type ErasureTiming struct {
	ErasureID            string
	Requested, Completed time.Time
	Verified             bool
}

// PendingErasure is an erasure request without a receipt yet.
type PendingErasure struct {
	Requested time.Time
	Leads     uint64
}

// IgnoredGrant is a count of ignored grants of one purpose and reason.
type IgnoredGrant struct {
	Purpose, Why string
	Grants       uint64
}

// PolicyVersionUse is a policy version's decisions in the period.
type PolicyVersionUse struct {
	Version     string
	First, Last time.Time
	Decisions   uint64
}

// Removal is what one kind of run removed from one table.
type Removal struct {
	Reason, Table, Action string
	Runs, Rows            uint64
}

// ReadAccountability answers the accountability report's queries
// (accountability/*.sql) on w's database for the period from (inclusive)
// to to (exclusive).
func ReadAccountability(ctx context.Context, w *Writer, from, to time.Time) (*Accountability, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("the period ends (%s) before it begins (%s)", to.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
	}
	if !identRE.MatchString(w.db) {
		return nil, fmt.Errorf("database %q is not a plain identifier", w.db)
	}
	var a Accountability
	each := func(name string, scan func(driver.Rows) error) error {
		b, err := accountabilityFS.ReadFile("accountability/" + name + ".sql")
		if err != nil {
			return err
		}
		rows, err := w.conn.Query(w.ctx(ctx), BindAccountability(string(b), w.db, from, to))
		if err != nil {
			return fmt.Errorf("report %s: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("report %s: %w", name, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("report %s: %w", name, err)
		}
		return nil
	}
	unix := func(s uint32) time.Time { return time.Unix(int64(s), 0).UTC() }
	steps := []struct {
		name string
		scan func(driver.Rows) error
	}{
		{"origin_decisions", func(rows driver.Rows) error {
			var o OriginDecision
			err := rows.Scan(&o.Channel, &o.Decision, &o.Leads)
			a.OriginDecisions = append(a.OriginDecisions, o)
			return err
		}},
		{"origin_bases", func(rows driver.Rows) error {
			var o OriginBasis
			err := rows.Scan(&o.Channel, &o.Purpose, &o.Basis, &o.Leads)
			a.OriginBases = append(a.OriginBases, o)
			return err
		}},
		{"quarantine", func(rows driver.Rows) error {
			var wait uint64
			err := rows.Scan(&a.Quarantine.Entered, &a.Quarantine.Released, &wait, &a.Quarantine.WaitingAtEnd, &a.Quarantine.Purged)
			a.Quarantine.MedianWait = time.Duration(wait) * time.Second
			return err
		}},
		{"erasures", func(rows driver.Rows) error {
			var e ErasureTiming
			var req, done uint32
			var verified uint8
			err := rows.Scan(&e.ErasureID, &req, &done, &verified)
			e.Requested, e.Completed, e.Verified = unix(req), unix(done), verified == 1
			a.Erasures = append(a.Erasures, e)
			return err
		}},
		{"pending_erasures", func(rows driver.Rows) error {
			var p PendingErasure
			var req uint32
			err := rows.Scan(&req, &p.Leads)
			p.Requested = unix(req)
			a.PendingErasures = append(a.PendingErasures, p)
			return err
		}},
		{"ignored_grants", func(rows driver.Rows) error {
			var g IgnoredGrant
			err := rows.Scan(&g.Purpose, &g.Why, &g.Grants)
			a.IgnoredGrants = append(a.IgnoredGrants, g)
			return err
		}},
		{"policy_versions", func(rows driver.Rows) error {
			var v PolicyVersionUse
			var first, last uint32
			err := rows.Scan(&v.Version, &first, &last, &v.Decisions)
			v.First, v.Last = unix(first), unix(last)
			a.PolicyVersions = append(a.PolicyVersions, v)
			return err
		}},
		{"removals", func(rows driver.Rows) error {
			var m Removal
			err := rows.Scan(&m.Reason, &m.Table, &m.Action, &m.Runs, &m.Rows)
			a.Removals = append(a.Removals, m)
			return err
		}},
	}
	for _, s := range steps {
		if err := each(s.name, s.scan); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// AccountabilityQueries returns the report's queries by name (the file
// names of accountability/, without .sql), for tests that run them as
// written.
func AccountabilityQueries() map[string]string {
	out := map[string]string{}
	files, _ := accountabilityFS.ReadDir("accountability")
	for _, f := range files {
		b, _ := accountabilityFS.ReadFile("accountability/" + f.Name())
		out[strings.TrimSuffix(f.Name(), ".sql")] = string(b)
	}
	return out
}

// BindAccountability puts database db and the period into one of the
// report's queries, as ReadAccountability does.
func BindAccountability(sql, db string, from, to time.Time) string {
	return strings.NewReplacer("{db}", db, "{from}", chDateTime(from), "{to}", chDateTime(to)).Replace(sql)
}

// chDateTime is t as a ClickHouse DateTime literal in UTC.
func chDateTime(t time.Time) string {
	return "toDateTime('" + chTime(t) + "', 'UTC')"
}
