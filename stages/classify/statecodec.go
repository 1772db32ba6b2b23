package classify

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
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

// stateEncoder appends a state value to b.
type stateEncoder struct {
	b     []byte
	vocab [vocabCap]string
	nv    int
}

func (e *stateEncoder) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }
func (e *stateEncoder) varint(x int64)   { e.b = binary.AppendVarint(e.b, x) }

func (e *stateEncoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *stateEncoder) voc(s string) {
	for i := range e.nv {
		if e.vocab[i] == s {
			e.uvarint(uint64(i)<<1 | 1)
			return
		}
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
	if s != "" && e.nv < vocabCap {
		e.vocab[e.nv] = s
		e.nv++
	}
}

func (e *stateEncoder) time(t time.Time) {
	_, off := t.Zone()
	e.varint(t.Unix())
	x := uint64(t.Nanosecond()) << 1
	if off != 0 {
		x |= 1
	}
	e.uvarint(x)
	if off != 0 {
		e.varint(int64(off))
	}
}

func (e *stateEncoder) digest(d string) {
	if len(d) == 2*32 {
		var raw [32]byte
		if lowerHexDecode(raw[:], d) {
			e.uvarint(0)
			e.b = append(e.b, raw[:]...)
			return
		}
	}
	e.uvarint(uint64(len(d)) + 1)
	e.b = append(e.b, d...)
}

// lowerHexDecode decodes the lowercase hex s into dst, len(s) = 2×len(dst);
// false when s is anything else (upper case included: it would not come
// back the same).
func lowerHexDecode(dst []byte, s string) bool {
	nibble := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		}
		return 0, false
	}
	for i := range dst {
		hi, ok1 := nibble(s[2*i])
		lo, ok2 := nibble(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func (e *stateEncoder) suppression(s *suppression) {
	e.voc(s.Reason)
	e.voc(s.Rule)
	e.str(s.EventID)
	e.time(s.At)
}

func (e *stateEncoder) sups(objection, erasure *suppression) {
	var flags byte
	if objection != nil {
		flags |= 1
	}
	if erasure != nil {
		flags |= 2
	}
	e.b = append(e.b, flags)
	if objection != nil {
		e.suppression(objection)
	}
	if erasure != nil {
		e.suppression(erasure)
	}
}

func (e *stateEncoder) facts(f *facts) {
	e.str(f.EventID)
	e.time(f.OccurredAt)
	e.voc(f.Origin.Channel)
	e.voc(f.Origin.Network)
	e.voc(f.Origin.Source)
	e.voc(f.Origin.Medium)
	e.voc(f.Origin.Campaign)
	e.voc(f.OriginStep)
	e.voc(f.OriginWhy)
	e.voc(f.Country)
	e.varint(int64(f.Age))
	e.varint(int64(f.AgeLimit))
	e.voc(f.Parental)
	e.voc(f.ParentalWhy)
	e.voc(f.ThirdParty)
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
	e.b = append(e.b, flags)
	e.voc(f.Request)
}

func (e *stateEncoder) statement(s *statement) {
	e.voc(s.Purpose)
	e.time(s.At)
	e.voc(s.Status)
	e.str(s.EventID)
	e.varint(int64(s.Index))
	e.voc(s.ProofRef)
	e.voc(s.TextVersion)
	e.voc(s.CollectionPoint)
}

// encodeLead returns the value of a lead's state key.
func encodeLead(ls *leadState) []byte {
	e := stateEncoder{b: make([]byte, 0, 64+48*len(ls.Events)+40*len(ls.Statements)+128*len(ls.Facts))}
	e.b = append(e.b, stateCodecV1)
	e.str(ls.LeadID)
	e.uvarint(ls.Seq)
	e.time(ls.AsOf)
	e.time(ls.FirstSeen)
	e.uvarint(uint64(len(ls.Facts)))
	for _, f := range ls.Facts {
		e.facts(f)
	}
	e.uvarint(uint64(len(ls.Statements)))
	for i := range ls.Statements {
		e.statement(&ls.Statements[i])
	}
	e.uvarint(uint64(len(ls.Suppressions)))
	for i := range ls.Suppressions {
		e.suppression(&ls.Suppressions[i])
	}
	e.uvarint(uint64(len(ls.EmailKeys)))
	for _, k := range ls.EmailKeys {
		e.str(k)
	}
	e.uvarint(uint64(len(ls.EmailSups)))
	keys := make([]string, 0, len(ls.EmailSups))
	for k := range ls.EmailSups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		x := ls.EmailSups[k]
		e.str(k)
		e.sups(x.Objection, x.Erasure)
	}
	e.uvarint(uint64(len(ls.Events)))
	for _, ev := range ls.Events {
		e.str(ev.ID)
		e.digest(ev.Digest)
	}
	e.voc(ls.Decision)
	e.voc(ls.Rule)
	if ls.Quarantined {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
	e.varint(ls.QuarantinedSince)
	return e.b
}

// encodeEmail returns the value of an email key's state key.
func encodeEmail(es *emailState) []byte {
	e := stateEncoder{b: make([]byte, 0, 64+80*len(es.Leads))}
	e.b = append(e.b, stateCodecV1)
	e.sups(es.Objection, es.Erasure)
	e.uvarint(uint64(len(es.Leads)))
	for _, l := range es.Leads {
		e.str(l.Key)
		e.str(l.ID)
	}
	return e.b
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
	if n := d.count(); n > 0 {
		ls.Statements = make([]statement, n)
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
		ls.Events = make([]seenEvent, n)
		for i := range ls.Events {
			ls.Events[i].ID = d.str()
			if l := d.uvarint(); l == 0 {
				var h [2 * 32]byte
				if raw := d.bytes(32); raw != nil {
					hex.Encode(h[:], raw)
					ls.Events[i].Digest = string(h[:])
				}
			} else {
				ls.Events[i].Digest = string(d.bytes(l - 1))
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
