package schemas

// This file stays whole (about 550 lines): it is one decoder of the TCF
// v2 TC string, segment by segment, with the bit reader they share and the
// 2.2/2.3 rules checked after decoding.

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"time"
)

// TCString is a decoded IAB TCF v2 Transparency & Consent string, as a
// site's consent banner (its CMP) writes it: the core segment, the
// disclosed vendors and the publisher TC segment. The JSON names are those
// of the IAB reference library's TCModel (@iabtechlabtcf/core). Every set
// of ids is sorted ascending, and empty, never null, when the string does
// not carry it.
//
// The format is "Consent string and vendor list formats v2" of IAB Tech
// Lab (GDPR-Transparency-and-Consent-Framework, TCFv2/), TCF v2.2 and v2.3.
type TCString struct {
	// Version is the encoding version: always 2.
	Version int `json:"version"`
	// Created and LastUpdated are when the string was made and last
	// changed; since TCF 2.2 both hold the day it was last updated.
	Created     time.Time `json:"created"`
	LastUpdated time.Time `json:"lastUpdated"`
	// CmpID and CmpVersion name the consent management platform, and
	// ConsentScreen its screen where the visitor chose.
	CmpID         int `json:"cmpId"`
	CmpVersion    int `json:"cmpVersion"`
	ConsentScreen int `json:"consentScreen"`
	// ConsentLanguage is the ISO 639-1 language of the banner, upper case.
	ConsentLanguage string `json:"consentLanguage"`
	// VendorListVersion is the Global Vendor List the CMP used, and
	// PolicyVersion its TCF policy version: 4 for TCF 2.2, 5 for 2.3.
	VendorListVersion int  `json:"vendorListVersion"`
	PolicyVersion     int  `json:"policyVersion"`
	IsServiceSpecific bool `json:"isServiceSpecific"`
	// UseNonStandardTexts is the bit that TCF 2.0 called UseNonStandardStacks.
	UseNonStandardTexts        bool     `json:"useNonStandardTexts"`
	SpecialFeatureOptins       []uint16 `json:"specialFeatureOptins"`
	PurposeConsents            []uint16 `json:"purposeConsents"`
	PurposeLegitimateInterests []uint16 `json:"purposeLegitimateInterests"`
	PurposeOneTreatment        bool     `json:"purposeOneTreatment"`
	// PublisherCountryCode is the ISO 3166-1 alpha-2 country of the
	// publisher, upper case.
	PublisherCountryCode      string           `json:"publisherCountryCode"`
	VendorConsents            []uint16         `json:"vendorConsents"`
	VendorLegitimateInterests []uint16         `json:"vendorLegitimateInterests"`
	PublisherRestrictions     []TCFRestriction `json:"publisherRestrictions"`
	// VendorsDisclosed is the disclosed vendors segment (required from
	// policy version 5, TCF 2.3).
	VendorsDisclosed []uint16 `json:"vendorsDisclosed"`
	// The publisher TC segment: the publisher's own purposes and its
	// custom purposes (numbered from 1).
	PublisherConsents                  []uint16 `json:"publisherConsents"`
	PublisherLegitimateInterests       []uint16 `json:"publisherLegitimateInterests"`
	PublisherCustomConsents            []uint16 `json:"publisherCustomConsents"`
	PublisherCustomLegitimateInterests []uint16 `json:"publisherCustomLegitimateInterests"`
}

// TCFRestriction is one publisher restriction: the vendors the publisher
// restricts for a purpose. RestrictionType is 0 (purpose not allowed), 1
// (consent required) or 2 (legitimate interest required).
type TCFRestriction struct {
	PurposeID       int      `json:"purposeId"`
	RestrictionType int      `json:"restrictionType"`
	VendorIDs       []uint16 `json:"vendorIds"`
}

// The segment types of a TC string: the first 3 bits of every segment but
// the core, whose first 6 bits are its version.
const (
	tcfCore      = 0
	tcfDisclosed = 1
	tcfAllowed   = 2 // deprecated since TCF 2.2: read, checked and dropped
	tcfPublisher = 3
)

var tcfSegmentNames = [4]string{"core", "vendorsDisclosed", "vendorsAllowed", "publisherTC"}

