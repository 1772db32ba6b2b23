package workload

import (
	"bytes"
	"strconv"
)

// The ways an event is made invalid; each stays on its own topic.
const (
	badTruncated = iota
	badWrongType
	badUnknownField
	badMissingEventID
	badTimestamp
	badUTF8
	badUnknownEnum
	badMissingID
	badOversize
)

var malformWeights = []int{16, 14, 12, 10, 14, 10, 12, 6, 6}

var badTimestamps = []string{
	`"2026-01-05 08:00:00"`, `"05/01/2026 08:00"`, `"2026-02-30T10:00:00Z"`, `"2026-01-05T25:61:00Z"`,
	`"yesterday"`, `""`, `"1767600000"`, `"2026-01-05T08:00:00"`,
}

// malform returns a deliberately invalid copy of value, and the key to send
// it with (empty when the id is gone).
func (g *generator) malform(value, key []byte, kind string, ef eventFacts) ([]byte, []byte) {
	r := &g.rng
	v := bytes.Clone(value)
	idField := "lead_id"
	if ef.anonymous {
		idField = "anonymous_id"
	}
	var out []byte
	switch weighted(r, malformWeights) {
	case badWrongType:
		switch n := intn(r, 3); {
		case n == 0:
			out = replaceValue(v, "occurred_at", []byte(strconv.FormatInt(g.start/1000+int64(g.seq), 10)))
		case n == 1 && !ef.anonymous:
			out = replaceValue(v, "lead_id", bytes.TrimLeft(bytes.TrimPrefix(ef.id, []byte("lead-")), "0"))
		case kind == KindBehavior:
			out = replaceValue(v, "price", []byte(`"12,90"`))
		case kind == KindLead:
			out = replaceValue(v, "is_business", []byte(`"no"`))
		default:
			out = replaceValue(v, "purpose", []byte(`["email_marketing"]`))
		}
	case badUnknownField:
		extra := `"x_source_system":"crm-legacy",`
		at := []byte(`"event_id":`)
		switch kind {
		case KindLead:
			if intn(r, 2) == 0 {
				extra, at = `"nickname":"Gigi",`, []byte(`"email":`)
			}
		case KindBehavior:
			extra, at = `"session_id":"s-`+strconv.FormatUint(g.seq, 10)+`",`, []byte(`"action":`)
		}
		if i := bytes.Index(v, at); i >= 0 {
			out = append(append(append(out, v[:i]...), extra...), v[i:]...)
		}
	case badMissingEventID:
		out = removeField(v, "event_id")
	case badTimestamp:
		out = replaceValue(v, "occurred_at", []byte(pick(r, badTimestamps)))
	case badUTF8:
		field := map[string]string{KindLead: "last_name", KindConsent: "method", KindBehavior: "url"}[kind]
		if i := valueStart(v, field); i >= 0 && v[i] == '"' {
			bad := pick(r, []string{"\xff\xfe", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80"})
			out = append(append(append(out, v[:i+2]...), bad...), v[i+2:]...)
		}
	case badUnknownEnum:
		switch {
		case kind == KindConsent:
			if intn(r, 3) == 0 {
				out = replaceValue(v, "action", []byte(`"unsubscribe"`))
			} else {
				out = replaceValue(v, "purpose", []byte(pick(r, []string{`"newsletter_blast"`, `"marketing"`, `"ALL"`})))
			}
		case kind == KindBehavior:
			out = replaceValue(v, "action", []byte(pick(r, []string{`"scroll"`, `"video_play"`, `"PageView"`})))
		case ef.consents:
			out = replaceValue(v, "purpose", []byte(pick(r, []string{`"newsletter_blast"`, `"marketing"`, `"cookies"`})))
		default:
			// A lead without consents gets one for a purpose that does not exist.
			c := `,"consents":[{"purpose":"newsletter_blast","status":"granted","at":"`
			c += string(appendTime(nil, g.start)) + `","method":"web_form_checkbox","text_version":"privacy-2025-11-v3","proof_ref":"prf-0000"}]}`
			out = append(append(out, v[:len(v)-1]...), c...)
		}
	case badMissingID:
		out = removeField(v, idField)
		key = nil
	case badOversize:
		field := map[string]string{KindLead: "last_name", KindConsent: "proof_ref", KindBehavior: "url"}[kind]
		if i := valueStart(v, field); i >= 0 && v[i] == '"' {
			pad := bytes.Repeat([]byte("x"), 2049+intn(r, 2000))
			out = append(append(append(out, v[:i+1]...), pad...), v[i+1:]...)
		}
	}
	if out == nil { // truncated, or the chosen corruption found nothing to change
		out = v[:len(v)/4+intn(r, len(v)*3/4-1)]
	}
	return out, key
}

// valueStart returns the index of the first byte of the first value of field,
// or -1.
func valueStart(v []byte, field string) int {
	k := make([]byte, 0, len(field)+3)
	k = append(append(append(k, '"'), field...), '"', ':')
	i := bytes.Index(v, k)
	if i < 0 {
		return -1
	}
	return i + len(k)
}

// valueEnd returns the index just past the value starting at i: a string
// without escaped quotes, or a scalar.
func valueEnd(v []byte, i int) int {
	if v[i] == '"' {
		return i + 2 + bytes.IndexByte(v[i+1:], '"')
	}
	for i < len(v) && v[i] != ',' && v[i] != '}' && v[i] != ']' {
		i++
	}
	return i
}

// replaceValue returns v with field's first value replaced by raw, or nil.
func replaceValue(v []byte, field string, raw []byte) []byte {
	i := valueStart(v, field)
	if i < 0 {
		return nil
	}
	j := valueEnd(v, i)
	out := make([]byte, 0, len(v)+len(raw))
	return append(append(append(out, v[:i]...), raw...), v[j:]...)
}

// removeField returns v without field (which is never the first), or nil.
func removeField(v []byte, field string) []byte {
	i := valueStart(v, field)
	if i < 0 {
		return nil
	}
	j := valueEnd(v, i)
	start := i - len(field) - 4 // the comma before the key
	out := make([]byte, 0, len(v))
	return append(append(out, v[:start]...), v[j:]...)
}
