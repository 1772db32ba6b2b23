// Package pseudonym turns identifiers into keyed, pseudonymous keys.
//
// Every key that leaves the classify stage for analytics (the lead key, the
// email key of the suppression list, the visitor key) is an HMAC-SHA256 under
// a secret key, never a plain hash: a plain hash of an email is reversed by
// hashing a list of candidate emails. The key's version travels beside each
// pseudonymous key so that keys can rotate (GDPR Art. 4(5), Art. 32).
package pseudonym

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
	"sync"
	"time"
)

// DevelopmentKey is the fixed key of the demo and the tests. It is public, so
// it protects nothing: production sets --hmac-key-file or LEADPIPE_HMAC_KEY.
const DevelopmentKey = "leadpipe-development-key-not-secret"

// MinKeyBytes is the shortest secret accepted outside development.
const MinKeyBytes = 16

// Keyer computes keyed pseudonyms. It is safe for concurrent use.
type Keyer struct {
	version  string
	pool     sync.Pool // of *keying
	previous []*Keyer  // the keys this one replaced, newest first
}

// keying is one HMAC and buffers for its input and sum, reused through the
// pool.
type keying struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// New returns a Keyer for secret, labelled with version (for example "k1").
func New(secret []byte, version string) (*Keyer, error) {
	if len(secret) < MinKeyBytes {
		return nil, fmt.Errorf("hmac key: %d bytes is too short, use at least %d random bytes", len(secret), MinKeyBytes)
	}
	if version == "" {
		return nil, errors.New("hmac key: the key version must not be empty")
	}
	s := append([]byte(nil), secret...)
	k := &Keyer{version: version}
	k.pool.New = func() any { return &keying{mac: hmac.New(sha256.New, s)} }
	return k, nil
}

// Development returns the Keyer of the demo and the tests.
func Development() *Keyer {
	k, _ := New([]byte(DevelopmentKey), "dev")
	return k
}

// Load reads the secret from file when file is set, else from the value of
// the environment variable env. Surrounding whitespace is trimmed. It
// returns an error that says where it looked when neither gives a key.
func Load(file, env, version string) (*Keyer, error) {
	var secret string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("hmac key: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	case os.Getenv(env) != "":
		secret = strings.TrimSpace(os.Getenv(env))
	default:
		return nil, fmt.Errorf("hmac key: none given; set --hmac-key-file or %s (or --dev-key for a public development key)", env)
	}
	return New([]byte(secret), version)
}

// Rotated records the keys k replaced, newest first, and returns k: the
// suppression list matches contact keys of every version, and a lead's
// state kept under its key of an older version moves to its current key
// when the lead is next seen (stages/classify). Call it once, before use.
func (k *Keyer) Rotated(previous ...*Keyer) *Keyer {
	k.previous = previous
	return k
}

// Previous returns the keys k replaced, newest first.
func (k *Keyer) Previous() []*Keyer { return k.previous }

// Version is the label of the secret, stored beside every key.
func (k *Keyer) Version() string { return k.version }

// Key returns the hex HMAC-SHA256 of s under the secret, domain-separated by
// kind ("lead", "email", "visitor") so that equal strings of different kinds
// never share a key.
func (k *Keyer) Key(kind, s string) string {
	kg := k.pool.Get().(*keying)
	kg.in = append(append(append(kg.in[:0], kind...), 0), s...)
	kg.mac.Reset()
	kg.mac.Write(kg.in)
	kg.mac.Sum(kg.sum[:0])
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], kg.sum[:])
	k.pool.Put(kg)
	return string(out[:])
}

// LeadKey is the pseudonymous key of a lead id.
func (k *Keyer) LeadKey(leadID string) string { return k.Key("lead", leadID) }

// EmailKey is the pseudonymous key of an email, normalised by trimming and
// lower-casing, as the suppression list stores it.
func (k *Keyer) EmailKey(email string) string {
	return k.Key("email", strings.ToLower(strings.TrimSpace(email)))
}

// PhoneKey is the pseudonymous key of a phone number in E.164
// (schemas.NormalizePhone), as the suppression list stores it.
func (k *Keyer) PhoneKey(e164 string) string { return k.Key("phone", e164) }

// VisitorKey is the pseudonymous key of a visitor (an anonymous id, or a
// lead id) on one day, as behavior_events stores it: distinct visitors per
// day can be counted, but a visitor cannot be followed from one day to the
// next through it.
func (k *Keyer) VisitorKey(id string, day time.Time) string {
	return k.Key("visitor", day.UTC().Format("2006-01-02")+"|"+id)
}
