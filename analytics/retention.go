package analytics

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// RetentionPolicy says how long per-lead rows are kept.
type RetentionPolicy struct {
	// MarketingMonths bounds every per-lead row: behavior events, the
	// classification history and the current lead rows (default 24).
	MarketingMonths int
	// ProfilingMonths bounds what links behavior to a lead: behavior rows
	// that carry a lead key, and the category affinity (default 12).
	ProfilingMonths int
}

// DefaultRetention is 24 months for marketing data, 12 for profiling.
func DefaultRetention() RetentionPolicy {
	return RetentionPolicy{MarketingMonths: 24, ProfilingMonths: 12}
}

// Validate reports a policy that cannot work.
func (p RetentionPolicy) Validate() error {
	if p.MarketingMonths < 1 || p.ProfilingMonths < 1 {
		return errors.New("retention periods must be at least one month")
	}
	if p.ProfilingMonths > p.MarketingMonths {
		return errors.New("the profiling period cannot be longer than the marketing period")
	}
	return nil
}

// RetentionAction is one thing a retention or erasure run removed, as it
// is recorded in retention_runs.
type RetentionAction struct {
	RunID     string    `ch:"run_id"`
	RunAt     time.Time `ch:"run_at"`
	Reason    string    `ch:"reason"` // "retention", "erasure" or "quarantine_expired"
	Table     string    `ch:"table_name"`
	Action    string    `ch:"action"` // "drop_partition", "delete" or "clear_lead_key"
	Cutoff    time.Time `ch:"cutoff"`
	Rows      uint64    `ch:"rows"`
	Detail    string    `ch:"detail"` // the partition, or the condition, in words
	condition string    // the WHERE of a delete
}

// TableRetentionRuns is the record of retention and erasure.
const TableRetentionRuns = "retention_runs"

// Retain removes the per-lead rows older than the policy allows at now:
// whole months of behavior_events and classifications are dropped as
// partitions (cheap on every ClickHouse version), what remains past the
// cutoff is deleted with mutations, and every action is recorded in
// retention_runs. The audit trail (decisions) is kept: it is the proof of
// what was decided. With dryRun it only counts.
func Retain(ctx context.Context, w *Writer, p RetentionPolicy, now time.Time, dryRun bool) ([]RetentionAction, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Second)
	marketing := now.AddDate(0, -p.MarketingMonths, 0)
	profiling := now.AddDate(0, -p.ProfilingMonths, 0)
	run := RetentionAction{RunID: newRunID(), RunAt: now, Reason: "retention"}

	var actions []RetentionAction
	for _, t := range []struct{ table, column string }{{TableBehavior, "occurred_at"}, {TableClassifications, "occurred_at"}} {
		drops, err := oldPartitions(ctx, w, t.table, marketing)
		if err != nil {
			return nil, err
		}
		for _, d := range drops {
			a := run
			a.Table, a.Action, a.Cutoff, a.Rows, a.Detail = t.table, "drop_partition", marketing, d.rows, "partition "+d.partition
			actions = append(actions, a)
		}
		a := run
		a.Table, a.Action, a.Cutoff = t.table, "delete", marketing
		a.Detail = fmt.Sprintf("rows with %s before the marketing cutoff (%d months)", t.column, p.MarketingMonths)
		// Rows of the months dropped above are not counted twice.
		a.condition = fmt.Sprintf("%s < toDateTime('%s', 'UTC') AND toYYYYMM(%s) >= %s", t.column, chTime(marketing), t.column, marketing.Format("200601"))
		actions = append(actions, a)
	}
	for _, a := range []RetentionAction{
		{Table: TableBehavior, Cutoff: profiling, condition: fmt.Sprintf("lead_key != '' AND occurred_at < toDateTime('%s', 'UTC') AND toYYYYMM(occurred_at) >= %s", chTime(profiling), marketing.Format("200601")),
			Detail: fmt.Sprintf("behavior linked to a lead key, before the profiling cutoff (%d months)", p.ProfilingMonths)},
		{Table: TableAffinity, Cutoff: profiling, condition: fmt.Sprintf("month < toStartOfMonth(toDate('%s'))", profiling.Format("2006-01-02")),
			Detail: fmt.Sprintf("months before the profiling cutoff's month (%d months)", p.ProfilingMonths)},
		{Table: TableLeads, Cutoff: marketing, condition: fmt.Sprintf("updated_at < toDateTime('%s', 'UTC')", chTime(marketing)),
			Detail: fmt.Sprintf("leads not updated since the marketing cutoff (%d months)", p.MarketingMonths)},
	} {
		a.RunID, a.RunAt, a.Reason, a.Action = run.RunID, run.RunAt, run.Reason, "delete"
		actions = append(actions, a)
	}
	return apply(ctx, w, actions, dryRun)
}

