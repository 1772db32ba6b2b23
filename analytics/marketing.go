package analytics

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The marketing database holds the answers marketers read, and only them:
// groups of at least k leads or visitors, no key, no id. The marketer user
// reads it and nothing else (deploy/clickhouse/users.xml).
//
// Its tables are filled by Refresh from leadpipe's tables: one statement
// per table under refresh/, each writing a whole snapshot under a new
// snapshot number, then a row in marketing.refreshes. The questions under
// queries/ read the latest recorded snapshot.

//go:embed refresh/*.sql queries/*.sql
var marketingFS embed.FS

// DefaultK is the smallest group a marketing table holds.
const DefaultK = 5

// marketingTables are the tables Refresh fills, in order; refreshes.sql
// comes last.
var marketingTables = []string{
	"lead_volume", "quarantine_backlog", "quarantine_releases", "consent_coverage",
	"funnel", "categories", "audiences", "signal_coverage", "erasures",
}

// Refresh writes a new snapshot of every marketing table from the tables
// of db, with k as the smallest group, records it, and drops the snapshots
// older than the one before it (a query that began on that one may still
// read it). It returns the snapshot number. A refresh that fails half way
// leaves a snapshot that no query reads, dropped by a later refresh.
func Refresh(ctx context.Context, conn driver.Conn, db, marketing string, k int) (uint64, error) {
	if k < 1 {
		return 0, fmt.Errorf("k must be at least 1, not %d", k)
	}
	for _, name := range []string{db, marketing} {
		if !identRE.MatchString(name) {
			return 0, fmt.Errorf("database %q is not a plain identifier", name)
		}
	}
	// The snapshot number is the refresh's time in milliseconds: it grows
	// across processes and restarts, and it is a partition of each table.
	snapshot := uint64(time.Now().UnixMilli())
	var last uint64
	if err := conn.QueryRow(ctx, "SELECT max(snapshot) FROM "+marketing+".refreshes").Scan(&last); err != nil {
		return 0, fmt.Errorf("read %s.refreshes: %w (is the database migrated? leadpipe migrate)", marketing, err)
	}
	if snapshot <= last {
		snapshot = last + 1
	}
	r := strings.NewReplacer("{db}", db, "{marketing}", marketing,
		"{snapshot}", strconv.FormatUint(snapshot, 10), "{k}", strconv.Itoa(k))
	for _, name := range append(slices.Clone(marketingTables), "refreshes") {
		b, err := marketingFS.ReadFile("refresh/" + name + ".sql")
		if err != nil {
			return 0, err
		}
		for _, stmt := range SplitStatements(r.Replace(string(b))) {
			if err := conn.Exec(ctx, stmt); err != nil {
				return 0, fmt.Errorf("refresh %s.%s: %w", marketing, name, err)
			}
		}
	}
	return snapshot, dropOldSnapshots(ctx, conn, marketing)
}

// dropOldSnapshots drops, in every marketing table, the partitions of
// snapshots older than the second newest recorded one.
func dropOldSnapshots(ctx context.Context, conn driver.Conn, marketing string) error {
	var keep uint64
	err := conn.QueryRow(ctx, "SELECT min(snapshot) FROM (SELECT snapshot FROM "+marketing+
		".refreshes ORDER BY snapshot DESC LIMIT 2)").Scan(&keep)
	if err != nil {
		return fmt.Errorf("read %s.refreshes: %w", marketing, err)
	}
	for _, table := range marketingTables {
		rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active",
			marketing, table)
		if err != nil {
			return fmt.Errorf("list the snapshots of %s.%s: %w", marketing, table, err)
		}
		var old []uint64
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return err
			}
			if n, err := strconv.ParseUint(p, 10, 64); err == nil && n < keep {
				old = append(old, n)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range old {
			if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %d", marketing, table, n)); err != nil {
				return fmt.Errorf("drop snapshot %d of %s.%s: %w", n, marketing, table, err)
			}
		}
	}
	return nil
}

// LastRefresh is the latest recorded snapshot: when it was taken, its k,
// and how many leads and behavior events leadpipe's tables held then.
type LastRefresh struct {
	Snapshot      uint64
	At            time.Time
	K             uint32
	Leads, Events uint64
}

// Latest returns the latest recorded refresh; ok is false before the first.
func Latest(ctx context.Context, conn driver.Conn, marketing string) (r LastRefresh, ok bool, err error) {
	rows, err := conn.Query(ctx, "SELECT snapshot, refreshed_at, k, source_leads, source_events FROM "+marketing+
		".refreshes ORDER BY snapshot DESC LIMIT 1")
	if err != nil {
		return r, false, fmt.Errorf("read %s.refreshes: %w", marketing, err)
	}
	defer rows.Close()
	if rows.Next() {
		err = rows.Scan(&r.Snapshot, &r.At, &r.K, &r.Leads, &r.Events)
		ok = err == nil
	}
	if err == nil {
		err = rows.Err()
	}
	return r, ok, err
}

// Query is one marketer question, a file of queries/: its first comment
// lines are the question in plain words.
type Query struct {
	Name     string // the file's name without .sql
	Question string
	SQL      string // with its placeholders: {marketing}, {from}, {to}, {channel}
}

