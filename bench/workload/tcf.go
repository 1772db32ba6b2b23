package workload

import (
	"time"

	"github.com/leadpipe/leadpipe/schemas/tcfbits"
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
	var core tcfbits.Writer
	core.Put(2, 6).Put(ds, 36).Put(ds, 36).Put(10, 12).Put(1, 12).Put(1, 6)
	core.Put('I'-'A', 6).Put('T'-'A', 6) // consent language IT
	core.Put(80, 12).Put(5, 6).Put(1, 1).Put(0, 1).Put(0, 12)
	core.Put(mask(t.Purposes), 24).Put(0, 24).Put(0, 1)
	core.Put('I'-'A', 6).Put('T'-'A', 6) // publisher country IT
	core.Vendors(maxV, t.Vendors)
	core.Put(0, 16).Put(0, 1) // no vendor legitimate interests
	core.Put(0, 12)           // no publisher restrictions
	var disclosed tcfbits.Writer
	disclosed.Put(1, 3).Vendors(maxV, t.Vendors)
	var pub tcfbits.Writer
	pub.Put(3, 3).Put(mask(t.PublisherPurposes), 24).Put(0, 24).Put(0, 6)
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
