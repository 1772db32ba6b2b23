package workload

import (
	"strconv"
	"time"
)

// jw appends one JSON object to a byte slice, keeping fields in the order they
// are written; empty strings are omitted so optional fields can be written
// unconditionally.
type jw struct {
	b     []byte
	comma bool
}

func (w *jw) begin() {
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *jw) end() {
	w.b = append(w.b, '}')
	w.comma = true
}

func (w *jw) key(k string) {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	w.comma = false
}

// obj opens a nested object under k; close it with end.
func (w *jw) obj(k string) {
	w.key(k)
	w.begin()
}

// arr opens a nested array under k; close it with endArr.
func (w *jw) arr(k string) {
	w.key(k)
	w.b = append(w.b, '[')
	w.comma = false
}

func (w *jw) endArr() {
	w.b = append(w.b, ']')
	w.comma = true
}

// elem starts an object element of an array.
func (w *jw) elem() {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.begin()
}

func (w *jw) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = appendQuoted(w.b, v)
	w.comma = true
}

// raw writes v, which must already be a JSON string's bytes without quotes
// and need no escaping.
func (w *jw) raw(k string, v []byte) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = append(w.b, v...)
	w.b = append(w.b, '"')
	w.comma = true
}

func (w *jw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
	w.comma = true
}

// cents writes an amount of cents as a decimal number with two places.
func (w *jw) cents(k string, c int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, c/100, 10)
	w.b = append(w.b, '.', byte('0'+c%100/10), byte('0'+c%10))
	w.comma = true
}

// ts writes an RFC 3339 UTC timestamp with milliseconds.
func (w *jw) ts(k string, ms int64) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = appendTime(w.b, ms)
	w.b = append(w.b, '"')
	w.comma = true
}

// date writes a YYYY-MM-DD date.
func (w *jw) date(k string, t time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.DateOnly)
	w.b = append(w.b, '"')
	w.comma = true
}

// tsSec writes an RFC 3339 UTC timestamp with whole seconds, as the systems
// that record consents and purchases tend to.
func (w *jw) tsSec(k string, ms int64) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = time.UnixMilli(ms).UTC().AppendFormat(w.b, time.RFC3339)
	w.b = append(w.b, '"')
	w.comma = true
}

const tsLayout = "2006-01-02T15:04:05.000Z"

func appendTime(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, tsLayout)
}

// appendQuoted appends s as a JSON string. Non-ASCII UTF-8 passes through.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
