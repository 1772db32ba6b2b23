package classify

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// State is everything the classifier remembers between events, kept by
// event time so that the order in which events arrive does not matter: per
// lead, the facts of its lead events, its consent statements, its own
// suppressions and the event ids it has applied; per email key, the best
// suppression made under it and the leads that used it.
//
// It holds no email, phone, name or birth date: leads are keyed by their
// lead key, emails by their email key (pseudonym.Keyer), and a lead's
// facts are the few the policy needs (origin, country, age band,
// relationship, request). It holds the raw lead id, as every leadpipe
// topic does in its key, so that classify can emit a record for a lead that
// another lead's objection suppresses; an erasure removes it.
//
// State is not safe for concurrent use. Its changelog keys are
// "lead:<lead key>" and "email:<email key>".
type State struct {
	leads  map[string]*leadState
	emails map[string]*emailState

	// streamTime is the latest occurred_at of the events Expire was given
	// (after a restore, the latest as_of of the leads); expiry holds the
	// quarantined leads by the start of their quarantine. Neither is in
	// the changelog: both follow from what is.
	streamTime time.Time
	expiry     expiryHeap
}

const (
	leadPrefix  = "lead:"
	emailPrefix = "email:"
)

// The bounds of what State keeps per lead and per email key. Past them the
// oldest entries are forgotten: a lead with more than maxFacts lead events
// is judged on its latest ones (its first_seen is kept apart), an event id
// older than the last maxEvents of its lead is no longer recognised as a
// duplicate. Ordinary leads stay far below them.
const (
	maxFacts      = 8
	maxStatements = 48
	// statementSlack: a lead past maxStatements statements forgets down to
	// maxStatements-statementSlack at once (the timeline is recomputed
	// once for them: rules.go).
	statementSlack = 8
	maxEvents      = 64
	maxEmailKeys   = 16
	maxEmailLeads  = 64
)

// NewState returns an empty State.
func NewState() *State {
	return &State{leads: map[string]*leadState{}, emails: map[string]*emailState{}}
}

// Len is the number of keys in the state.
func (s *State) Len() int { return len(s.leads) + len(s.emails) }

// Encode returns the current value of one state key for a compacted
// changelog topic, in the binary form of statecodec.go; ok=false means the
// key is gone (write a tombstone).
func (s *State) Encode(key string) (value []byte, ok bool) {
	if k, found := strings.CutPrefix(key, leadPrefix); found {
		ls := s.leads[k]
		if ls == nil {
			return nil, false
		}
		return encodeLead(ls), true
	}
	if k, found := strings.CutPrefix(key, emailPrefix); found {
		es := s.emails[k]
		if es == nil {
			return nil, false
		}
		return encodeEmail(es), true
	}
	return nil, false
}

// Restore applies one changelog record; a nil value deletes the key. It
// reads the binary values of Encode and the JSON values that leadpipe
// wrote before them (a changelog of an earlier version restores).
// Restoring every Encode'd key into a NewState gives an equivalent State.
func (s *State) Restore(key string, value []byte) error {
	if k, found := strings.CutPrefix(key, leadPrefix); found {
		if value == nil {
			delete(s.leads, k)
			return nil
		}
		ls, err := decodeValue(value, decodeLead)
		if err == nil && slices.Contains(ls.Facts, nil) {
			err = errors.New("facts holds a null") // only JSON can say so
		}
		if err != nil {
			return fmt.Errorf("restore state key %s: %w", key, err)
		}
		s.leads[k] = ls
		if ls.AsOf.After(s.streamTime) {
			s.streamTime = ls.AsOf
		}
		if ls.QuarantinedSince != 0 {
			s.expiry.add(ls.QuarantinedSince, k)
		}
		return nil
	}
	if k, found := strings.CutPrefix(key, emailPrefix); found {
		if value == nil {
			delete(s.emails, k)
			return nil
		}
		es, err := decodeValue(value, decodeEmail)
		if err != nil {
			return fmt.Errorf("restore state key %s: %w", key, err)
		}
		s.emails[k] = es
		return nil
	}
	return fmt.Errorf("restore state key %q: not a lead: or email: key", key)
}

