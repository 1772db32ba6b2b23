package analytics

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Table names.
const (
	TableClassifications = "classifications"
	TableLeads           = "leads"
	TableBehavior        = "behavior_events"
	TableDecisions       = "decisions"
	// TableDecisionsLanded holds the event id and time of every decision
	// that landed: the sink's lookup of audit records (LandedEvents).
	TableDecisionsLanded = "decisions_landed"
)

// Writer inserts rows into leadpipe's tables, and erases and retains
// them: leadpipe's handle on its database, on one server or on a cluster.
type Writer struct {
	conn    driver.Conn
	db      string
	cluster string // "" on one server
}

// NewWriter returns a Writer on database db of one server.
func NewWriter(conn driver.Conn, db string) *Writer { return &Writer{conn: conn, db: db} }

// NewConfigWriter returns a Writer on c's database, on c's cluster if it
// names one.
func NewConfigWriter(conn driver.Conn, c Config) *Writer {
	return &Writer{conn: conn, db: c.Database, cluster: c.Cluster}
}

// table is the name to read a table by, and to insert into: on a cluster,
// its Distributed table.
func (w *Writer) table(name string) string { return w.db + "." + name }

// alter is the target of an ALTER of a table's rows or partitions: on a
// cluster, its replicated local tables on every node (ON CLUSTER; each
// shard's replicas share the mutation through ZooKeeper).
func (w *Writer) alter(name string) string {
	if w.cluster == "" {
		return w.db + "." + name
	}
	return w.db + "." + name + localSuffix + " ON CLUSTER " + w.cluster
}

// local is the name a table's parts and mutations go by in system tables.
func (w *Writer) local(name string) string {
	if w.cluster == "" {
		return name
	}
	return name + localSuffix
}

// system reads a system table: on a cluster, of one replica of every shard.
func (w *Writer) system(name string) string {
	if w.cluster == "" {
		return "system." + name
	}
	return "cluster('" + w.cluster + "', system, " + name + ")"
}

