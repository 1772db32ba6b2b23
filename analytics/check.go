package analytics

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"strings"
)

// Drift is one disagreement Check found between two things that must
// agree: an aggregate and the base table it is fed from, a table's rows
// and the event ids or offsets they came from.
type Drift struct {
	// Table is the table that disagrees: an aggregate, or a base table.
	Table string `json:"table"`
	// Where is the group that disagrees: a day and its channel and
	// action, a month, a topic partition, or "all" for the whole table.
	Where string `json:"where"`
	// Got is what the table holds, Want what its source says it should.
	Got  float64 `json:"got"`
	Want float64 `json:"want"`
	// What says what was counted ("events", "score", "rows").
	What string `json:"what"`
}

// Size is how far the table is from its source: positive when it holds
// more (a doubled insert), negative when it holds less (a deleted day).
func (d Drift) Size() float64 { return d.Got - d.Want }

func (d Drift) String() string {
	sign := ""
	if d.Size() > 0 {
		sign = "+"
	}
	return fmt.Sprintf("%s %s: %s %s, want %s (%s%s)", d.Table, d.Where, formatCount(d.Got), d.What, formatCount(d.Want), sign, formatCount(d.Size()))
}

func formatCount(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// PartitionRows is what landed in one table from one topic partition.
type PartitionRows struct {
	Table     string `json:"table"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Rows are the table's rows from the partition, Offsets the distinct
	// offsets among them: more rows than offsets is a record landed twice.
	Rows    uint64 `json:"rows"`
	Offsets uint64 `json:"offsets"`
	// MaxOffset is the highest offset landed.
	MaxOffset int64 `json:"max_offset"`
}

// checksFS holds the checks: each file's rows are drift, as (where, got,
// want), and its first two lines name the table and what is counted
// ("-- table: NAME", "-- what: WHAT"). {db} is the database. They run on
// ClickHouse 18.16 and, in make chdb, on current ClickHouse.
//
//go:embed checks/*.sql
var checksFS embed.FS

type check struct{ table, what, sql string }

// checks are the files of checks/, in name order.
var checks = func() []check {
	files, err := fs.Glob(checksFS, "checks/*.sql")
	if err != nil {
		panic(err) // embedded
	}
	var out []check
	for _, f := range files {
		b, err := checksFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		table, ok1 := strings.CutPrefix(lines[0], "-- table: ")
		what, ok2 := strings.CutPrefix(lines[1], "-- what: ")
		if !ok1 || !ok2 {
			panic("analytics/" + f + ": the first two lines must be -- table: and -- what:")
		}
		out = append(out, check{table, what, string(b)})
	}
	return out
}()

// Check recomputes every aggregate from the base table it is fed from and
// compares the two, counts decisions rows against distinct event ids, and
// reads, per table and topic partition, the rows landed against their
// distinct offsets. It returns every drift found (none after a clean run,
// or after any replay or fault the sink is meant to absorb) and the rows
// per partition, for the caller to hold against the topics' offsets.
func Check(ctx context.Context, w *Writer) ([]Drift, []PartitionRows, error) {
	var drift []Drift
	for _, c := range checks {
		t, err := ReadTable(ctx, w.conn, strings.ReplaceAll(c.sql, "{db}", w.db))
		if err != nil {
			return nil, nil, fmt.Errorf("check %s (%s): %w", c.table, c.what, err)
		}
		for _, row := range t.Rows {
			where, _ := row[0].(string)
			got, _ := row[1].(float64)
			want, _ := row[2].(float64)
			drift = append(drift, Drift{Table: c.table, Where: where, Got: got, Want: want, What: c.what})
		}
	}
	var parts []PartitionRows
	for _, table := range []string{TableClassifications, TableBehavior, TableDecisions} {
		rows, err := w.conn.Query(ctx, "SELECT _topic, _partition, count(), uniqExact(_offset), max(_offset) FROM "+w.table(table)+
			" GROUP BY _topic, _partition ORDER BY _topic, _partition")
		if err != nil {
			return nil, nil, fmt.Errorf("check %s: %w", table, err)
		}
		for rows.Next() {
			p := PartitionRows{Table: table}
			if err := rows.Scan(&p.Topic, &p.Partition, &p.Rows, &p.Offsets, &p.MaxOffset); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("check %s: %w", table, err)
			}
			parts = append(parts, p)
			if p.Rows > p.Offsets {
				drift = append(drift, Drift{Table: table, Where: fmt.Sprintf("%s[%d]", p.Topic, p.Partition),
					Got: float64(p.Rows), Want: float64(p.Offsets), What: "rows for as many offsets"})
			}
		}
		if err := rows.Close(); err != nil {
			return nil, nil, err
		}
	}
	return drift, parts, nil
}