// decodeValue reads a state value: JSON, as leadpipe wrote it before the
// binary form (it begins with '{'), or the binary form.
func decodeValue[T any](value []byte, binary func([]byte) (*T, error)) (*T, error) {
	if len(value) > 0 && value[0] == '{' {
		v := new(T)
		if err := json.Unmarshal(value, v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return binary(value)
}

// leadState is the history of one lead: what its events said, each kept
// by its event time. Decisions are computed from it (view, verdictOf), never
// stored as facts of their own.
type leadState struct {
	// LeadID is the raw lead id, the key of the lead's records; "" once
	// the lead is erased.
	LeadID string `json:"lead_id,omitempty"`
	// Seq grows by one with every change of the lead's state; every record
	// carries it, so the last record of a lead is the one with the highest.
	Seq uint64 `json:"seq"`
	// AsOf is the latest occurred_at of the events applied.
	AsOf time.Time `json:"as_of,omitzero"`
	// FirstSeen is the earliest occurred_at of the lead's lead events.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// Facts are the policy-relevant facts of each lead event, ordered by
	// (occurred_at, event_id); the latest maxFacts. Empty after an erasure.
	Facts []*facts `json:"facts,omitempty"`
	// Statements are the consent statements that count, of lead and
	// consent events, ordered by rank (statement.compare).
	Statements []statement `json:"statements,omitempty"`
	// Suppressions are the lead's own objections, withdrawals of "all" and
	// erasure requests.
	Suppressions []suppression `json:"suppressions,omitempty"`
	// EmailKeys are the email keys the lead has used, sorted.
	EmailKeys []string `json:"email_keys,omitempty"`
	// EmailSups are, per email key, the suppressions of the other leads
	// that used it (LeadSuppress notices).
	EmailSups map[string]sups `json:"email_sups,omitempty"`
	// Events are the events applied, for idempotence: the latest maxEvents.
	Events []seenEvent `json:"events,omitempty"`
	// Decision and Rule are those of the last record emitted; Quarantined
	// tells that it went to leads.quarantine.
	Decision    string `json:"decision,omitempty"`
	Rule        string `json:"rule,omitempty"`
	Quarantined bool   `json:"quarantined,omitempty"`
	// QuarantinedSince is when, in event time, its current quarantine
	// began (Unix seconds: the start of the timeline's last quarantined
	// stretch); 0 when it is not quarantined.
	QuarantinedSince int64 `json:"quarantined_since,omitempty"`

	// tl is the lead's timeline as last computed (rules.go), not in the
	// changelog: nil until computed, and whenever a change other than a
	// later statement makes it stale.
	tl *timelineCache
}

// seenEvent is an event applied to a lead: its id and a digest of its
// bytes, to tell a duplicate from an event id reused for other content.
type seenEvent struct {
	ID     string      `json:"id"`
	Digest eventDigest `json:"sha256"`
}

// eventDigest is the hex SHA-256 of an event's bytes (engine.go, digest),
// held as its 32 bytes: the changelog writes them as they are, with no
// hex to decode per value. Text that is not 64 lowercase hex digits (only
// a corrupted changelog value could hold it) is held as it is. In JSON it
// is the hex text, as before.
type eventDigest struct {
	sum  [32]byte
	text string // when isText
	// isText tells that the digest is text, not a SHA-256 in hex.
	isText bool
}

func digestOf(s string) eventDigest {
	var d eventDigest
	if len(s) == 2*len(d.sum) && lowerHexDecode(d.sum[:], s) {
		return d
	}
	return eventDigest{text: s, isText: true}
}

// String is the digest's text: the lowercase hex of the SHA-256.
func (d eventDigest) String() string {
	if d.isText {
		return d.text
	}
	return hex.EncodeToString(d.sum[:])
}

func (d eventDigest) MarshalJSON() ([]byte, error) {
	if d.isText {
		return json.Marshal(d.text)
	}
	b := make([]byte, 0, 2+2*len(d.sum))
	b = append(b, '"')
	b = hex.AppendEncode(b, d.sum[:])
	return append(b, '"'), nil
}

func (d *eventDigest) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = digestOf(s)
	return nil
}

// emailState is what classify keeps of one email key: the own suppressions
// of the leads that used it, the earliest objection (or withdrawal of
// "all") and the earliest erasure, and those leads. Both suppressions are
// kept, not only the best, so that the suppression in force at any time
// can be told (a lead's timeline).
type emailState struct {
	Objection *suppression `json:"objection,omitempty"`
	Erasure   *suppression `json:"erasure,omitempty"`
	// Leads are the leads that used the email key, by lead key; at most
	// maxEmailLeads. Their lead ids route the notices back to them.
	Leads []emailLead `json:"leads,omitempty"`
}

// suppression is an entry of the suppression list.
type suppression struct {
	// Reason is "objection" or "erasure".
	Reason string `json:"reason"`
	// Rule is the rule that put the entry there.
	Rule string `json:"rule"`
	// EventID is the consent event that did.
	EventID string `json:"event_id"`
	// At is when that event occurred.
	At time.Time `json:"at"`
}

// outranks reports whether a is the suppression to show rather than b: an
// erasure before an objection, then the earliest, then the smallest event
// id. The order is total, so the choice does not depend on arrival order.
func (a *suppression) outranks(b *suppression) bool {
	if b == nil {
		return true
	}
	if (a.Reason == ReasonErasure) != (b.Reason == ReasonErasure) {
		return a.Reason == ReasonErasure
	}
	if c := a.At.Compare(b.At); c != 0 {
		return c < 0
	}
	return a.EventID < b.EventID
}

// facts are what the policy needs of a lead event.
type facts struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	Origin     Origin    `json:"origin"`
	OriginStep string    `json:"origin_step"`
	OriginWhy  string    `json:"origin_why"`
	Country    string    `json:"country,omitempty"`
	// Age is the lead's age at OccurredAt; -1 when birth_date is unknown.
	Age      int `json:"age"`
	AgeLimit int `json:"age_limit"`
	// Parental is why parental_consent counts, or "" when it does not.
	Parental    string `json:"parental,omitempty"`
	ParentalWhy string `json:"parental_why,omitempty"`
	// ThirdParty names the supplier or partner field given, if any.
	ThirdParty string `json:"third_party,omitempty"`
	SoftOptIn  bool   `json:"soft_opt_in,omitempty"`
	// PhoneIT tells that the contact's phone number is Italian (+39):
	// the RPO applies to it.
	PhoneIT bool   `json:"phone_it,omitempty"`
	Request string `json:"request,omitempty"`
}