// ErasureRequest is one lead to erase: its key and the request behind it.
type ErasureRequest struct {
	LeadKey     string
	KeyVersion  string
	EventID     string    // the consent event that asked for the erasure
	RequestedAt time.Time // when it occurred
}

// ErasureReceipt is a row of erasure_receipts: what an erasure removed,
// per table, and whether the lead key is gone from every table.
type ErasureReceipt struct {
	RequestEventID         string    `ch:"request_event_id" json:"request_event_id"`
	ErasureID              string    `ch:"erasure_id" json:"erasure_id"`
	KeyVersion             string    `ch:"key_version" json:"key_version"`
	RequestedAt            time.Time `ch:"requested_at" json:"requested_at"`
	CompletedAt            time.Time `ch:"completed_at" json:"completed_at"`
	BehaviorUnlinked       uint64    `ch:"behavior_unlinked" json:"behavior_unlinked"`
	ClassificationsRemoved uint64    `ch:"classifications_removed" json:"classifications_removed"`
	LeadsRemoved           uint64    `ch:"leads_removed" json:"leads_removed"`
	AffinityRemoved        uint64    `ch:"affinity_removed" json:"affinity_removed"`
	DecisionsUnlinked      uint64    `ch:"decisions_unlinked" json:"decisions_unlinked"`
	Verified               uint8     `ch:"verified" json:"verified"`
}

// TableErasureReceipts holds one receipt per erasure request and lead.
const TableErasureReceipts = "erasure_receipts"

// ErasureID is the erasure id of a lead key: SHA-256 of "erasure|" and
// the key, hex.
func ErasureID(leadKey string) string {
	sum := sha256.Sum256([]byte("erasure|" + leadKey))
	return hex.EncodeToString(sum[:])
}

// maxKeysPerStatement bounds the lead keys one erasure or purge statement
// names: 1,000 keys of 64 hex characters (and, for a purge, a time each)
// stay well under ClickHouse's max_query_size of 256 KiB. A batch with more
// is carried out in several statements.
const maxKeysPerStatement = 1000

