// Package ledger makes the audit trail tamper-evident: every decisions row
// of leadpipe.audit joins a hash chain, one per audit partition, in offset
// order; the chains' heads are anchored in ClickHouse, signed with Ed25519
// when a key is given; and Verify reads the audit topic, the decisions
// table and the anchors and reports the first break (DESIGN.md, "The
// decision ledger is whole and unaltered").
//
// The sink chains the rows (pipeline/adapter/sink.go) as it lands them: it
// reads each audit partition in offset order and knows which records
// landed before, so a chain is a function of what landed, whichever sink
// process landed it.
package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"github.com/leadpipe/leadpipe/analytics"
)

// Head is the last row of a partition's chain: its offset and hash.
type Head struct {
	Offset int64
	Hash   string
}

// Genesis is the head before a partition's first chained row.
var Genesis = Head{Offset: -1}

// Seal sets the row's lead digest: SHA-256 over a new random salt and the
// lead key. A row without a lead key gets neither. Once an erasure clears
// the key and the salt, the digest (which the chain covers) leads to
// nobody: finding the key from it takes the 128-bit salt.
func Seal(r *analytics.DecisionRow) {
	if r.LeadKey == "" {
		r.LeadDigest, r.LeadSalt = "", ""
		return
	}
	var salt [16]byte
	rand.Read(salt[:])
	r.LeadSalt = hex.EncodeToString(salt[:])
	r.LeadDigest = Digest(r.LeadSalt, r.LeadKey)
}

// Digest is the lead digest of a key under a salt (hex).
func Digest(salt, leadKey string) string {
	h := sha256.New()
	h.Write([]byte("leadpipe ledger lead\x00"))
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(leadKey))
	return hex.EncodeToString(h.Sum(nil))
}

// Link seals the row and makes it the next of a chain whose head is prev:
// it sets the row's previous offset and hash and its own hash, and
// returns the new head.
func Link(r *analytics.DecisionRow, prev Head) Head {
	Seal(r)
	r.PrevOffset, r.Prev = prev.Offset, prev.Hash
	r.Hash = RowHash(r)
	return Head{Offset: r.Offset, Hash: r.Hash}
}

// RowHash is the hash a row's chain columns must hold: SHA-256 over the
// previous row's hash and the row's canonical bytes. The canonical bytes
// hold, length-prefixed in a fixed order, the row's place (topic,
// partition, offset, the previous row's offset) and every column of the
// decision, with the lead digest in place of the lead key.
func RowHash(r *analytics.DecisionRow) string {
	h := sha256.New()
	c := canon{h: h}
	c.str("leadpipe ledger v1")
	c.str(r.Prev)
	c.str(r.Topic)
	c.int(int64(r.Partition))
	c.int(r.Offset)
	c.int(r.PrevOffset)
	c.str(r.EventID)
	c.str(r.EventType)
	c.str(r.LeadDigest)
	c.str(r.KeyVersion)
	c.str(r.Decision)
	c.str(r.Reason)
	c.str(r.Rule)
	c.str(r.PolicyVersion)
	c.str(r.InputSHA256)
	c.list(r.ConsentProofs)
	c.list(r.IgnoredConsents)
	c.int(r.At.Unix())
	return hex.EncodeToString(h.Sum(nil))
}

// canon writes values unambiguously: every string with its length first.
type canon struct{ h hash.Hash }

func (c canon) int(v int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	c.h.Write(b[:])
}

func (c canon) str(s string) {
	c.int(int64(len(s)))
	c.h.Write([]byte(s))
}

func (c canon) list(ss []string) {
	c.int(int64(len(ss)))
	for _, s := range ss {
		c.str(s)
	}
}
