package analytics

import "time"

// The row structs mirror the tables of migrations/ column for column; the
// ch tags are the column names, and the column lists of the INSERTs are
// built from them.

// ClassificationRow is a row of classifications.
type ClassificationRow struct {
	EventID                string    `ch:"event_id"`
	LeadKey                string    `ch:"lead_key"`
	KeyVersion             string    `ch:"key_version"`
	Decision               string    `ch:"decision"`
	Reason                 string    `ch:"reason"`
	Rule                   string    `ch:"rule"`
	PolicyVersion          string    `ch:"policy_version"`
	Channel                string    `ch:"channel"`
	Network                string    `ch:"network"`
	Paid                   uint8     `ch:"paid"`
	Source                 string    `ch:"source"`
	Medium                 string    `ch:"medium"`
	Campaign               string    `ch:"campaign"`
	Country                string    `ch:"country"`
	BasisEmailMarketing    string    `ch:"basis_email_marketing"`
	BasisSMSMarketing      string    `ch:"basis_sms_marketing"`
	BasisPhoneMarketing    string    `ch:"basis_phone_marketing"`
	BasisProfiling         string    `ch:"basis_profiling"`
	BasisThirdPartySharing string    `ch:"basis_third_party_sharing"`
	BasisSalesFollowup     string    `ch:"basis_sales_followup"`
	FirstSeen              time.Time `ch:"first_seen"`
	OccurredAt             time.Time `ch:"occurred_at"`
	Version                uint64    `ch:"version"`
	Origin
}

// BehaviorRow is a row of behavior_events.
type BehaviorRow struct {
	EventID    string    `ch:"event_id"`
	OccurredAt time.Time `ch:"occurred_at"`
	Action     string    `ch:"action"`
	Channel    string    `ch:"channel"`
	Decision   string    `ch:"decision"`
	LeadKey    string    `ch:"lead_key"`
	KeyVersion string    `ch:"key_version"`
	VisitorKey string    `ch:"visitor_key"`
	ProductID  string    `ch:"product_id"`
	Category   string    `ch:"category"`
	Value      float64   `ch:"value"`
	Currency   string    `ch:"currency"`
	// What the visitor's consent signals allowed (migration 0009).
	Analytics       uint8  `ch:"analytics"`
	AnalyticsSignal string `ch:"analytics_signal"`
	Profiling       uint8  `ch:"profiling"`
	ProfilingSignal string `ch:"profiling_signal"`
	Origin
}

// DecisionRow is a row of decisions, the audit trail.
type DecisionRow struct {
	EventID         string    `ch:"event_id"`
	EventType       string    `ch:"event_type"`
	LeadKey         string    `ch:"lead_key"`
	KeyVersion      string    `ch:"key_version"`
	Decision        string    `ch:"decision"`
	Reason          string    `ch:"reason"`
	Rule            string    `ch:"rule"`
	PolicyVersion   string    `ch:"policy_version"`
	InputSHA256     string    `ch:"input_sha256"`
	ConsentProofs   []string  `ch:"consent_proofs"`
	IgnoredConsents []string  `ch:"ignored_consents"`
	At              time.Time `ch:"at"`
	// EventAt is the time of the event decided on (its entry in
	// decisions_landed); not a column of decisions.
	EventAt time.Time `ch:"-"`
	Origin
	Ledger
}

// Ledger are a decisions row's columns of the decision ledger (migration
// 0011, package ledger): the digest of its lead key under a random salt,
// and its link in its audit partition's hash chain.
type Ledger struct {
	// LeadDigest is SHA-256 over LeadSalt and the lead key, hex; "" for a
	// row landed without a key. It stays when an erasure clears the key
	// and the salt.
	LeadDigest string `ch:"lead_digest"`
	LeadSalt   string `ch:"lead_salt"`
	// PrevOffset and Prev are the offset and hash of the previous row of
	// the partition's chain (-1 and "" for its first); Hash is this row's.
	PrevOffset int64  `ch:"ledger_prev_offset"`
	Prev       string `ch:"ledger_prev"`
	Hash       string `ch:"ledger_hash"`
}

// AnchorRow is a row of ledger_anchors: the head of an audit partition's
// chain (the row at Offset has hash Head) at a time, signed or not.
type AnchorRow struct {
	Origin
	Head      string    `ch:"head"`
	At        time.Time `ch:"at"`
	KeyID     string    `ch:"key_id"`
	Signature string    `ch:"signature"`
}

// DecisionLandedRow is a row of decisions_landed: the event of a
// decisions row, by its time (Writer.LandedEvents).
type DecisionLandedRow struct {
	OccurredAt time.Time `ch:"occurred_at"`
	EventID    string    `ch:"event_id"`
}

// Origin is where a row came from in Kafka: the sink reads back the exact
// set of offsets that landed (Writer.Landed) to skip records that already
// landed.
type Origin struct {
	Topic     string `ch:"_topic"`
	Partition int32  `ch:"_partition"`
	Offset    int64  `ch:"_offset"`
}
