package schemas

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Limits caps what a message may hold. A message over any cap is invalid.
type Limits struct {
	// MaxMessageBytes is the largest message, in bytes.
	MaxMessageBytes int
	// MaxStringBytes is the longest string value, in decoded bytes.
	MaxStringBytes int
	// MaxConsents is the most entries a lead's consents may have.
	MaxConsents int
	// MaxDepth is the deepest nesting of objects and arrays; the event
	// object itself is depth 1.
	MaxDepth int
}

// DefaultLimits returns the limits of issue 3: 64 KiB messages, 2 KiB
// strings, 32 consents, nesting 8 deep.
func DefaultLimits() Limits {
	return Limits{MaxMessageBytes: 64 << 10, MaxStringBytes: 2 << 10, MaxConsents: 32, MaxDepth: 8}
}

// FieldError is why an event is invalid: the path of the field ("contact.email",
// "consents[2].at"; "message" for the event as a whole) and a reason. It never
// holds the field's value.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// fieldMessage is the Field of errors about the message as a whole.
const fieldMessage = "message"

// DecodeLead decodes and validates a lead event. Every error is a *FieldError.
func DecodeLead(b []byte, l Limits) (*Lead, error) {
	ev := new(Lead)
	if err := scan(b, l, leadShape, ev); err != nil {
		return nil, err
	}
	if err := ev.validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

// DecodeConsent decodes and validates a consent event. Every error is a *FieldError.
func DecodeConsent(b []byte, l Limits) (*Consent, error) {
	ev := new(Consent)
	if err := scan(b, l, consentShape, ev); err != nil {
		return nil, err
	}
	if err := ev.validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

// DecodeBehavior decodes and validates a behavior event. Every error is a *FieldError.
func DecodeBehavior(b []byte, l Limits) (*Behavior, error) {
	ev := new(Behavior)
	if err := scan(b, l, behaviorShape, ev); err != nil {
		return nil, err
	}
	if err := ev.validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

// Decode decodes an event of any type, chosen by its "type" field: the
// result is a *Lead, a *Consent or a *Behavior. Every error is a *FieldError.
func Decode(b []byte, l Limits) (Event, error) {
	t, err := peekType(b, l)
	if err != nil {
		return nil, err
	}
	switch t {
	case TypeLead:
		return DecodeLead(b, l)
	case TypeConsent:
		return DecodeConsent(b, l)
	case TypeBehavior:
		return DecodeBehavior(b, l)
	}
	// No known type: report a broken message as such first.
	if err := scan(b, l, anyShape, nil); err != nil {
		return nil, err
	}
	switch t {
	case "":
		return nil, &FieldError{Field: "type", Reason: "is required (lead, consent or behavior)"}
	default:
		return nil, &FieldError{Field: "type", Reason: "must be one of lead, consent, behavior"}
	}
}

// notAnObject is the error of a message that does not start with '{',
// naming a UTF-8 byte order mark, which editors on Windows put at the
// start of a file and which reads as nothing on screen.
func notAnObject(rest []byte) *FieldError {
	if bytes.HasPrefix(rest, []byte("\xef\xbb\xbf")) {
		return &FieldError{Field: fieldMessage, Reason: "must be a JSON object, and starts with a UTF-8 byte order mark (BOM): save the file without it"}
	}
	return &FieldError{Field: fieldMessage, Reason: "must be a JSON object"}
}

// peekType returns the value of the top-level "type" field of b, or "" when
// there is none. It checks no more than it must to find it; the full check
// comes with the decoder of that type.
func peekType(b []byte, l Limits) (string, error) {
	if len(b) > l.MaxMessageBytes {
		return "", tooLarge(len(b), l)
	}
	s := scanner{b: b, l: l}
	s.skipSpace()
	if s.i >= len(b) || b[s.i] != '{' {
		return "", notAnObject(b[s.i:])
	}
	s.i++
	for {
		s.skipSpace()
		if s.i < len(b) && b[s.i] == '}' {
			return "", nil
		}
		if s.i >= len(b) || b[s.i] != '"' {
			return "", nil // let the full decoder report what is wrong
		}
		kstart := s.i + 1
		kesc, err := s.str()
		if err != nil {
			return "", err
		}
		key := b[kstart : s.i-1]
		if kesc { // keys and values compare after unescaping (RFC 8259)
			key = []byte(unescape(key))
		}
		s.skipSpace()
		if s.i >= len(b) || b[s.i] != ':' {
			return "", nil
		}
		s.i++
		s.skipSpace()
		if string(key) == "type" && s.i < len(b) && b[s.i] == '"' {
			start := s.i + 1
			esc, err := s.str()
			if err != nil {
				return "", err
			}
			if esc {
				return unescape(b[start : s.i-1]), nil
			}
			return string(b[start : s.i-1]), nil
		}
		if err := s.value(anyShape, 1, reflect.Value{}); err != nil {
			return "", err
		}
		s.skipSpace()
		if s.i < len(b) && b[s.i] == ',' {
			s.i++
			continue
		}
		return "", nil // let the full decoder report what is wrong
	}
}

func tooLarge(n int, l Limits) error {
	return &FieldError{Field: fieldMessage, Reason: fmt.Sprintf("is %d bytes, over the limit of %d", n, l.MaxMessageBytes)}
}

// path renders a field path for an error: "consents[2].at".
func renderPath(segs []pathSeg) string {
	if len(segs) == 0 {
		return fieldMessage
	}
	var sb strings.Builder
	for i, s := range segs {
		if s.name == "" {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.index))
			sb.WriteByte(']')
			continue
		}
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(s.name)
	}
	return sb.String()
}
