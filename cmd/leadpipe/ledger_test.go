package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	accountability "github.com/leadpipe/leadpipe/analytics/report"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/ledger"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// TestLedgerVerifyFindsEachBreakOnTheRealServices: the pipeline on the real
// broker and ClickHouse lands leads, consents and erasures with the ledger
// signed; `leadpipe ledger verify` finds it whole and names the erasures'
// receipts; then one row deleted, one altered, two swapped, one inserted,
// a lead key cleared outside an erasure and the wrong public key are each
// reported with their partition, offset and kind, and the ledger is whole
// again once each is undone.
func TestLedgerVerifyFindsEachBreakOnTheRealServices(t *testing.T) {
	cfg, conn := testRunConfig(t)
	dir := t.TempDir()
	keyFile, pubFile, otherPub := filepath.Join(dir, "ledger.key"), filepath.Join(dir, "ledger.pub"), filepath.Join(dir, "other.pub")
	if _, err := ledger.WriteKeys(keyFile, pubFile); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.WriteKeys(filepath.Join(dir, "other.key"), otherPub); err != nil {
		t.Fatal(err)
	}
	cfg.ledgerKeyFile, cfg.ledgerAnchorEvery = keyFile, 0
	runner := startStages(t, cfg, stageNames...)
	k := &cfg.kafka

	leads := readJSONL(t, "leads.jsonl")
	for i := range 30 {
		id := fmt.Sprintf("ledger-%02d", i)
		leads = append(leads, kafka.Message{Key: []byte(id), Value: []byte(`{"type":"lead","event_id":"le-` + id + `","occurred_at":"2026-03-02T10:00:00Z","lead_id":"` + id +
			`","contact":{"email":"` + id + `@example.com","country":"IT"},"source":{"kind":"web_form","url":"https://shop.example.com/signup"}}`)})
	}
	pipelinetest.Produce(t, k, pipeline.TopicLeadsRaw, leads...)
	// The leads' decisions land before the erasures, so that the erasures
	// unlink rows (a decision landing after its lead's erasure lands
	// without the key, and no erasure accounts for it: CI once ran the
	// sink behind classify here, and two erasures unlinked nothing).
	lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer lcancel()
	if err := waitDrained(lctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	consents := readJSONL(t, "consents.jsonl")
	for _, id := range []string{"ledger-03", "ledger-17"} {
		consents = append(consents, kafka.Message{Key: []byte(id), Value: []byte(`{"type":"consent","event_id":"erase-` + id + `","occurred_at":"2026-03-04T08:00:00Z","lead_id":"` + id +
			`","purpose":"all","action":"erase","method":"email_request","collection_point":"privacy-desk","text_version":"v3","proof_ref":"ticket-` + id + `"}`)})
	}
	pipelinetest.Produce(t, k, pipeline.TopicConsentsRaw, consents...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}

	args := []string{"ledger", "verify", "--brokers", strings.Join(k.Brokers, ","), "--topic-prefix", k.TopicPrefix,
		"--clickhouse", cfg.ch.Addr, "--clickhouse-db", cfg.ch.Database}
	verify := func(t *testing.T, extra ...string) (int, ledger.Result) {
		t.Helper()
		var out, errs bytes.Buffer
		code := dispatch(context.Background(), append(append(slices.Clone(args), "--format", "json"), extra...), nil, &out, &errs)
		var r ledger.Result
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("verify exited %d: %v\n%s%s", code, err, out.String(), errs.String())
		}
		return code, r
	}
	// report is the ledger section of leadpipe report over every row.
	report := func(t *testing.T) accountability.LedgerSection {
		t.Helper()
		var out, errs bytes.Buffer
		rargs := []string{"report", "--format", "json", "--from", "2026-01-01", "--to", time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly),
			"--brokers", strings.Join(k.Brokers, ","), "--topic-prefix", k.TopicPrefix, "--clickhouse", cfg.ch.Addr, "--clickhouse-db", cfg.ch.Database, "--public-key", pubFile}
		if code := dispatch(context.Background(), rargs, nil, &out, &errs); code != 0 {
			t.Fatalf("report exited %d: %s", code, errs.String())
		}
		var r struct {
			Ledger accountability.LedgerSection `json:"ledger"`
		}
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("report: %v\n%s", err, out.String())
		}
		return r.Ledger
	}
	whole := func(t *testing.T) {
		t.Helper()
		if code, r := verify(t, "--public-key", pubFile); code != 0 || r.Break != nil {
			t.Fatalf("verify exited %d with %v, want 0 and the ledger whole", code, r.Break)
		}
	}

	all, err := analytics.NewWriter(conn, cfg.ch.Database).LedgerRows(context.Background(), k.Topic(pipeline.TopicAudit))
	if err != nil {
		t.Fatal(err)
	}
	// The partition with the most rows, for the tampering below.
	byPart := map[int32][]analytics.DecisionRow{}
	for _, r := range all {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	var rows []analytics.DecisionRow
	for _, rs := range byPart {
		if len(rs) > len(rows) {
			rows = rs
		}
	}
	if len(rows) < 4 {
		t.Fatalf("the fullest audit partition holds %d rows, want at least 4", len(rows))
	}
	p := rows[0].Partition

	t.Run("the ledger as landed is whole, its anchors signed, and the erased rows accounted for by their receipts", func(t *testing.T) {
		code, r := verify(t, "--public-key", pubFile)
		if code != 0 || r.Break != nil {
			t.Fatalf("exit %d, break %v; want 0 and none", code, r.Break)
		}
		if r.Records != int64(len(all)) || r.Partitions != len(byPart) {
			t.Errorf("%d records in %d partitions checked, want %d in %d", r.Records, r.Partitions, len(all), len(byPart))
		}
		if r.Anchors == 0 || r.SignedAnchors != r.Anchors || !r.SignaturesChecked {
			t.Errorf("anchors %d, signed %d, checked %v; want every anchor signed and checked", r.Anchors, r.SignedAnchors, r.SignaturesChecked)
		}
		if r.ErasedAccounted < 3 || len(r.Receipts) < 3 {
			t.Errorf("erased rows accounted %d by receipts %v; want the three erasures' rows and receipts", r.ErasedAccounted, r.Receipts)
		}
		// --from and --to bound the rows checked by their processing time.
		later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if code, r := verify(t, "--public-key", pubFile, "--from", later); code != 0 || r.Break != nil || r.Records != 0 {
			t.Errorf("--from %s: exit %d, break %v, %d records; want 0, none and none", later, code, r.Break, r.Records)
		}
		if code, r := verify(t, "--public-key", pubFile, "--from", "2026-01-01T00:00:00Z", "--to", later); code != 0 || r.Break != nil || r.Records != int64(len(all)) {
			t.Errorf("--to %s: exit %d, break %v, %d records; want 0, none and %d", later, code, r.Break, r.Records, len(all))
		}
		if l := report(t); !l.Checked || l.Break != nil || l.Records != r.Records || l.Anchors != r.Anchors || l.SignedAnchors != r.Anchors || l.ErasedAccounted != r.ErasedAccounted {
			t.Errorf("leadpipe report's ledger section %+v, want it checked and whole, as verify found it (%d records, %d anchors, %d erased)", l, r.Records, r.Anchors, r.ErasedAccounted)
		}
		var out, errs bytes.Buffer
		if code := dispatch(context.Background(), append(slices.Clone(args), "--public-key", pubFile), nil, &out, &errs); code != 0 {
			t.Fatalf("text: exit %d: %s%s", code, out.String(), errs.String())
		}
		for _, id := range []string{"e2e-consent-e-erase/receipt/", "erase-ledger-03/receipt/", "erase-ledger-17/receipt/"} {
			if !strings.Contains(out.String(), id) {
				t.Errorf("the summary names no receipt %s:\n%s", id, out.String())
			}
		}
	})

	t.Run("verify while the pipeline lands records finds no break", func(t *testing.T) {
		var more []kafka.Message
		for i := range 3000 {
			id := fmt.Sprintf("ledger-live-%04d", i)
			more = append(more, kafka.Message{Key: []byte(id), Value: []byte(`{"type":"lead","event_id":"le-` + id + `","occurred_at":"2026-03-05T10:00:00Z","lead_id":"` + id +
				`","contact":{"email":"` + id + `@example.com","country":"IT"},"source":{"kind":"web_form","url":"https://shop.example.com/signup"}}`)})
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < len(more); i += 20 {
				pipelinetest.Produce(t, k, pipeline.TopicLeadsRaw, more[i:i+20]...)
				time.Sleep(20 * time.Millisecond)
			}
		}()
		runs := 0
		for live := true; live; runs++ {
			select {
			case <-done:
				live = false
			default:
			}
			if code, r := verify(t, "--public-key", pubFile); code != 0 || r.Break != nil {
				t.Fatalf("verify run %d while records land: exit %d, break %+v; want 0 and none", runs+1, code, r.Break)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := waitDrained(ctx, runner, nil); err != nil {
			t.Fatal(err)
		}
		whole(t)
		t.Logf("verify ran %d times while 3000 leads landed", runs)
	})

	db := cfg.ch.Database + ".decisions"
	where := func(offsets ...int64) string {
		var os []string
		for _, o := range offsets {
			os = append(os, fmt.Sprint(o))
		}
		return fmt.Sprintf("_topic = '%s' AND _partition = %d AND _offset IN (%s)", k.Topic(pipeline.TopicAudit), p, strings.Join(os, ", "))
	}
	for _, tc := range []struct {
		name    string
		tamper  []string
		undo    func(t *testing.T)
		extra   []string
		kind    string
		offset  int64
		partial bool // the break is not in a partition (an erasure unaccounted for)
	}{
		{
			name:   "a row deleted is reported at its offset",
			tamper: []string{"ALTER TABLE " + db + " DELETE WHERE " + where(rows[1].Offset)},
			undo: func(t *testing.T) {
				if err := analytics.Insert(context.Background(), analytics.NewWriter(conn, cfg.ch.Database), analytics.TableDecisions, rows[1:2]); err != nil {
					t.Fatal(err)
				}
			},
			kind: ledger.BreakDeleted, offset: rows[1].Offset,
		},
		{
			name:   "a row altered is reported at its offset",
			tamper: []string{"ALTER TABLE " + db + " UPDATE reason = 'nothing to see' WHERE " + where(rows[2].Offset)},
			undo: func(t *testing.T) {
				mutate(t, conn, cfg.ch.Database, fmt.Sprintf("ALTER TABLE %s UPDATE reason = '%s' WHERE %s", db, strings.ReplaceAll(rows[2].Reason, "'", "\\'"), where(rows[2].Offset)))
			},
			kind: ledger.BreakAltered, offset: rows[2].Offset,
		},
		{
			name: "two rows swapped are reported at the first",
			tamper: []string{fmt.Sprintf("ALTER TABLE %s UPDATE _offset = if(_offset = %d, %d, %d) WHERE %s", db, rows[1].Offset, rows[2].Offset, rows[1].Offset,
				where(rows[1].Offset, rows[2].Offset))},
			undo: func(t *testing.T) {
				mutate(t, conn, cfg.ch.Database, fmt.Sprintf("ALTER TABLE %s UPDATE _offset = if(_offset = %d, %d, %d) WHERE %s", db, rows[1].Offset, rows[2].Offset, rows[1].Offset,
					where(rows[1].Offset, rows[2].Offset)))
			},
			kind: ledger.BreakReordered, offset: rows[1].Offset,
		},
		{
			name: "a row inserted, its hash made as the sink makes it, is reported at its offset",
			undo: func(t *testing.T) {
				mutate(t, conn, cfg.ch.Database, "ALTER TABLE "+db+" DELETE WHERE event_id = 'forged'")
			},
			kind: ledger.BreakInserted, offset: rows[3].Offset,
		},
		{
			name:   "a lead key cleared outside an erasure is unaccounted for",
			tamper: []string{"ALTER TABLE " + db + " UPDATE lead_key = '', lead_salt = '' WHERE lead_key != '' AND _topic = '" + k.Topic(pipeline.TopicAudit) + "'"},
			kind:   ledger.BreakUnaccounted, offset: -1, partial: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, stmt := range tc.tamper {
				mutate(t, conn, cfg.ch.Database, stmt)
			}
			if tc.kind == ledger.BreakInserted {
				forged := rows[3]
				forged.EventID, forged.Decision = "forged", "accepted"
				ledger.Link(&forged, ledger.Head{Offset: forged.PrevOffset, Hash: forged.Prev})
				if err := analytics.Insert(context.Background(), analytics.NewWriter(conn, cfg.ch.Database), analytics.TableDecisions, []analytics.DecisionRow{forged}); err != nil {
					t.Fatal(err)
				}
			}
			code, r := verify(t, "--public-key", pubFile)
			want := ledger.Break{Partition: int(p), Offset: tc.offset, Kind: tc.kind}
			if tc.partial {
				want.Partition = -1
			}
			if code != 3 || r.Break == nil || r.Break.Kind != want.Kind || r.Break.Partition != want.Partition || r.Break.Offset != want.Offset {
				t.Fatalf("exit %d, break %+v; want 3 and %s at partition %d, offset %d", code, r.Break, want.Kind, want.Partition, want.Offset)
			}
			if l := report(t); l.Break == nil || l.Break.Kind != want.Kind || l.Break.Partition != want.Partition || l.Break.Offset != want.Offset {
				t.Errorf("leadpipe report's ledger section says %+v, want the break verify found", l.Break)
			}
			if tc.undo == nil {
				return // the last case: nothing runs after it
			}
			tc.undo(t)
			whole(t)
		})
	}
}

// TestLedgerVerifyRefusesAnAnchorSignedWithAnotherKey: a signed anchor
// checked with the wrong public key fails, at the anchor's partition and
// offset; without a key the signatures are counted, not checked.
func TestLedgerVerifyRefusesAnAnchorSignedWithAnotherKey(t *testing.T) {
	cfg, _ := testRunConfig(t)
	dir := t.TempDir()
	keyFile, otherPub := filepath.Join(dir, "ledger.key"), filepath.Join(dir, "other.pub")
	if _, err := ledger.WriteKeys(keyFile, filepath.Join(dir, "ledger.pub")); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.WriteKeys(filepath.Join(dir, "other.key"), otherPub); err != nil {
		t.Fatal(err)
	}
	cfg.ledgerKeyFile, cfg.ledgerAnchorEvery = keyFile, 0
	runner := startStages(t, cfg, stageNames...)
	k := &cfg.kafka
	pipelinetest.Produce(t, k, pipeline.TopicLeadsRaw, readJSONL(t, "leads.jsonl")...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	args := []string{"ledger", "verify", "--format", "json", "--brokers", strings.Join(k.Brokers, ","), "--topic-prefix", k.TopicPrefix,
		"--clickhouse", cfg.ch.Addr, "--clickhouse-db", cfg.ch.Database}
	run := func(extra ...string) (int, ledger.Result) {
		var out, errs bytes.Buffer
		code := dispatch(context.Background(), append(slices.Clone(args), extra...), nil, &out, &errs)
		var r ledger.Result
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("verify exited %d: %v\n%s%s", code, err, out.String(), errs.String())
		}
		return code, r
	}
	if code, r := run(); code != 0 || r.SignaturesChecked || r.SignedAnchors == 0 {
		t.Errorf("without a key: exit %d, %+v; want 0 with the signed anchors counted, not checked", code, r)
	}
	code, r := run("--public-key", otherPub)
	if code != 3 || r.Break == nil || r.Break.Kind != ledger.BreakBadSignature {
		t.Fatalf("with another key: exit %d, break %+v; want 3 and bad_signature", code, r.Break)
	}
	anchors, err := analytics.NewConfigWriter(mustConn(t, cfg), cfg.ch).Anchors(context.Background(), k.Topic(pipeline.TopicAudit))
	if err != nil {
		t.Fatal(err)
	}
	first := slices.MinFunc(anchors, func(a, b analytics.AnchorRow) int {
		return int(a.Partition-b.Partition)*1_000_000 + int(a.Offset-b.Offset)
	})
	if r.Break.Partition != int(first.Partition) || r.Break.Offset != first.Offset {
		t.Errorf("break at partition %d, offset %d; want the first anchor's, %d and %d", r.Break.Partition, r.Break.Offset, first.Partition, first.Offset)
	}
}

// mutate runs an ALTER ... UPDATE or DELETE and waits for its mutation.
func mutate(t *testing.T, conn driver.Conn, db, stmt string) {
	t.Helper()
	ctx := context.Background()
	if err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	for range 600 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: the mutation did not finish in a minute", stmt)
}

func mustConn(t *testing.T, cfg *runConfig) driver.Conn {
	t.Helper()
	conn, err := analytics.Open(context.Background(), cfg.ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