// The rules of TCF 2.2 and 2.3 the decoder enforces.
const (
	// tcfMinPolicy: "Post 30 September 2023 a TC String created with a
	// policy version set to smaller than 4 will be deemed invalid."
	tcfMinPolicy = 4
	// tcfDisclosedPolicy is the policy version of TCF 2.3, from which the
	// disclosed vendors segment is required.
	tcfDisclosedPolicy = 5
	// tcfMaxRestricted caps the vendor ids all publisher restrictions may
	// name together. A restriction names a range in 33 bits, so without a
	// cap a string of a kilobyte would expand to millions of ids; real
	// strings restrict the few thousand vendors of the Global Vendor List
	// for a handful of purposes.
	tcfMaxRestricted = 1 << 18
)

// tcfBase64 maps a base64url character to its 6 bits, and any other byte
// to 0xFF.
var tcfBase64 = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// DecodeTCF decodes and checks a TCF v2 TC string: base64url without
// padding, segments separated by dots, the core segment first. It
// enforces the rules of TCF 2.2 and 2.3: version 2, policy version 4 or
// more, no legitimate interest for purposes 3 to 6, and the disclosed
// vendors segment from policy version 5. It is stricter than the reference
// library where the specification is (range entries ascend within
// MaxVendorId, letters are a to z, each segment at most once). The allowed
// vendors segment (type 2, deprecated) is checked and dropped.
// IsServiceSpecific is reported, not enforced: the specification calls a
// 0 invalid, the reference library still writes one.
//
// Every error wraps a *FieldError whose Field is the TCModel name of the
// field ("purposeLegitimateInterests") and whose Reason names the rule;
// neither holds the string.
func DecodeTCF(s string) (*TCString, error) {
	tc, disclosed, err := decodeTCF(s)
	if err == nil {
		err = tc.checkPolicy(disclosed)
	}
	if err != nil {
		return nil, fmt.Errorf("tcf: %w", err)
	}
	return tc, nil
}

// checkPolicy enforces the rules of TCF 2.2 and 2.3 on a string whose
// format is sound. disclosed is whether it has a disclosed vendors segment.
func (tc *TCString) checkPolicy(disclosed bool) error {
	if tc.PolicyVersion < tcfMinPolicy {
		return &FieldError{Field: "policyVersion", Reason: fmt.Sprintf("is %d: TCF 2.2 requires %d or more (strings of older policies are invalid since 30 September 2023)", tc.PolicyVersion, tcfMinPolicy)}
	}
	for _, p := range tc.PurposeLegitimateInterests {
		if p >= 3 && p <= 6 {
			return &FieldError{Field: "purposeLegitimateInterests", Reason: fmt.Sprintf("purpose %d cannot rest on legitimate interest (TCF 2.2)", p)}
		}
	}
	if tc.PolicyVersion >= tcfDisclosedPolicy && !disclosed {
		return &FieldError{Field: "vendorsDisclosed", Reason: fmt.Sprintf("is missing: the disclosed vendors segment is required from policy version %d (TCF 2.3)", tcfDisclosedPolicy)}
	}
	return nil
}

// decodeTCF decodes a TC string and checks its format, not the rules of
// TCF 2.2 and 2.3 (checkPolicy). disclosed is whether it has a disclosed
// vendors segment.
func decodeTCF(s string) (tc *TCString, disclosed bool, err error) {
	if s == "" {
		return nil, false, &FieldError{Field: "string", Reason: "is empty"}
	}
	// One buffer for the bits of every segment: 6 bits a character, and
	// a byte of slack per segment.
	var stack [384]byte
	buf := stack[:]
	if need := len(s)*6/8 + len(s)/2 + 2; need > len(buf) {
		buf = make([]byte, need)
	}
	tc = &TCString{}
	var seen [4]bool
	for i, seg := 0, 0; i <= len(s); seg++ {
		j := i
		for j < len(s) && s[j] != '.' {
			j++
		}
		if j == i {
			return nil, false, &FieldError{Field: fmt.Sprintf("segments[%d]", seg), Reason: "is empty: a dot at the start or end, or two in a row"}
		}
		r := bitReader{end: (j - i) * 6}
		n, err := decodeBase64URL(buf, s[i:j], i)
		if err != nil {
			return nil, false, err
		}
		r.b, buf = buf[:n], buf[n:]
		typ := tcfCore
		if seg > 0 {
			t, _ := r.read(3)
			typ = int(t)
		}
		switch {
		case seg == 0:
			if err := tc.decodeCore(&r); err != nil {
				return nil, false, err
			}
		case typ > tcfPublisher:
			return nil, false, &FieldError{Field: fmt.Sprintf("segments[%d]", seg), Reason: fmt.Sprintf("has type %d, which is no TC string segment (1 disclosed vendors, 2 allowed vendors, 3 publisher TC)", typ)}
		case seen[typ]:
			return nil, false, &FieldError{Field: fmt.Sprintf("segments[%d]", seg), Reason: fmt.Sprintf("is a second %s segment: each comes at most once", tcfSegmentNames[typ])}
		case typ == tcfDisclosed:
			v, err := r.vendors("vendorsDisclosed")
			if err != nil {
				return nil, false, err
			}
			tc.VendorsDisclosed = v
		case typ == tcfAllowed:
			if _, err := r.vendors("vendorsAllowed"); err != nil {
				return nil, false, err
			}
		case typ == tcfPublisher:
			if err := tc.decodePublisher(&r); err != nil {
				return nil, false, err
			}
		}
		seen[typ] = true
		i = j + 1
	}
	if tc.VendorsDisclosed == nil {
		tc.VendorsDisclosed = []uint16{}
	}
	if tc.PublisherConsents == nil {
		tc.PublisherConsents, tc.PublisherLegitimateInterests = []uint16{}, []uint16{}
		tc.PublisherCustomConsents, tc.PublisherCustomLegitimateInterests = []uint16{}, []uint16{}
	}
	return tc, seen[tcfDisclosed], nil
}

