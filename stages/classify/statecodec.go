package classify

// This file stays whole (about 600 lines): it is one binary format, its
// description, its encoder and its decoder, field by field in the same
// order, so that a field's write and its read change together.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// The value of a state key on leadpipe.state (State.Encode, State.Restore)
// is binary: a version byte, then the fields of the leadState or emailState
// in a fixed order, each integer a varint, each string its length (a
// uvarint) and its bytes. One record per key, as before: a lead's change is
// atomic on the changelog (DESIGN.md).
//
// Version 1 (stateCodecV1):
//
//	value      = 0x01 (lead | email)
//	lead       = str(LeadID) uvarint(Seq) time(AsOf) time(FirstSeen)
//	             n×facts n×statement n×suppression n×str(EmailKeys)
//	             n×(str(email key) sups), by email key
//	             n×(str(event id) digest)
//	             voc(Decision) voc(Rule) byte(1: Quarantined) varint(QuarantinedSince)
//	email      = sups n×(str(Key) str(ID))
//	facts      = str(EventID) time(OccurredAt) voc(Channel) voc(Network) voc(Source)
//	             voc(Medium) voc(Campaign) voc(OriginStep) voc(OriginWhy) voc(Country)
//	             varint(Age) varint(AgeLimit) voc(Parental) voc(ParentalWhy)
//	             voc(ThirdParty) byte(1: Paid, 2: SoftOptIn, 4: PhoneIT) voc(Request)
//	statement  = voc(Purpose) time(At) voc(Status) str(EventID) varint(Index)
//	             voc(ProofRef) voc(TextVersion) voc(CollectionPoint)
//	suppression = voc(Reason) voc(Rule) str(EventID) time(At)
//	sups       = byte(1: Objection, 2: Erasure) [suppression] [suppression]
//	n×x        = uvarint(n) then n times x
//	time       = varint(Unix seconds) uvarint(nanoseconds<<1 | 1 if the zone offset
//	             is not 0) [varint(zone offset in seconds)]
//	digest     = uvarint(0) and the 32 bytes of a lowercase hex SHA-256, or
//	             uvarint(1+len) and the digest's text as it is
//	voc        = uvarint(2×index+1): the string at index in the value's
//	             vocabulary, or uvarint(2×len) and the bytes (a non-empty
//	             string is then appended to the vocabulary, up to vocabCap)
//
// The vocabulary holds the words a value repeats (purposes, statuses,
// proofs, rules, origin steps), so that 48 statements cost their times and
// event ids. Event ids are kept whole: they decide duplicates and an
// access request shows them (Access.Events). Times keep their instant to
// the nanosecond and their zone offset, as the JSON text did.
//
// A value of before, JSON, begins with '{' and is still read (decodeJSON
// in state.go); the version byte is never '{'.
const stateCodecV1 = 0x01

// vocabCap bounds a value's vocabulary: its look-up is a scan.
const vocabCap = 24

var errStateValue = errors.New("not a state value of this version")

