package workload

import (
	"strings"
	"time"
)

// TCF is what a TC string the workload writes says: the purposes the
// visitor consented to, the vendors that got consent, and the purposes the
// publisher itself got consent for (its publisher TC segment).
type TCF struct {
	Purposes          []int
	Vendors           []int
	PublisherPurposes []int
}

// tcfTime is the created and last-updated day of every workload string.
var tcfTime = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// EncodeTCF writes t as a TCF v2.3 TC string (policy version 5): the core
// segment with vendor consents in a bit field, the disclosed vendors
// segment (the same vendors) and the publisher TC segment. It is the
// smallest encoder the workload and the tests need, not a general one.
func EncodeTCF(t TCF) string {
	maxV := 0
	for _, v := range t.Vendors {
		maxV = max(maxV, v)
	}
	ds := int(tcfTime.UnixMilli() / 100)
	var core tcfBits
	core.put(2, 6).put(ds, 36).put(ds, 36).put(10, 12).put(1, 12).put(1, 6)
	core.put('I'-'A', 6).put('T'-'A', 6) // consent language IT
	core.put(80, 12).put(5, 6).put(1, 1).put(0, 1).put(0, 12)
	core.put(mask(t.Purposes), 24).put(0, 24).put(0, 1)
	core.put('I'-'A', 6).put('T'-'A', 6) // publisher country IT
	core.vendors(maxV, t.Vendors)
	core.put(0, 16).put(0, 1) // no vendor legitimate interests
	core.put(0, 12)           // no publisher restrictions
	var disclosed tcfBits
	disclosed.put(1, 3).vendors(maxV, t.Vendors)
	var pub tcfBits
	pub.put(3, 3).put(mask(t.PublisherPurposes), 24).put(0, 24).put(0, 6)
	return core.String() + "." + disclosed.String() + "." + pub.String()
}

// mask is the 24-bit field of the purposes ps: purpose 1 is the highest bit.
func mask(ps []int) int {
	m := 0
	for _, p := range ps {
		m |= 1 << (24 - p)
	}
	return m
}

// tcfBits builds a segment bit by bit.
type tcfBits struct{ b []byte }

func (w *tcfBits) put(v, n int) *tcfBits {
	for i := n - 1; i >= 0; i-- {
		w.b = append(w.b, byte(v>>i&1))
	}
	return w
}

// vendors writes a vendor section as a bit field: MaxVendorId, IsRangeEncoding 0, a bit per vendor.
func (w *tcfBits) vendors(maxV int, ids []int) *tcfBits {
	w.put(maxV, 16).put(0, 1)
	set := make([]byte, maxV)
	for _, v := range ids {
		set[v-1] = 1
	}
	w.b = append(w.b, set...)
	return w
}

// String is the segment in base64url without padding, its last character
// filled with zero bits.
func (w *tcfBits) String() string {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var sb strings.Builder
	for i := 0; i < len(w.b); i += 6 {
		v := 0
		for j := i; j < i+6; j++ {
			v <<= 1
			if j < len(w.b) {
				v |= int(w.b[j])
			}
		}
		sb.WriteByte(b64[v])
	}
	return sb.String()
}