// decodeBase64URL writes the 6 bits of each character of seg into dst,
// packed from the highest bit, and returns the bytes written. at is where
// seg starts in the whole string, for the error.
func decodeBase64URL(dst []byte, seg string, at int) (int, error) {
	var acc uint32
	nacc, n := 0, 0
	for k := 0; k < len(seg); k++ {
		v := tcfBase64[seg[k]]
		if v == 0xFF {
			reason := fmt.Sprintf("character %d is not base64url (A-Z, a-z, 0-9, - and _)", at+k+1)
			if seg[k] == '=' {
				reason += ": TC strings have no '=' padding"
			}
			return 0, &FieldError{Field: "string", Reason: reason}
		}
		acc = acc<<6 | uint32(v)
		if nacc += 6; nacc >= 8 {
			nacc -= 8
			dst[n] = byte(acc >> nacc)
			n++
		}
	}
	if nacc > 0 {
		dst[n] = byte(acc << (8 - nacc))
		n++
	}
	return n, nil
}

// decodeCore reads the core segment into tc.
func (tc *TCString) decodeCore(r *bitReader) error {
	version := r.field("version", 6)
	if r.err == nil && version != 2 {
		if version>>3 != 0 {
			return &FieldError{Field: "version", Reason: fmt.Sprintf("the string must begin with the core segment, and begins with a segment of type %d", version>>3)}
		}
		return &FieldError{Field: "version", Reason: fmt.Sprintf("is %d: only TCF v2 strings (version 2) are read", version)}
	}
	tc.Version = version
	tc.Created = time.UnixMilli(int64(r.field("created", 36)) * 100).UTC()
	tc.LastUpdated = time.UnixMilli(int64(r.field("lastUpdated", 36)) * 100).UTC()
	tc.CmpID = r.field("cmpId", 12)
	if r.err == nil && tc.CmpID < 2 {
		return &FieldError{Field: "cmpId", Reason: "must be 2 or more: 0 and 1 are no CMP's id"}
	}
	tc.CmpVersion = r.field("cmpVersion", 12)
	tc.ConsentScreen = r.field("consentScreen", 6)
	tc.ConsentLanguage = r.letters("consentLanguage")
	tc.VendorListVersion = r.field("vendorListVersion", 12)
	tc.PolicyVersion = r.field("policyVersion", 6)
	tc.IsServiceSpecific = r.field("isServiceSpecific", 1) == 1
	tc.UseNonStandardTexts = r.field("useNonStandardTexts", 1) == 1
	features := r.field("specialFeatureOptins", 12)
	consents := r.field("purposeConsents", 24)
	li := r.field("purposeLegitimateInterests", 24)
	tc.PurposeOneTreatment = r.field("purposeOneTreatment", 1) == 1
	tc.PublisherCountryCode = r.letters("publisherCountryCode")
	if r.err != nil {
		return r.err
	}
	ids := make([]uint16, 0, bits.OnesCount32(uint32(features))+bits.OnesCount32(uint32(consents))+bits.OnesCount32(uint32(li)))
	ids, tc.SpecialFeatureOptins = fixedIDs(ids, features, 12)
	ids, tc.PurposeConsents = fixedIDs(ids, consents, 24)
	_, tc.PurposeLegitimateInterests = fixedIDs(ids, li, 24)
	var err error
	if tc.VendorConsents, err = r.vendors("vendorConsents"); err != nil {
		return err
	}
	if tc.VendorLegitimateInterests, err = r.vendors("vendorLegitimateInterests"); err != nil {
		return err
	}
	tc.PublisherRestrictions, err = r.restrictions()
	return err
}

