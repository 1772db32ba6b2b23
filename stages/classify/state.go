package classify

import (
	"fmt"
	json "github.com/goccy/go-json"
	"strings"
	"time"
)

// State is everything the classifier remembers between events: per lead,
// the facts of its latest lead event, its consent ledger and whether it is
// suppressed; and the suppression list of email keys. It holds no personal
// data in the clear: leads are keyed by their lead key, emails by their
// email key (pseudonym.Keyer), and a lead's facts are the few the policy
// needs (origin, country, age band, relationship, request), never a name,
// an email or a phone number.
//
// State is not safe for concurrent use; the classify stage keeps one per
// process, behind a mutex (pipeline/classify_stage.go).
// Its keys are "lead:<lead key>" and "email:<email key>".
type State struct {
	leads  map[string]*leadState
	emails map[string]*suppression
}

const (
	leadPrefix  = "lead:"
	emailPrefix = "email:"
)

// NewState returns an empty State.
func NewState() *State {
	return &State{leads: map[string]*leadState{}, emails: map[string]*suppression{}}
}

// Len is the number of keys in the state.
func (s *State) Len() int { return len(s.leads) + len(s.emails) }

// Encode returns the current value of one state key for a compacted
// changelog topic; ok=false means the key is gone (write a tombstone).
func (s *State) Encode(key string) (value []byte, ok bool) {
	var v any
	if k, found := strings.CutPrefix(key, leadPrefix); found {
		ls := s.leads[k]
		if ls == nil {
			return nil, false
		}
		v = ls
	} else if k, found := strings.CutPrefix(key, emailPrefix); found {
		sup := s.emails[k]
		if sup == nil {
			return nil, false
		}
		v = sup
	} else {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false // cannot happen: the state holds only strings, times and bools
	}
	return b, true
}

// Restore applies one changelog record; a nil value deletes the key.
// Restoring every Encode'd key into a NewState gives an equivalent State.
func (s *State) Restore(key string, value []byte) error {
	if k, found := strings.CutPrefix(key, leadPrefix); found {
		if value == nil {
			delete(s.leads, k)
			return nil
		}
		ls := new(leadState)
		if err := json.Unmarshal(value, ls); err != nil {
			return fmt.Errorf("restore state key %s: %w", key, err)
		}
		s.leads[k] = ls
		return nil
	}
	if k, found := strings.CutPrefix(key, emailPrefix); found {
		if value == nil {
			delete(s.emails, k)
			return nil
		}
		sup := new(suppression)
		if err := json.Unmarshal(value, sup); err != nil {
			return fmt.Errorf("restore state key %s: %w", key, err)
		}
		s.emails[k] = sup
		return nil
	}
	return fmt.Errorf("restore state key %q: not a lead: or email: key", key)
}

// leadState is what the classifier keeps of one lead.
type leadState struct {
	// FirstSeen is the occurred_at of the lead's first lead event.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// Facts are the policy-relevant facts of the latest lead event; nil
	// before the first lead event and after an erasure.
	Facts *facts `json:"facts,omitempty"`
	// Ledger is the standing consent statement per purpose.
	Ledger map[string]statement `json:"ledger,omitempty"`
	// Suppressed is the lead's entry on the suppression list; nil when it
	// is not there.
	Suppressed *suppression `json:"suppressed,omitempty"`
	// EmailKeys are the email keys the lead has used, so that a later
	// objection or erasure suppresses each of them.
	EmailKeys []string `json:"email_keys,omitempty"`
	// Decision and Rule are the latest classification of the lead.
	Decision string `json:"decision,omitempty"`
	Rule     string `json:"rule,omitempty"`
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
	Request    string `json:"request,omitempty"`
}

func (f *facts) minorWithoutParent() bool {
	return f.Age >= 0 && f.Age < f.AgeLimit && f.Parental == ""
}

// statement is the standing consent statement of one purpose.
type statement struct {
	At time.Time `json:"at"`
	// Status is granted, denied, withdrawn or objected.
	Status          string `json:"status"`
	EventID         string `json:"event_id"`
	Index           int    `json:"index,omitempty"` // 1 + the index in consents[] of a lead event
	ProofRef        string `json:"proof_ref,omitempty"`
	TextVersion     string `json:"text_version,omitempty"`
	CollectionPoint string `json:"collection_point,omitempty"`
}

func (s statement) granted() bool { return s.Status == "granted" }

// replaces reports whether s replaces cur as the standing statement: the
// later one wins, and at equal times a denial, withdrawal or objection.
func (s statement) replaces(cur statement, ok bool) bool {
	switch {
	case !ok || s.At.After(cur.At):
		return true
	case s.At.Before(cur.At):
		return false
	}
	return !s.granted() || cur.granted()
}