// Erase carries out erasure requests (GDPR Art. 17) in ClickHouse: the
// leads' behavior rows lose their lead key (the events stay in the counts,
// anonymous), their rows in classifications, leads and category_affinity
// are deleted, and their decisions keep the record of what was done without
// the lead key. Each action is recorded in retention_runs, and each request
// gets a receipt in erasure_receipts, with the rows removed per table and
// whether count() by the key is 0 in every table afterwards (verified).
func Erase(ctx context.Context, w *Writer, reqs []ErasureRequest, now time.Time) ([]ErasureReceipt, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if len(reqs) > maxKeysPerStatement {
		var out []ErasureReceipt
		for chunk := range slices.Chunk(reqs, maxKeysPerStatement) {
			receipts, err := Erase(ctx, w, chunk, now)
			if err != nil {
				return out, err
			}
			out = append(out, receipts...)
		}
		return out, nil
	}
	keys := make([]string, 0, len(reqs))
	for _, r := range reqs {
		if !hexKeyRE.MatchString(r.LeadKey) {
			return nil, fmt.Errorf("erase: a lead key is not a hex HMAC (%d characters)", len(r.LeadKey))
		}
		keys = append(keys, r.LeadKey)
	}
	in := "lead_key IN ('" + strings.Join(keys, "', '") + "')"
	tables := []struct{ table, action string }{
		{TableBehavior, "clear_lead_key"},
		{TableClassifications, "delete"},
		{TableLeads, "delete"},
		{TableAffinity, "delete"},
		{TableDecisions, "clear_lead_key"},
	}
	// Rows per table and key, before.
	perKey := make([]map[string]uint64, len(tables))
	for i, t := range tables {
		n, err := countByKey(ctx, w, t.table, in)
		if err != nil {
			return nil, err
		}
		perKey[i] = n
	}
	run := RetentionAction{RunID: newRunID(), RunAt: now.UTC().Truncate(time.Second), Reason: "erasure"}
	detail := fmt.Sprintf("%d erased leads", len(keys))
	var actions []RetentionAction
	for _, t := range tables {
		a := run
		a.Table, a.Action, a.Cutoff, a.Detail, a.condition = t.table, t.action, run.RunAt, detail, in
		actions = append(actions, a)
	}
	if _, err := apply(ctx, w, actions, false); err != nil {
		return nil, err
	}
	// What is left, per table and key: nothing, or the receipt says so.
	left := map[string]uint64{}
	for _, t := range tables {
		n, err := countByKey(ctx, w, t.table, in)
		if err != nil {
			return nil, err
		}
		for k, c := range n {
			left[k] += c
		}
	}
	completed := time.Now().UTC().Truncate(time.Second)
	receipts := make([]ErasureReceipt, 0, len(reqs))
	for _, r := range reqs {
		rc := ErasureReceipt{
			RequestEventID: r.EventID, ErasureID: ErasureID(r.LeadKey), KeyVersion: r.KeyVersion,
			RequestedAt: r.RequestedAt.UTC(), CompletedAt: completed,
			BehaviorUnlinked: perKey[0][r.LeadKey], ClassificationsRemoved: perKey[1][r.LeadKey],
			LeadsRemoved: perKey[2][r.LeadKey], AffinityRemoved: perKey[3][r.LeadKey], DecisionsUnlinked: perKey[4][r.LeadKey],
		}
		if left[r.LeadKey] == 0 {
			rc.Verified = 1
		}
		receipts = append(receipts, rc)
	}
	if err := Insert(ctx, w, TableErasureReceipts, receipts); err != nil {
		return receipts, fmt.Errorf("record the erasure receipts: %w", err)
	}
	return receipts, nil
}

// PurgeRequest is a quarantined lead to purge (classify's quarantine
// retention): its key, the latest event time of the history purged, and
// when its quarantine expired.
type PurgeRequest struct {
	LeadKey  string
	AsOf     time.Time
	Deadline time.Time
}