// decodePublisher reads the publisher TC segment (after its type) into tc.
func (tc *TCString) decodePublisher(r *bitReader) error {
	consents := r.field("publisherConsents", 24)
	li := r.field("publisherLegitimateInterests", 24)
	n := r.field("numCustomPurposes", 6)
	custom := r.field("publisherCustomConsents", n)
	customLI := r.field("publisherCustomLegitimateInterests", n)
	if r.err != nil {
		return r.err
	}
	ids := make([]uint16, 0, bits.OnesCount32(uint32(consents))+bits.OnesCount32(uint32(li))+bits.OnesCount64(uint64(custom))+bits.OnesCount64(uint64(customLI)))
	ids, tc.PublisherConsents = fixedIDs(ids, consents, 24)
	ids, tc.PublisherLegitimateInterests = fixedIDs(ids, li, 24)
	ids, tc.PublisherCustomConsents = fixedIDs(ids, custom, n)
	_, tc.PublisherCustomLegitimateInterests = fixedIDs(ids, customLI, n)
	return nil
}

// fixedIDs appends to ids the ids 1 to n of the bits set in the n-bit
// field v (id 1 is the highest bit), and returns ids and the part appended.
func fixedIDs(ids []uint16, v, n int) (all, set []uint16) {
	start := len(ids)
	for u := uint64(v) << (64 - n); u != 0; u &^= 1 << 63 >> bits.LeadingZeros64(u) {
		ids = append(ids, uint16(bits.LeadingZeros64(u)+1))
	}
	return ids, ids[start:len(ids):len(ids)]
}

// bitReader reads the bits of one segment, big-endian. end is the number
// of bits the segment holds: 6 per base64url character.
type bitReader struct {
	b   []byte
	end int
	off int
	// err is the first field read past end (truncated), for field.
	err error
}

// read returns the next n (at most 64) bits, false when fewer remain.
func (r *bitReader) read(n int) (uint64, bool) {
	if r.off+n > r.end {
		return 0, false
	}
	if n > 56 {
		hi, _ := r.read(n - 32)
		lo, _ := r.read(32)
		return hi<<32 | lo, true
	}
	if n == 0 {
		return 0, true
	}
	v, _ := r.word(r.off, r.off+n)
	r.off += n
	return v >> (64 - n), true
}

// word returns the bits from p up to end, at most 56 of them, at the top
// of a uint64, and how many they are.
func (r *bitReader) word(p, end int) (uint64, int) {
	k := min(56, end-p)
	i := p >> 3
	var v uint64
	if i+8 <= len(r.b) {
		v = binary.BigEndian.Uint64(r.b[i:])
	} else {
		for j := i; j < i+8; j++ {
			v <<= 8
			if j < len(r.b) {
				v |= uint64(r.b[j])
			}
		}
	}
	return v << (p & 7) & (^uint64(0) << (64 - k)), k
}

// field reads an n-bit field; at the end of the segment it records that
// the string is truncated in name, and it and every later field read 0.
func (r *bitReader) field(name string, n int) int {
	if r.err != nil {
		return 0
	}
	v, ok := r.read(n)
	if !ok {
		r.err = truncated(name)
	}
	return int(v)
}

// letters reads two 6-bit letters, a=0 to z=25, as upper case.
func (r *bitReader) letters(name string) string {
	v := r.field(name, 12)
	if r.err != nil {
		return ""
	}
	a, b := v>>6, v&63
	if a > 25 || b > 25 {
		r.err = &FieldError{Field: name, Reason: "holds a letter past z: each letter is 6 bits from a=0 to z=25"}
		return ""
	}
	return tcfLetters[a*26+b]
}

// tcfLetters are the 676 two-letter codes, so that reading one allocates
// nothing.
var tcfLetters = func() []string {
	s := make([]string, 26*26)
	for i := range s {
		s[i] = string([]byte{byte('A' + i/26), byte('A' + i%26)})
	}
	return s
}()

func truncated(field string) error {
	return &FieldError{Field: field, Reason: "the string ends inside this field: it is truncated"}
}

