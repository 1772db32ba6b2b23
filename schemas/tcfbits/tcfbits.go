// Package tcfbits writes TC string segments bit by bit: the encoder the
// workload generator and the decoder's tests share. leadpipe itself only
// decodes TC strings (schemas.DecodeTCF); it never writes one.
package tcfbits

import "encoding/base64"

// Writer builds one segment. The zero value is an empty segment.
type Writer struct {
	bits []byte // one bit per byte, most significant first
}

// Put appends v as an n-bit unsigned field.
func (w *Writer) Put(v, n int) *Writer {
	for i := n - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>i&1))
	}
	return w
}

// Set overwrites the n-bit field at bit position pos with v.
func (w *Writer) Set(pos, v, n int) *Writer {
	for i := 0; i < n; i++ {
		w.bits[pos+i] = byte(v >> (n - 1 - i) & 1)
	}
	return w
}

// Vendors appends a vendor section as a bit field: MaxVendorId,
// IsRangeEncoding 0, then a bit per vendor.
func (w *Writer) Vendors(maxVendor int, ids []int) *Writer {
	w.Put(maxVendor, 16).Put(0, 1)
	set := make([]byte, maxVendor)
	for _, v := range ids {
		set[v-1] = 1
	}
	w.bits = append(w.bits, set...)
	return w
}

// String is the segment in base64url without padding, its last character
// filled with zero bits, as the TCF specification writes segments.
func (w *Writer) String() string {
	packed := make([]byte, (len(w.bits)+7)/8)
	for i, b := range w.bits {
		packed[i/8] |= b << (7 - i%8)
	}
	s := base64.RawURLEncoding.EncodeToString(packed)
	return s[:(len(w.bits)+5)/6]
}