// stateEncoder holds the vocabulary of the value being encoded. Its
// methods append to b and return it (the value stays in a local, not in
// the encoder: no write barrier per append).
type stateEncoder struct {
	vocab [vocabCap]string
	nv    int
	hint  [nHints]int
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// vocHint names the fields written with voc: each remembers the entry it
// last used, the first one tried (a lead's statements mostly repeat the
// previous one's proof, text version and collection point).
type vocHint uint8

const (
	hChannel vocHint = iota
	hNetwork
	hSource
	hMedium
	hCampaign
	hOriginStep
	hOriginWhy
	hCountry
	hParental
	hParentalWhy
	hThirdParty
	hRequest
	hPurpose
	hStatus
	hProofRef
	hTextVersion
	hCollectionPoint
	hReason
	hRule
	hDecision
	nHints
)

func (e *stateEncoder) voc(b []byte, s string, h vocHint) []byte {
	if s == "" {
		return append(b, 0)
	}
	if i := e.hint[h]; i < e.nv && e.vocab[i] == s {
		return binary.AppendUvarint(b, uint64(i)<<1|1)
	}
	for i := range e.nv {
		if e.vocab[i] == s {
			e.hint[h] = i
			return binary.AppendUvarint(b, uint64(i)<<1|1)
		}
	}
	if e.nv < vocabCap {
		e.vocab[e.nv] = s
		e.hint[h] = e.nv
		e.nv++
	}
	b = binary.AppendUvarint(b, uint64(len(s))<<1)
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	_, off := t.Zone()
	b = binary.AppendVarint(b, t.Unix())
	x := uint64(t.Nanosecond()) << 1
	if off == 0 {
		return binary.AppendUvarint(b, x)
	}
	b = binary.AppendUvarint(b, x|1)
	return binary.AppendVarint(b, int64(off))
}

func appendDigest(b []byte, d eventDigest) []byte {
	if !d.isText {
		b = append(b, 0)
		return append(b, d.sum[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(d.text))+1)
	return append(b, d.text...)
}

// unhex is the value of a lowercase hex digit, 0xff for any other byte.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// lowerHexDecode decodes the lowercase hex s into dst, len(s) = 2×len(dst);
// false when s is anything else (upper case included: it would not come
// back the same).
func lowerHexDecode(dst []byte, s string) bool {
	s = s[:2*len(dst)]
	var bad byte
	for i := range dst {
		hi, lo := unhex[s[2*i]], unhex[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad < 16
}

func (e *stateEncoder) suppression(b []byte, s *suppression) []byte {
	b = e.voc(b, s.Reason, hReason)
	b = e.voc(b, s.Rule, hRule)
	b = appendStr(b, s.EventID)
	return appendTime(b, s.At)
}

func (e *stateEncoder) sups(b []byte, objection, erasure *suppression) []byte {
	var flags byte
	if objection != nil {
		flags |= 1
	}
	if erasure != nil {
		flags |= 2
	}
	b = append(b, flags)
	if objection != nil {
		b = e.suppression(b, objection)
	}
	if erasure != nil {
		b = e.suppression(b, erasure)
	}
	return b
}

func (e *stateEncoder) facts(b []byte, f *facts) []byte {
	b = appendStr(b, f.EventID)
	b = appendTime(b, f.OccurredAt)
	b = e.voc(b, f.Origin.Channel, hChannel)
	b = e.voc(b, f.Origin.Network, hNetwork)
	b = e.voc(b, f.Origin.Source, hSource)
	b = e.voc(b, f.Origin.Medium, hMedium)
	b = e.voc(b, f.Origin.Campaign, hCampaign)
	b = e.voc(b, f.OriginStep, hOriginStep)
	b = e.voc(b, f.OriginWhy, hOriginWhy)
	b = e.voc(b, f.Country, hCountry)
	b = binary.AppendVarint(b, int64(f.Age))
	b = binary.AppendVarint(b, int64(f.AgeLimit))
	b = e.voc(b, f.Parental, hParental)
	b = e.voc(b, f.ParentalWhy, hParentalWhy)
	b = e.voc(b, f.ThirdParty, hThirdParty)
	var flags byte
	if f.Origin.Paid {
		flags |= 1
	}
	if f.SoftOptIn {
		flags |= 2
	}
	if f.PhoneIT {
		flags |= 4
	}
	b = append(b, flags)
	return e.voc(b, f.Request, hRequest)
}

func (e *stateEncoder) statement(b []byte, s *statement) []byte {
	b = e.voc(b, s.Purpose, hPurpose)
	b = appendTime(b, s.At)
	b = e.voc(b, s.Status, hStatus)
	b = appendStr(b, s.EventID)
	b = binary.AppendVarint(b, int64(s.Index))
	b = e.voc(b, s.ProofRef, hProofRef)
	b = e.voc(b, s.TextVersion, hTextVersion)
	return e.voc(b, s.CollectionPoint, hCollectionPoint)
}

// encodeLead returns the value of a lead's state key.
func encodeLead(ls *leadState) []byte {
	var e stateEncoder
	b := make([]byte, 0, 64+42*len(ls.Events)+28*len(ls.Statements)+96*len(ls.Facts))
	b = append(b, stateCodecV1)
	b = appendStr(b, ls.LeadID)
	b = binary.AppendUvarint(b, ls.Seq)
	b = appendTime(b, ls.AsOf)
	b = appendTime(b, ls.FirstSeen)
	b = binary.AppendUvarint(b, uint64(len(ls.Facts)))
	for _, f := range ls.Facts {
		b = e.facts(b, f)
	}
	b = binary.AppendUvarint(b, uint64(len(ls.Statements)))
	for i := range ls.Statements {
		b = e.statement(b, &ls.Statements[i])
	}
	b = binary.AppendUvarint(b, uint64(len(ls.Suppressions)))
	for i := range ls.Suppressions {
		b = e.suppression(b, &ls.Suppressions[i])
	}
	b = binary.AppendUvarint(b, uint64(len(ls.EmailKeys)))
	for _, k := range ls.EmailKeys {
		b = appendStr(b, k)
	}
	b = binary.AppendUvarint(b, uint64(len(ls.EmailSups)))
	if len(ls.EmailSups) > 0 {
		for _, k := range slices.Sorted(maps.Keys(ls.EmailSups)) {
			x := ls.EmailSups[k]
			b = appendStr(b, k)
			b = e.sups(b, x.Objection, x.Erasure)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(ls.Events)))
	for _, ev := range ls.Events {
		b = appendStr(b, ev.ID)
		b = appendDigest(b, ev.Digest)
	}
	b = e.voc(b, ls.Decision, hDecision)
	b = e.voc(b, ls.Rule, hRule)
	if ls.Quarantined {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return binary.AppendVarint(b, ls.QuarantinedSince)
}

// encodeEmail returns the value of an email key's state key.
func encodeEmail(es *emailState) []byte {
	var e stateEncoder
	b := make([]byte, 0, 64+80*len(es.Leads))
	b = append(b, stateCodecV1)
	b = e.sups(b, es.Objection, es.Erasure)
	b = binary.AppendUvarint(b, uint64(len(es.Leads)))
	for _, l := range es.Leads {
		b = appendStr(b, l.Key)
		b = appendStr(b, l.ID)
	}
	return b
}

// stateDecoder reads a state value. Each string is a copy of its own (a
// slice of the value would keep the whole value alive as long as any of
// its strings lives in the state). The first error sticks: every read
// after it returns a zero value.
type stateDecoder struct {
	s     []byte
	pos   int
	err   error
	vocab [vocabCap]string
	nv    int
}

func (d *stateDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", errStateValue, what, d.pos)
	}
	d.pos = len(d.s)
}

func (d *stateDecoder) readByte() byte {
	if d.pos >= len(d.s) {
		d.fail("value ends early")
		return 0
	}
	c := d.s[d.pos]
	d.pos++
	return c
}

func (d *stateDecoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.s[d.pos:])
	switch {
	case n == 0:
		d.fail("value ends inside a number")
		return 0
	case n < 0:
		d.fail("number too large")
		return 0
	}
	d.pos += n
	return x
}

func (d *stateDecoder) varint() int64 {
	x, n := binary.Varint(d.s[d.pos:])
	switch {
	case n == 0:
		d.fail("value ends inside a number")
		return 0
	case n < 0:
		d.fail("number too large")
		return 0
	}
	d.pos += n
	return x
}

// smallInt reads a varint that must fit in 32 bits (ages, indexes).
func (d *stateDecoder) smallInt() int {
	x := d.varint()
	if x < -1<<31 || x >= 1<<31 {
		d.fail("number out of range")
		return 0
	}
	return int(x)
}

// count reads a number of elements; each takes at least a byte, so a
// count larger than what is left is refused before anything is allocated.
func (d *stateDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.pos) {
		d.fail("count larger than the value")
		return 0
	}
	return int(n)
}

func (d *stateDecoder) bytes(n uint64) []byte {
	if n > uint64(len(d.s)-d.pos) {
		d.fail("string longer than the value")
		return nil
	}
	b := d.s[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b
}

func (d *stateDecoder) str() string { return string(d.bytes(d.uvarint())) }

func (d *stateDecoder) voc() string {
	x := d.uvarint()
	if x&1 != 0 {
		i := x >> 1
		if i >= uint64(d.nv) {
			d.fail("vocabulary index out of range")
			return ""
		}
		return d.vocab[i]
	}
	s := string(d.bytes(x >> 1))
	if s != "" && d.nv < vocabCap && d.err == nil {
		d.vocab[d.nv] = s
		d.nv++
	}
	return s
}

func (d *stateDecoder) flags(max byte) byte {
	c := d.readByte()
	if c > max {
		d.fail("unknown flags")
		return 0
	}
	return c
}

// minUnix and maxUnix bound the times a value may hold: those of years 0
// to 9999, as the RFC 3339 text of before could.
var (
	minUnix = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// time reads a time as the JSON text of before gave it back: UTC for a zero
// offset, else the local zone if it has that offset then, else a fixed
// zone (time.Parse).
func (d *stateDecoder) time() time.Time {
	sec := d.varint()
	x := d.uvarint()
	nsec := x >> 1
	var off int64
	if x&1 != 0 {
		off = d.varint()
		if off == 0 || off <= -24*3600 || off >= 24*3600 {
			d.fail("zone offset out of range")
			return time.Time{}
		}
	}
	if sec < minUnix || sec > maxUnix || nsec >= uint64(time.Second) {
		d.fail("time out of range")
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if off == 0 {
		return t.UTC()
	}
	if _, lo := t.Zone(); lo == int(off) {
		return t // time.Unix gives the local zone
	}
	return t.In(time.FixedZone("", int(off)))
}

func (d *stateDecoder) suppression() suppression {
	var s suppression
	s.Reason = d.voc()
	s.Rule = d.voc()
	s.EventID = d.str()
	s.At = d.time()
	return s
}

func (d *stateDecoder) sups() (objection, erasure *suppression) {
	flags := d.flags(3)
	if flags&1 != 0 {
		s := d.suppression()
		objection = &s
	}
	if flags&2 != 0 {
		s := d.suppression()
		erasure = &s
	}
	return objection, erasure
}

func (d *stateDecoder) facts(f *facts) {
	f.EventID = d.str()
	f.OccurredAt = d.time()
	f.Origin.Channel = d.voc()
	f.Origin.Network = d.voc()
	f.Origin.Source = d.voc()
	f.Origin.Medium = d.voc()
	f.Origin.Campaign = d.voc()
	f.OriginStep = d.voc()
	f.OriginWhy = d.voc()
	f.Country = d.voc()
	f.Age = d.smallInt()
	f.AgeLimit = d.smallInt()
	f.Parental = d.voc()
	f.ParentalWhy = d.voc()
	f.ThirdParty = d.voc()
	flags := d.flags(7)
	f.Origin.Paid, f.SoftOptIn, f.PhoneIT = flags&1 != 0, flags&2 != 0, flags&4 != 0
	f.Request = d.voc()
}

func (d *stateDecoder) statement(s *statement) {
	s.Purpose = d.voc()
	s.At = d.time()
	s.Status = d.voc()
	s.EventID = d.str()
	s.Index = d.smallInt()
	s.ProofRef = d.voc()
	s.TextVersion = d.voc()
	s.CollectionPoint = d.voc()
}

// start checks the version byte of value and returns a decoder after it.
func startDecode(value []byte) (*stateDecoder, error) {
	if len(value) == 0 || value[0] != stateCodecV1 {
		return nil, fmt.Errorf("%w: unknown version byte", errStateValue)
	}
	return &stateDecoder{s: value, pos: 1}, nil
}

func (d *stateDecoder) end() error {
	if d.err == nil && d.pos != len(d.s) {
		d.fail("bytes after the value")
	}
	return d.err
}

// decodeLead reads a value of encodeLead.
func decodeLead(value []byte) (*leadState, error) {
	d, err := startDecode(value)
	if err != nil {
		return nil, err
	}
	ls := new(leadState)
	ls.LeadID = d.str()
	ls.Seq = d.uvarint()
	ls.AsOf = d.time()
	ls.FirstSeen = d.time()
	if n := d.count(); n > 0 {
		fs := make([]facts, n)
		ls.Facts = make([]*facts, n)
		for i := range fs {
			d.facts(&fs[i])
			ls.Facts[i] = &fs[i]
		}
	}
	// The statements and events have room for one more: a lead's next
	// event adds one before the oldest is forgotten, without copying them.
	if n := d.count(); n > 0 {
		ls.Statements = make([]statement, n, n+1)
		for i := range ls.Statements {
			d.statement(&ls.Statements[i])
		}
	}
	if n := d.count(); n > 0 {
		ls.Suppressions = make([]suppression, n)
		for i := range ls.Suppressions {
			ls.Suppressions[i] = d.suppression()
		}
	}
	if n := d.count(); n > 0 {
		ls.EmailKeys = make([]string, n)
		for i := range ls.EmailKeys {
			ls.EmailKeys[i] = d.str()
		}
	}
	if n := d.count(); n > 0 {
		ls.EmailSups = make(map[string]sups, n)
		for range n {
			k := d.str()
			var x sups
			x.Objection, x.Erasure = d.sups()
			ls.EmailSups[k] = x
		}
	}
	if n := d.count(); n > 0 {
		ls.Events = make([]seenEvent, n, n+1)
		for i := range ls.Events {
			ls.Events[i].ID = d.str()
			if l := d.uvarint(); l == 0 {
				copy(ls.Events[i].Digest.sum[:], d.bytes(32))
			} else {
				ls.Events[i].Digest = digestOf(string(d.bytes(l - 1)))
			}
		}
	}
	ls.Decision = d.voc()
	ls.Rule = d.voc()
	ls.Quarantined = d.flags(1) == 1
	ls.QuarantinedSince = d.varint()
	if err := d.end(); err != nil {
		return nil, err
	}
	return ls, nil
}

// decodeEmail reads a value of encodeEmail.
func decodeEmail(value []byte) (*emailState, error) {
	d, err := startDecode(value)
	if err != nil {
		return nil, err
	}
	es := new(emailState)
	es.Objection, es.Erasure = d.sups()
	if n := d.count(); n > 0 {
		es.Leads = make([]emailLead, n)
		for i := range es.Leads {
			es.Leads[i] = emailLead{Key: d.str(), ID: d.str()}
		}
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return es, nil
}