func (f *facts) minorWithoutParent() bool {
	return f != nil && f.Age >= 0 && f.Age < f.AgeLimit && f.Parental == ""
}

// compareFacts orders lead events: by occurred_at, then by event id.
func compareFacts(a, b *facts) int {
	if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
		return c
	}
	return cmp.Compare(a.EventID, b.EventID)
}

// statement is one consent statement about one purpose.
type statement struct {
	Purpose string    `json:"purpose"`
	At      time.Time `json:"at"`
	// Status is granted, denied or withdrawn.
	Status          string `json:"status"`
	EventID         string `json:"event_id"`
	Index           int    `json:"index,omitempty"` // 1 + the index in consents[] of a lead event; 0 for a consent event
	ProofRef        string `json:"proof_ref,omitempty"`
	TextVersion     string `json:"text_version,omitempty"`
	CollectionPoint string `json:"collection_point,omitempty"`
}

func (s *statement) granted() bool { return s.Status == "granted" }

// compare orders statements by rank; the standing statement of a purpose
// is the highest. The later wins; at equal times a denial or withdrawal
// wins over a grant; then the larger event id and index, so that the order
// is total and the standing statement does not depend on arrival order.
func (s *statement) compare(o *statement) int {
	if c := s.At.Compare(o.At); c != 0 {
		return c
	}
	if s.granted() != o.granted() {
		if s.granted() {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(s.EventID, o.EventID); c != 0 {
		return c
	}
	return cmp.Compare(s.Index, o.Index)
}

// addStatement inserts s in rank order, once.
func (ls *leadState) addStatement(s statement) {
	i, found := slices.BinarySearchFunc(ls.Statements, &s, func(e statement, t *statement) int {
		if c := e.compare(t); c != 0 {
			return c
		}
		return cmp.Compare(e.Purpose, t.Purpose)
	})
	if found {
		return
	}
	ls.Statements = slices.Insert(ls.Statements, i, s)
	switch {
	case len(ls.Statements) > maxStatements:
		// Forgetting a statement changes the timeline's past: forget
		// statementSlack of them at once, and recompute it once for them.
		ls.Statements = slices.Delete(ls.Statements, 0, len(ls.Statements)-(maxStatements-statementSlack))
		ls.tl = nil
	case ls.tl != nil && s.At.After(ls.tl.last):
		ls.tl.pending = append(ls.tl.pending, s) // extends the timeline (rules.go)
	default:
		ls.tl = nil
	}
}

// addFacts inserts f in event order, once.
func (ls *leadState) addFacts(f *facts) {
	i, found := slices.BinarySearchFunc(ls.Facts, f, compareFacts)
	if found {
		return
	}
	ls.Facts = slices.Insert(ls.Facts, i, f)
	ls.tl = nil
	if len(ls.Facts) > maxFacts {
		ls.Facts = slices.Delete(ls.Facts, 0, len(ls.Facts)-maxFacts)
	}
}

// addSuppression records one of the lead's own suppressions, once.
func (ls *leadState) addSuppression(s suppression) {
	for _, x := range ls.Suppressions {
		if x.EventID == s.EventID && x.Rule == s.Rule {
			return
		}
	}
	ls.Suppressions = append(ls.Suppressions, s)
	ls.tl = nil
}

// ownSuppression is the best of the lead's own suppressions at or before
// t (any time when t is zero), or nil.
func (ls *leadState) ownSuppression(t time.Time) *suppression {
	var best *suppression
	for i := range ls.Suppressions {
		s := &ls.Suppressions[i]
		if !t.IsZero() && s.At.After(t) {
			continue
		}
		if s.outranks(best) {
			best = s
		}
	}
	return best
}

// erasure is the lead's own erasure request, or nil.
func (ls *leadState) erasure() *suppression {
	if s := ls.ownSuppression(time.Time{}); s != nil && s.Reason == ReasonErasure {
		return s
	}
	return nil
}

// addEmailKey records that the lead used an email key; it reports whether
// the key is new to the lead.
func (ls *leadState) addEmailKey(k string) bool {
	i, found := slices.BinarySearch(ls.EmailKeys, k)
	if found {
		return false
	}
	ls.EmailKeys = slices.Insert(ls.EmailKeys, i, k)
	ls.tl = nil
	if len(ls.EmailKeys) > maxEmailKeys {
		ls.EmailKeys = ls.EmailKeys[1:]
	}
	return true
}

// seen returns the digest an event id was applied with, if it was.
func (ls *leadState) seen(id string) (digest string, ok bool) {
	for _, e := range ls.Events {
		if e.ID == id {
			return e.Digest.String(), true
		}
	}
	return "", false
}

func (ls *leadState) remember(id, digest string) {
	ls.Events = append(ls.Events, seenEvent{ID: id, Digest: digestOf(digest)})
	if len(ls.Events) > maxEvents {
		ls.Events = slices.Delete(ls.Events, 0, len(ls.Events)-maxEvents)
	}
}