// ctx is the context of a statement: on a cluster, an INSERT into a
// Distributed table returns once every shard has the rows
// (insert_distributed_sync), as one server's INSERT does. (The order in
// which the shards' replicas are chosen, load_balancing, is a string
// setting, which the native protocol of 18.16 cannot carry per query:
// deploy/clickhouse/users.xml sets in_order in the writer's profile.)
func (w *Writer) ctx(ctx context.Context) context.Context {
	if w.cluster == "" {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
}

// Insert writes rows into table with one INSERT that names its columns
// (ClickHouse 18.16 needs them named). T is one of the row structs. A
// failed insert leaves nothing to reuse: call Insert again, which builds a
// new batch.
func Insert[T any](ctx context.Context, w *Writer, table string, rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := w.conn.PrepareBatch(w.ctx(ctx), "INSERT INTO "+w.table(table)+" ("+columnList[T]()+")")
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	defer batch.Close()
	if cols, ok := columns(rows); ok {
		// Whole columns at once: no reflection per row.
		for i, c := range cols {
			if err := batch.Column(i).Append(c); err != nil {
				return fmt.Errorf("insert into %s, column %d: %w", table, i, err)
			}
		}
	} else {
		for i := range rows {
			if err := batch.AppendStruct(&rows[i]); err != nil {
				return fmt.Errorf("insert into %s, row %d: %w", table, i, err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), table, err)
	}
	return nil
}

// LandedOffsets returns the Kafka offsets of topic and partition, from
// offset from on, that have landed in table.
func (w *Writer) LandedOffsets(ctx context.Context, table, topic string, partition int, from int64) (map[int64]struct{}, error) {
	rows, err := w.conn.Query(w.ctx(ctx), "SELECT _offset FROM "+w.table(table)+" WHERE _topic = ? AND _partition = ? AND _offset >= ?",
		topic, int32(partition), from)
	if err != nil {
		return nil, fmt.Errorf("landed offsets of %s[%d] in %s: %w", topic, partition, table, err)
	}
	defer rows.Close()
	out := map[int64]struct{}{}
	for rows.Next() {
		var o int64
		if err := rows.Scan(&o); err != nil {
			return nil, err
		}
		out[o] = struct{}{}
	}
	return out, rows.Err()
}

// Landed is what already landed in table from one topic partition: the
// offsets from offset from on (the rows a consumer restarting at from must
// not land again), and the dedupe keys of the rows from from-window on
// (event_id, and for classifications event_id, NUL, lead_key): the records
// a replay upstream may bring back under new offsets. The window is in
// offsets of the partition, so it is a bound on what is read back.
func (w *Writer) Landed(ctx context.Context, table, topic string, partition int, from, window int64) (map[int64]struct{}, []string, error) {
	key := "event_id"
	if table == TableClassifications {
		key = "concat(event_id, '\\0', lead_key)"
	}
	rows, err := w.conn.Query(w.ctx(ctx), "SELECT _offset, "+key+" FROM "+w.table(table)+" WHERE _topic = ? AND _partition = ? AND _offset >= ?",
		topic, int32(partition), max(0, from-window))
	if err != nil {
		return nil, nil, fmt.Errorf("landed rows of %s[%d] in %s: %w", topic, partition, table, err)
	}
	defer rows.Close()
	offsets := map[int64]struct{}{}
	var keys []string
	for rows.Next() {
		var o int64
		var k string
		if err := rows.Scan(&o, &k); err != nil {
			return nil, nil, err
		}
		if o >= from {
			offsets[o] = struct{}{}
		}
		keys = append(keys, k)
	}
	return offsets, keys, rows.Err()
}

// EventKey names an event's row in a table by the columns the table is
// ordered by, so that looking it up reads a granule, not the table: the
// event's time (its occurred_at, in Unix seconds) and id, and for
// classifications the lead key (one event re-classifies several leads).
type EventKey struct {
	LeadKey string
	At      int64
	ID      string
}

// landedLookups are the queries of LandedEvents: each finds the keys of
// the external table _keys (lead_key, at, id) in a table by a prefix of its
// ORDER BY. %[2]s is IN on one server; GLOBAL IN on a cluster, where the
// Distributed table sends _keys to every shard. (ClickHouse 18.16 reads the
// whole table for a GLOBAL IN on a local table: its primary key is used
// for a plain IN only. On a shard, the GLOBAL IN arrives as a plain IN.)
var landedLookups = map[string]string{
	TableBehavior:        "SELECT '', toUInt32(occurred_at), event_id FROM %[1]s WHERE (occurred_at, event_id) %[2]s (SELECT at, id FROM _keys)",
	TableDecisions:       "SELECT '', toUInt32(occurred_at), event_id FROM %[1]s WHERE (occurred_at, event_id) %[2]s (SELECT at, id FROM _keys)",
	TableClassifications: "SELECT lead_key, toUInt32(occurred_at), event_id FROM %[1]s WHERE (lead_key, occurred_at, event_id) %[2]s (SELECT lead_key, at, id FROM _keys)",
}

// LandedEvents returns which of keys already landed in table
// (behavior_events, classifications, or decisions through
// decisions_landed), wherever they are in the table: a copy of an event
// replayed from far back is found as surely as one from the last batch.
// Each key is looked up by the table's primary key.
func (w *Writer) LandedEvents(ctx context.Context, table string, keys []EventKey) (map[EventKey]struct{}, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	query, ok := landedLookups[table]
	if !ok {
		return nil, fmt.Errorf("landed events: table %s has no event key", table)
	}
	from := w.table(table)
	if table == TableDecisions {
		from = w.table(TableDecisionsLanded)
	}
	in := "IN"
	if w.cluster != "" {
		in = "GLOBAL IN"
	}
	ext, err := externalKeys(keys)
	if err != nil {
		return nil, err
	}
	rows, err := w.conn.Query(clickhouse.Context(w.ctx(ctx), clickhouse.WithExternalTable(ext)), fmt.Sprintf(query, from, in))
	if err != nil {
		return nil, fmt.Errorf("landed events of %d rows in %s: %w", len(keys), table, err)
	}
	defer rows.Close()
	out := make(map[EventKey]struct{})
	for rows.Next() {
		var k EventKey
		var at uint32
		if err := rows.Scan(&k.LeadKey, &at, &k.ID); err != nil {
			return nil, fmt.Errorf("landed events in %s: %w", table, err)
		}
		k.At = int64(at)
		out[k] = struct{}{}
	}
	return out, rows.Err()
}

// externalKeys is keys as the external table _keys of a query.
func externalKeys(keys []EventKey) (*ext.Table, error) {
	t, err := ext.NewTable("_keys", ext.Column("lead_key", "String"), ext.Column("at", "DateTime"), ext.Column("id", "String"))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := t.Append(k.LeadKey, time.Unix(k.At, 0).UTC(), k.ID); err != nil {
			return nil, fmt.Errorf("landed events: %w", err)
		}
	}
	return t, nil
}

// Conn is the connection the Writer writes through.
func (w *Writer) Conn() driver.Conn { return w.conn }

// Database is the database the Writer writes to.
func (w *Writer) Database() string { return w.db }

// columnList returns the comma-separated ch tags of T, embedded structs
// flattened, in field order.
func columnList[T any]() string {
	var cols []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			if tag := f.Tag.Get("ch"); tag != "" && tag != "-" {
				cols = append(cols, tag)
			}
		}
	}
	walk(reflect.TypeFor[T]())
	return strings.Join(cols, ", ")
}

// columns returns the rows as one slice per column, in the order of
// columnList, for the row types on the hot path (behavior events are nine
// rows in ten); ok is false for the others, which go row by row.
func columns[T any](rows []T) (cols []any, ok bool) {
	switch rs := any(rows).(type) {
	case []BehaviorRow:
		n := len(rs)
		var (
			eventID, action, channel, decision, leadKey, keyVersion = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			visitorKey, productID, category, currency, topic        = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			occurredAt                                              = make([]time.Time, n)
			value                                                   = make([]float64, n)
			analytics, profiling                                    = make([]uint8, n), make([]uint8, n)
			analyticsSignal, profilingSignal                        = make([]string, n), make([]string, n)
			partition                                               = make([]int32, n)
			offset                                                  = make([]int64, n)
		)
		for i := range rs {
			r := &rs[i]
			eventID[i], occurredAt[i], action[i], channel[i], decision[i] = r.EventID, r.OccurredAt, r.Action, r.Channel, r.Decision
			leadKey[i], keyVersion[i], visitorKey[i], productID[i], category[i] = r.LeadKey, r.KeyVersion, r.VisitorKey, r.ProductID, r.Category
			value[i], currency[i], topic[i], partition[i], offset[i] = r.Value, r.Currency, r.Topic, r.Partition, r.Offset
			analytics[i], analyticsSignal[i], profiling[i], profilingSignal[i] = r.Analytics, r.AnalyticsSignal, r.Profiling, r.ProfilingSignal
		}
		return []any{eventID, occurredAt, action, channel, decision, leadKey, keyVersion, visitorKey,
			productID, category, value, currency, analytics, analyticsSignal, profiling, profilingSignal, topic, partition, offset}, true
	}
	return nil, false
}
