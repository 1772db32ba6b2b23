// Package sink decides what each record of the classified, quarantine,
// enriched and audit topics becomes in ClickHouse: the row structs of
// package analytics. Nothing here touches ClickHouse.
package sink

import (
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
)

// Classification is the classifications row of a classified or
// quarantined lead. Its occurred_at is the lead's as_of (the latest event
// time applied) and its version the lead's sequence, so that the row the
// leads table keeps (the highest version) is the same for the same events
// in any order.
func Classification(r *classify.Record, o analytics.Origin) analytics.ClassificationRow {
	at := r.AsOf.UTC()
	if at.IsZero() {
		at = r.OccurredAt.UTC()
	}
	first := r.FirstSeen.UTC()
	if first.IsZero() {
		first = at
	}
	var paid uint8
	if r.Origin.Paid {
		paid = 1
	}
	return analytics.ClassificationRow{
		EventID:                r.EventID,
		LeadKey:                r.LeadKey,
		KeyVersion:             r.KeyVersion,
		Decision:               r.Decision,
		Reason:                 r.Reason,
		Rule:                   r.Rule,
		PolicyVersion:          r.PolicyVersion,
		Channel:                r.Origin.Channel,
		Network:                r.Origin.Network,
		Paid:                   paid,
		Source:                 r.Origin.Source,
		Medium:                 r.Origin.Medium,
		Campaign:               r.Origin.Campaign,
		Country:                r.Country,
		BasisEmailMarketing:    basis(r, "email_marketing"),
		BasisSMSMarketing:      basis(r, "sms_marketing"),
		BasisPhoneMarketing:    basis(r, "phone_marketing"),
		BasisProfiling:         basis(r, "profiling"),
		BasisThirdPartySharing: basis(r, "third_party_sharing"),
		BasisSalesFollowup:     basis(r, "sales_followup"),
		FirstSeen:              first,
		OccurredAt:             at,
		Version:                r.Seq,
		Origin:                 o,
	}
}

func basis(r *classify.Record, purpose string) string {
	if p := r.Purposes.Get(purpose); p != nil && p.Basis != "" {
		return p.Basis
	}
	return "none"
}

// Behavior is the behavior_events row of an enriched event.
func Behavior(e *enrich.Event, o analytics.Origin) analytics.BehaviorRow {
	return analytics.BehaviorRow{
		EventID:    e.EventID,
		OccurredAt: e.OccurredAt.UTC(),
		Action:     e.Action,
		Channel:    e.Channel,
		Decision:   e.Decision,
		LeadKey:    e.LeadKey,
		KeyVersion: e.KeyVersion,
		VisitorKey: e.VisitorKey,
		ProductID:  e.ProductID,
		Category:   e.Category,
		Value:      e.Value,
		Currency:   e.Currency,

		Analytics: flag(e.Analytics), AnalyticsSignal: e.AnalyticsSignal,
		Profiling: flag(e.Profiling), ProfilingSignal: e.ProfilingSignal,
		Origin: o,
	}
}

func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Decision is the decisions row of an audit record.
func Decision(a *classify.Audit, o analytics.Origin) analytics.DecisionRow {
	proofs := make([]string, 0, len(a.ConsentProofs))
	for _, p := range a.ConsentProofs {
		ref := p.ProofRef
		if ref == "" {
			ref = p.TextVersion
		}
		proofs = append(proofs, p.Purpose+": "+ref)
	}
	ignored := make([]string, 0, len(a.IgnoredConsents))
	for _, ic := range a.IgnoredConsents {
		ignored = append(ignored, ic.Purpose+": "+ic.Why)
	}
	at := a.At.UTC()
	if at.IsZero() {
		at = time.Unix(0, 0).UTC()
	}
	eventAt := a.OccurredAt.UTC()
	if a.OccurredAt.IsZero() {
		eventAt = at // a record written before audit records carried the event's time
	}
	return analytics.DecisionRow{
		EventID:         a.EventID,
		EventType:       a.EventType,
		LeadKey:         a.LeadKey,
		KeyVersion:      a.KeyVersion,
		Decision:        a.Decision,
		Reason:          a.Reason,
		Rule:            a.Rule,
		PolicyVersion:   a.PolicyVersion,
		InputSHA256:     a.InputSHA256,
		ConsentProofs:   proofs,
		IgnoredConsents: ignored,
		At:              at,
		EventAt:         eventAt,
		Origin:          o,
	}
}

// ReceiptAudit is an erasure receipt as a record of leadpipe.audit: an
// audit record (event_type erasure_receipt, no lead key) that lands in
// decisions like any other, with the receipt in full beside it.
type ReceiptAudit struct {
	classify.Audit
	Receipt *analytics.ErasureReceipt `json:"receipt"`
}

// Receipt is the audit record of an erasure receipt. Its event id is the
// request's with "/receipt": one receipt per request and lead lands once.
func Receipt(r *analytics.ErasureReceipt) ReceiptAudit {
	why := "erasure carried out (Art. 17); rows left by the key: none"
	if r.Verified == 0 {
		why = "erasure carried out (Art. 17); rows are left by the key: see erasure_receipts"
	}
	return ReceiptAudit{
		Audit: classify.Audit{
			EventID: r.RequestEventID + "/receipt/" + r.ErasureID[:16], EventType: "erasure_receipt", KeyVersion: r.KeyVersion,
			Decision: classify.DecisionErased, Reason: why, Rule: classify.RuleErased,
			ConsentProofs: []classify.ConsentProof{}, IgnoredConsents: []classify.IgnoredConsent{}, At: r.CompletedAt,
			OccurredAt: r.RequestedAt,
		},
		Receipt: r,
	}
}