// Purge removes what ClickHouse holds of leads purged from the quarantine,
// as Erase does, recorded in retention_runs with reason
// "quarantine_expired", without a receipt: the person asked for nothing,
// and a lead event of the same lead id later starts a new history that
// must land. Only the purged history goes: classification and lead rows
// as of req.AsOf or earlier, behavior up to req.Deadline.
func Purge(ctx context.Context, w *Writer, reqs []PurgeRequest, now time.Time) ([]RetentionAction, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if len(reqs) > maxKeysPerStatement {
		var out []RetentionAction
		for chunk := range slices.Chunk(reqs, maxKeysPerStatement) {
			actions, err := Purge(ctx, w, chunk, now)
			if err != nil {
				return out, err
			}
			out = append(out, actions...)
		}
		return out, nil
	}
	var keys, classifications, leads, behavior []string
	for _, r := range reqs {
		if !hexKeyRE.MatchString(r.LeadKey) {
			return nil, fmt.Errorf("purge: a lead key is not a hex HMAC (%d characters)", len(r.LeadKey))
		}
		keys = append(keys, r.LeadKey)
		k := "lead_key = '" + r.LeadKey + "'"
		classifications = append(classifications, fmt.Sprintf("(%s AND occurred_at <= toDateTime('%s', 'UTC'))", k, chTime(r.AsOf)))
		leads = append(leads, fmt.Sprintf("(%s AND updated_at <= toDateTime('%s', 'UTC'))", k, chTime(r.AsOf)))
		behavior = append(behavior, fmt.Sprintf("(%s AND occurred_at <= toDateTime('%s', 'UTC'))", k, chTime(r.Deadline)))
	}
	in := "lead_key IN ('" + strings.Join(keys, "', '") + "')"
	run := RetentionAction{RunID: newRunID(), RunAt: now.UTC().Truncate(time.Second), Reason: "quarantine_expired"}
	detail := fmt.Sprintf("%d leads quarantined past the retention without a counting consent", len(keys))
	var actions []RetentionAction
	for _, t := range []struct{ table, action, cond string }{
		{TableClassifications, "delete", strings.Join(classifications, " OR ")},
		{TableLeads, "delete", strings.Join(leads, " OR ")},
		{TableAffinity, "delete", in},
		{TableBehavior, "clear_lead_key", strings.Join(behavior, " OR ")},
		{TableDecisions, "clear_lead_key", in},
	} {
		a := run
		a.Table, a.Action, a.Cutoff, a.Detail, a.condition = t.table, t.action, run.RunAt, detail, t.cond
		actions = append(actions, a)
	}
	return apply(ctx, w, actions, false)
}

// ErasedIDs returns the erasure id of every receipt in erasure_receipts.
func ErasedIDs(ctx context.Context, w *Writer) (map[string]struct{}, error) {
	rows, err := w.conn.Query(w.ctx(ctx), "SELECT DISTINCT erasure_id FROM "+w.table(TableErasureReceipts))
	if err != nil {
		return nil, fmt.Errorf("erasure ids: %w", err)
	}
	defer rows.Close()
	ids := map[string]struct{}{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = struct{}{}
	}
	return ids, rows.Err()
}

// receiptColumns are the columns of erasure_receipts, in ErasureReceipt's order.
const receiptColumns = "request_event_id, erasure_id, key_version, requested_at, completed_at, behavior_unlinked, " +
	"classifications_removed, leads_removed, affinity_removed, decisions_unlinked, verified"

// Receipts returns the erasure receipts of one erasure id, earliest first.
func Receipts(ctx context.Context, w *Writer, erasureID string) ([]ErasureReceipt, error) {
	var out []ErasureReceipt
	err := w.conn.Select(w.ctx(ctx), &out, "SELECT "+receiptColumns+" FROM "+w.table(TableErasureReceipts)+
		" WHERE erasure_id = ? ORDER BY completed_at", erasureID)
	if err != nil {
		return nil, fmt.Errorf("erasure receipts: %w", err)
	}
	return out, nil
}

