package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
)

const eraseSynopsis = `Usage: leadpipe erase [flags] LEAD_ID --proof-ref REF

Requests the erasure of a lead (GDPR Art. 17) that reached the controller
by another route than the consent feed (a letter, a call, a support
ticket): it writes an erase consent event for the lead to consents.raw,
with --proof-ref naming where the request is kept. Classify erases the
lead, and every lead under its email addresses and phone number is
suppressed; the sink deletes its rows from ClickHouse and records a
verified receipt.

It prints the request as JSON. With --wait it then waits for classify to
decide and for the sink's receipt, and prints the receipt. A lead classify
has not seen is erased all the same, with a receipt, and stays erased when
its lead events arrive. Exit status: 0 when written (and, with --wait, answered), 1 when
Kafka or ClickHouse fails or --timeout passes, 2 on bad usage.

Example:
  leadpipe erase --brokers kafka:9092 --clickhouse clickhouse:9000 \
      --hmac-key-file /run/secrets/hmac --proof-ref ticket-4711 --wait L-0042`

// erasureRequest is what leadpipe erase prints first.
type erasureRequest struct {
	EventID     string    `json:"event_id"`
	LeadKey     string    `json:"lead_key"`
	ErasureID   string    `json:"erasure_id"`
	RequestedAt time.Time `json:"requested_at"`
	ProofRef    string    `json:"proof_ref"`
}

func cmdErase(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var f subjectFlags
	fs := newFlagSet("erase", eraseSynopsis, stdout, stderr)
	f.register(fs)
	proofRef := fs.String("proof-ref", "", "where the erasure request is kept (ticket, letter, recording id): required")
	method := fs.String("method", "erasure_request", "how the request was made (letter, phone, email_request, ...)")
	collectionPoint := fs.String("collection-point", "", "where the request was received")
	eventID := fs.String("event-id", "", "event id of the erase event (default: erase- and 16 random hex digits); the same id twice is one request")
	wait := fs.Bool("wait", false, "wait for the erasure receipt and print it")
	timeout := fs.Duration("timeout", 5*time.Minute, "longest --wait waits")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "leadpipe erase: "+format+"\n", a...)
		return code
	}
	if fs.NArg() != 1 {
		return fail(2, "give one lead id (see --help)")
	}
	if *proofRef == "" {
		return fail(2, "--proof-ref is required: the controller must be able to show the request (Art. 5(2))")
	}
	if err := f.validate(); err != nil {
		return fail(2, "%v", err)
	}
	keyer, err := f.keys.keyer()
	if err != nil {
		return fail(2, "%v", err)
	}
	if *eventID == "" {
		var b [8]byte
		rand.Read(b[:])
		*eventID = "erase-" + hex.EncodeToString(b[:])
	}
	now := time.Now().UTC().Truncate(time.Second)
	ev := schemas.Consent{
		Type: schemas.TypeConsent, ID: *eventID, OccurredAt: now, Lead: fs.Arg(0),
		Purpose: schemas.PurposeAll, Action: "erase", Method: *method, CollectionPoint: *collectionPoint, ProofRef: *proofRef,
	}
	value, err := json.Marshal(&ev)
	if err == nil {
		// The event goes through classify's own checks before it is written.
		_, err = schemas.DecodeConsent(value, schemas.DefaultLimits())
	}
	if err != nil {
		return fail(2, "the erase event is not valid: %v", err)
	}
	req := erasureRequest{EventID: ev.ID, LeadKey: keyer.LeadKey(ev.Lead), RequestedAt: now, ProofRef: ev.ProofRef}
	req.ErasureID = analytics.ErasureID(req.LeadKey)

	cfg := &f.kafka
	audit := cfg.Topic(pipeline.TopicAudit)
	auditPart, err := pipeline.KeyPartition(ctx, cfg, audit, []byte(ev.Lead))
	var from int64
	if err == nil {
		from, err = pipeline.EndOffset(ctx, cfg, audit, auditPart) // classify's decision comes after
	}
	if err != nil {
		return fail(1, "%v", err)
	}
	w := pipeline.NewWriter(cfg)
	err = w.WriteMessages(ctx, kafka.Message{Topic: cfg.Topic(pipeline.TopicConsentsRaw), Key: []byte(ev.Lead), Value: value, Time: now})
	w.Close()
	if err != nil {
		return fail(1, "write the erase event: %v", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.Encode(&req)
	if !*wait {
		return 0
	}

	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	decision, err := awaitDecision(wctx, cfg, audit, auditPart, from, ev.Lead, ev.ID)
	if err != nil {
		return fail(1, "waiting for classify to decide on %s: %v (is classify running?)", ev.ID, err)
	}
	if decision != classify.DecisionErased {
		return fail(1, "classify decided %s on %s, not erased", decision, ev.ID)
	}
	conn, err := analytics.Open(wctx, f.ch)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer conn.Close()
	for {
		receipts, err := analytics.Receipts(wctx, analytics.NewConfigWriter(conn, f.ch), req.ErasureID)
		if err != nil && wctx.Err() == nil {
			return fail(1, "%v", err)
		}
		if len(receipts) > 0 {
			r := receipts[0]
			if r.RequestEventID != ev.ID {
				fmt.Fprintf(stderr, "leadpipe erase: the lead was erased before, by request %s; its receipt:\n", r.RequestEventID)
			}
			enc.Encode(&r)
			return 0
		}
		select {
		case <-wctx.Done():
			return fail(1, "no erasure receipt within %v (is the sink running?)", *timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// awaitDecision reads partition p of leadpipe.audit from offset from until
// the audit record of event eventID of lead id, and returns its decision.
func awaitDecision(ctx context.Context, cfg *pipeline.Config, topic string, p int, from int64, id, eventID string) (string, error) {
	var decision string
	err := pipeline.ReadPartition(ctx, cfg, topic, p, from, func(m *kafka.Message) (bool, error) {
		if string(m.Key) != id {
			return false, nil
		}
		var a classify.Audit
		if json.Unmarshal(m.Value, &a) != nil || a.EventID != eventID {
			return false, nil
		}
		decision = a.Decision
		return true, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.New("timed out")
	}
	return decision, err
}
