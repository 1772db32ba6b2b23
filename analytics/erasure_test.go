package analytics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// TestQueuedErasuresAreCarriedOutTogetherOnceTheirReceiptsAreDelivered:
// erasures queued by three batches are carried out by one ErasePending, in
// one mutation per table; a delivery that fails leaves them queued, and
// the next call carries them out again and delivers; a request
// queued twice gets one receipt; the queue is empty afterwards and holds no
// lead key.
func TestQueuedErasuresAreCarriedOutTogetherOnceTheirReceiptsAreDelivered(t *testing.T) {
	cfg, conn := pipelinetest.ClickHouse(t)
	ctx := context.Background()
	db := cfg.Database
	w := analytics.NewWriter(conn, db)
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	keys := []string{"a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2", "c3c3c3c3c3c3c3c3"}
	const kept = "f1f1f1f1f1f1f1f1"
	var rows []analytics.ClassificationRow
	for i, k := range append(keys, kept) {
		rows = append(rows, analytics.ClassificationRow{EventID: "c" + k, LeadKey: k, Decision: "accepted", OccurredAt: at.Add(time.Duration(i) * time.Minute), Version: 1})
	}
	if err := analytics.Insert(ctx, w, analytics.TableClassifications, rows); err != nil {
		t.Fatal(err)
	}
	// Three batches queue an erasure each; the first one's is read again
	// (a replay) and queued twice.
	for i, k := range append(keys, keys[0]) {
		req := analytics.ErasureRequest{LeadKey: k, KeyVersion: "k1", EventID: "erase-" + k, RequestedAt: at.Add(time.Hour)}
		if err := analytics.QueueErasures(ctx, w, []analytics.ErasureRequest{req}, at.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := analytics.QueueErasures(ctx, w, []analytics.ErasureRequest{{LeadKey: "'; DROP TABLE x"}}, at); err == nil {
		t.Error("QueueErasures took a key that is not a hex HMAC")
	}
	count := func(q string) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	mutations := func() uint64 {
		return count("SELECT count() FROM system.mutations WHERE database = '" + db + "' AND table = 'classifications'")
	}

	// A delivery that fails: the erasures, carried out in one mutation
	// per table for the three batches, stay queued.
	if _, err := analytics.ErasePending(ctx, w, at, func([]analytics.ErasureReceipt) error { return errors.New("broker away") }); err == nil {
		t.Fatal("a failed delivery was not reported")
	}
	if got := mutations(); got != 1 {
		t.Errorf("%d mutations of classifications for three queued erasures, want 1", got)
	}
	if n := count("SELECT count() FROM " + db + ".pending_erasures"); n != 4 {
		t.Fatalf("%d queued after a failed delivery, want all 4", n)
	}
	// Carried out again, and this time delivered: one receipt per request.
	var delivered []analytics.ErasureReceipt
	n, err := analytics.ErasePending(ctx, w, at, func(rs []analytics.ErasureReceipt) error {
		delivered = append(delivered, rs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || len(delivered) != 3 {
		t.Errorf("carried out %d, delivered %d receipts; want 3 and 3 (the request queued twice counts once)", n, len(delivered))
	}
	for _, r := range delivered {
		if r.Verified != 1 {
			t.Errorf("receipt %+v is not verified", r)
		}
	}
	if got := count("SELECT count() FROM " + db + ".classifications"); got != 1 {
		t.Errorf("%d classifications left, want the kept lead's 1", got)
	}
	// Off the queue once delivered (the delete is a mutation of its own).
	pipelinetest.Eventually(t, 10*time.Second, "the delivered erasures stay queued", func() bool {
		return count("SELECT count() FROM "+db+".pending_erasures") == 0
	})
}