// vendors reads a vendor section: MaxVendorId, the encoding, then a bit
// field or range entries.
func (r *bitReader) vendors(name string) ([]uint16, error) {
	maxID, ok := r.read(16)
	isRange, ok2 := r.read(1)
	if !ok || !ok2 {
		return nil, truncated(name)
	}
	if isRange == 1 {
		return r.ranges(name, int(maxID), 1<<16)
	}
	if r.off+int(maxID) > r.end {
		return nil, truncated(name)
	}
	return r.bitField(int(maxID)), nil
}

// bitField reads n bits, one per id from 1 to n, and returns the ids whose
// bit is set.
func (r *bitReader) bitField(n int) []uint16 {
	start, end := r.off, r.off+n
	r.off = end
	count := 0
	for p := start; p < end; {
		w, k := r.word(p, end)
		count += bits.OnesCount64(w)
		p += k
	}
	ids := make([]uint16, 0, count)
	for p := start; p < end; {
		w, k := r.word(p, end)
		for w != 0 {
			lz := bits.LeadingZeros64(w)
			ids = append(ids, uint16(p-start+lz+1))
			w &^= 1 << 63 >> lz
		}
		p += k
	}
	return ids
}

// ranges reads NumEntries range entries, each a single id or a range, and
// returns their ids. The entries must ascend without overlapping, from id
// 1 to maxID; they may name at most limit ids together.
func (r *bitReader) ranges(name string, maxID, limit int) ([]uint16, error) {
	n, ok := r.read(12)
	if !ok {
		return nil, truncated(name)
	}
	// First check the entries and count the ids, then read them again.
	from := r.off
	count, prev := 0, 0
	for i := 1; i <= int(n); i++ {
		first, last, ok := r.entry()
		if !ok {
			return nil, truncated(name)
		}
		switch {
		case first == 0:
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("range entry %d names vendor 0: vendor ids start at 1", i)}
		case last < first:
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("range entry %d ends before it starts", i)}
		case first <= prev:
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("range entry %d does not come after entry %d: entries ascend without overlapping", i, i-1)}
		case last > maxID:
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("range entry %d goes past MaxVendorId", i)}
		}
		count += last - first + 1
		prev = last
	}
	if count > limit {
		return nil, &FieldError{Field: name, Reason: fmt.Sprintf("names over %d vendor ids", limit)}
	}
	r.off = from
	ids := make([]uint16, 0, count)
	for range n {
		first, last, _ := r.entry()
		for id := first; id <= last; id++ {
			ids = append(ids, uint16(id))
		}
	}
	return ids, nil
}

// entry reads one range entry: IsARange, then one or two vendor ids.
func (r *bitReader) entry() (first, last int, ok bool) {
	isRange, ok := r.read(1)
	a, ok2 := r.read(16)
	b := a
	if isRange == 1 {
		b, ok = r.read(16)
	}
	return int(a), int(b), ok && ok2
}

// restrictions reads the publisher restrictions, sorted by purpose and
// restriction type. A restriction that names no vendor is left out, as the
// reference library does.
func (r *bitReader) restrictions() ([]TCFRestriction, error) {
	const name = "publisherRestrictions"
	n, ok := r.read(12)
	if !ok {
		return nil, truncated(name)
	}
	out := []TCFRestriction{}
	var seen [64 * 3]bool
	total := 0
	for i := 1; i <= int(n); i++ {
		head, ok := r.read(8)
		if !ok {
			return nil, truncated(name)
		}
		purpose, typ := int(head>>2), int(head&3)
		switch {
		case purpose == 0:
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("restriction %d is of purpose 0: purposes start at 1", i)}
		case typ == 3:
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("restriction %d has type 3, which is undefined (0 not allowed, 1 consent required, 2 legitimate interest required)", i)}
		case seen[purpose*3+typ]:
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("restriction %d repeats the purpose and type of an earlier one", i)}
		}
		seen[purpose*3+typ] = true
		ids, err := r.ranges(name, 1<<16-1, tcfMaxRestricted-total)
		if err != nil {
			return nil, err
		}
		if len(ids) > 0 {
			total += len(ids)
			out = append(out, TCFRestriction{PurposeID: purpose, RestrictionType: typ, VendorIDs: ids})
		}
	}
	slices.SortFunc(out, func(a, b TCFRestriction) int {
		return cmp.Or(cmp.Compare(a.PurposeID, b.PurposeID), cmp.Compare(a.RestrictionType, b.RestrictionType))
	})
	return out, nil
}