// questionOrder is the order of the questions in the demo and on the
// dashboard: leads, quarantine, consent (the leads', then the visitors'
// cookie choices), then behavior. A file not listed
// comes after them, by name.
var questionOrder = []string{"lead_volume", "quarantine_backlog", "quarantine_releases", "consent_coverage",
	"signal_coverage", "funnel", "top_categories", "audiences"}

func rank(name string) int {
	if i := slices.Index(questionOrder, name); i >= 0 {
		return i
	}
	return len(questionOrder)
}

// Queries returns the marketer questions: leads, quarantine, consent,
// then behavior.
func Queries() []Query {
	names, err := fs.Glob(marketingFS, "queries/*.sql")
	if err != nil {
		panic(err) // a constant pattern
	}
	var out []Query
	for _, path := range names {
		b, err := marketingFS.ReadFile(path)
		if err != nil {
			panic(err) // embedded
		}
		q := Query{Name: strings.TrimSuffix(strings.TrimPrefix(path, "queries/"), ".sql"), SQL: string(b)}
		var question []string
		for _, line := range strings.Split(q.SQL, "\n") {
			text, ok := strings.CutPrefix(strings.TrimSpace(line), "--")
			if !ok {
				break
			}
			question = append(question, strings.TrimSpace(text))
		}
		q.Question = strings.Join(question, " ")
		out = append(out, q)
	}
	slices.SortStableFunc(out, func(a, b Query) int { return rank(a.Name) - rank(b.Name) })
	return out
}

// QueryByName returns the question of file name.sql.
func QueryByName(name string) (Query, bool) {
	for _, q := range Queries() {
		if q.Name == name {
			return q, true
		}
	}
	return Query{}, false
}

// Filter narrows a question to days From to To (inclusive) and to one
// origin channel ("" for every channel).
type Filter struct {
	From, To time.Time
	Channel  string
}

var channelRE = identRE

// AllTime is a filter of every day a marketing table can hold (from
// 2000, whose Monday a ClickHouse Date can hold, to 2100).
var AllTime = Filter{From: time.Date(2000, 1, 3, 0, 0, 0, 0, time.UTC), To: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}

// FirstDay and LastDay bound the days a filter can ask for. The queries
// compare weeks by their Monday, and ClickHouse's Date holds no day before
// 1970-01-01: FirstDay is the first Monday it holds (toMonday of any day
// before it falls outside Date and reads as 0000-00-00, which empties
// every answer). LastDay is far inside Date's end on every version.
var (
	FirstDay = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)
	LastDay  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Clamped returns f with its range cut to FirstDay..LastDay, and whether
// it had to be cut.
func (f Filter) Clamped() (Filter, bool) {
	cut := false
	if f.From.Before(FirstDay) {
		f.From, cut = FirstDay, true
	}
	if f.To.After(LastDay) {
		f.To, cut = LastDay, true
	}
	if f.To.Before(FirstDay) {
		f.To, cut = FirstDay, true
	}
	if f.From.After(LastDay) {
		f.From, cut = LastDay, true
	}
	return f, cut
}

// Validate reports a filter that cannot be put into a query.
func (f Filter) Validate() error {
	if f.To.Before(f.From) {
		return fmt.Errorf("the date range ends (%s) before it begins (%s)", f.To.Format(time.DateOnly), f.From.Format(time.DateOnly))
	}
	if f.Channel != "" && !channelRE.MatchString(f.Channel) {
		return fmt.Errorf("channel %q is not a channel name (letters, digits, _)", f.Channel)
	}
	return nil
}

// Bind returns the query's SQL for database marketing and filter f. The
// values are checked (f.Validate) before they are put in, so they are
// literals, never SQL.
func (q Query) Bind(marketing string, f Filter) (string, error) {
	return bindFilter(q.SQL, marketing, f)
}

// bindFilter puts database marketing and filter f, cut to the days a Date
// holds, into sql's {marketing}, {from}, {to} and {channel}.
func bindFilter(sql, marketing string, f Filter) (string, error) {
	if !identRE.MatchString(marketing) {
		return "", fmt.Errorf("database %q is not a plain identifier", marketing)
	}
	if err := f.Validate(); err != nil {
		return "", err
	}
	f, _ = f.Clamped()
	return strings.NewReplacer(
		"{marketing}", marketing,
		"{from}", "toDate('"+f.From.Format(time.DateOnly)+"')",
		"{to}", "toDate('"+f.To.Format(time.DateOnly)+"')",
		"{channel}", "'"+f.Channel+"'",
	).Replace(sql), nil
}

// Table is a query's answer: its column names and rows, each value as
// the driver scanned it (string, integer, float64 or time.Time).
type Table struct {
	Columns []string
	Rows    [][]any
}

// Run answers the question on database marketing for filter f.
func (q Query) Run(ctx context.Context, conn driver.Conn, marketing string, f Filter) (*Table, error) {
	sql, err := q.Bind(marketing, f)
	if err != nil {
		return nil, err
	}
	t, err := ReadTable(ctx, conn, sql)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	return t, nil
}

// ReadTable runs a query whose columns are not known in advance, with
// args bound to its ? placeholders, and returns its answer, each value of
// the type the driver scans it into.
func ReadTable(ctx context.Context, conn driver.Conn, sql string, args ...any) (*Table, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := &Table{Columns: rows.Columns()}
	types := rows.ColumnTypes()
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		t.Rows = append(t.Rows, row)
	}
	return t, rows.Err()
}