// countByKey counts the rows of table matching cond, per lead key.
func countByKey(ctx context.Context, w *Writer, table, cond string) (map[string]uint64, error) {
	rows, err := w.conn.Query(w.ctx(ctx), fmt.Sprintf("SELECT lead_key, count() FROM %s WHERE %s GROUP BY lead_key", w.table(table), cond))
	if err != nil {
		return nil, fmt.Errorf("count the rows of %s to erase: %w", table, err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var k string
		var n uint64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

var hexKeyRE = regexp.MustCompile(`^[0-9a-f]{16,128}$`)

// TableAffinity is the per-lead category affinity.
const TableAffinity = "category_affinity"

// apply counts the rows of each action, runs the ones that match rows,
// waits for the mutations to finish and records every action.
func apply(ctx context.Context, w *Writer, actions []RetentionAction, dryRun bool) ([]RetentionAction, error) {
	conn := w.conn
	ctx = w.ctx(ctx)
	for i := range actions {
		a := &actions[i]
		switch a.Action {
		case "drop_partition":
			if dryRun {
				continue
			}
			part := strings.TrimPrefix(a.Detail, "partition ")
			if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %s", w.alter(a.Table), part)); err != nil {
				return nil, fmt.Errorf("drop partition %s of %s: %w", part, a.Table, err)
			}
		case "delete", "clear_lead_key":
			var n uint64
			if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM %s WHERE %s", w.table(a.Table), a.condition)).Scan(&n); err != nil {
				return nil, fmt.Errorf("count rows to remove from %s: %w", a.Table, err)
			}
			a.Rows = n
			if n == 0 || dryRun {
				continue
			}
			stmt := fmt.Sprintf("ALTER TABLE %s DELETE WHERE %s", w.alter(a.Table), a.condition)
			if a.Action == "clear_lead_key" {
				set := "lead_key = ''"
				if a.Table == TableDecisions {
					// The ledger's salt goes with the key: the row's digest,
					// which the chain covers, then leads to nobody.
					set += ", lead_salt = ''"
				}
				stmt = fmt.Sprintf("ALTER TABLE %s UPDATE %s WHERE %s", w.alter(a.Table), set, a.condition)
			}
			if err := conn.Exec(ctx, stmt); err != nil {
				return nil, fmt.Errorf("%s in %s: %w", a.Action, a.Table, err)
			}
		}
	}
	if dryRun {
		return actions, nil
	}
	if err := waitMutations(ctx, w); err != nil {
		return actions, err
	}
	if err := Insert(ctx, w, TableRetentionRuns, actions); err != nil {
		return actions, fmt.Errorf("record the run: %w", err)
	}
	return actions, nil
}

type partition struct {
	partition string
	rows      uint64
}

// oldPartitions lists the monthly partitions of table whose whole month
// lies before cutoff.
func oldPartitions(ctx context.Context, w *Writer, table string, cutoff time.Time) ([]partition, error) {
	rows, err := w.conn.Query(w.ctx(ctx), `SELECT partition, sum(rows) FROM `+w.system("parts")+`
		WHERE database = ? AND table = ? AND active AND partition < ? GROUP BY partition ORDER BY partition`,
		w.db, w.local(table), cutoff.Format("200601"))
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []partition
	for rows.Next() {
		var p partition
		if err := rows.Scan(&p.partition, &p.rows); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// waitMutations returns once every mutation of db has finished.
// MutationTimeout bounds the wait for the mutations (deletes and updates)
// of a retention run, an erasure or a purge. A mutation that does not
// finish (ClickHouse retries a failing one forever) ends the wait with an
// error naming system.mutations, instead of holding the caller without a
// word; the sink logs it and retries its flush.
var MutationTimeout = 2 * time.Minute

// MutationsRunning returns how many mutations of db have not finished.
func MutationsRunning(ctx context.Context, w *Writer) (uint64, error) {
	var n uint64
	if err := w.conn.QueryRow(w.ctx(ctx), "SELECT count() FROM "+w.system("mutations")+" WHERE database = ? AND is_done = 0", w.db).Scan(&n); err != nil {
		return 0, fmt.Errorf("mutations of %s: %w", w.db, err)
	}
	return n, nil
}

func waitMutations(ctx context.Context, w *Writer) error {
	db := w.db
	deadline := time.Now().Add(MutationTimeout)
	for {
		n, err := MutationsRunning(ctx, w)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d mutations of %s still running after %v: see system.mutations (a failing mutation is retried forever)", n, db, MutationTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d mutations of %s still running: %w", n, db, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func newRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
