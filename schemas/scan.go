package schemas

// This file stays whole (about 730 lines): it is one strict JSON scanner,
// its cursor, its number and string readers and their field errors, and
// splitting it would scatter one state machine across files.

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The scanner checks a message against the shape of its event and fills the
// event's struct in one pass: syntax, size caps, nesting depth, UTF-8,
// duplicate and unknown fields, and the JSON type of every field, each
// error naming the field's path. Shapes are bound to the structs' json tags
// when the package loads, so that a shape and its struct cannot drift.
//
// Errors that make the rest of the message unreadable (syntax, caps, depth,
// UTF-8, duplicates) stop the scan at once; a shape error (an unknown field,
// a wrong type) is kept and the scan goes on, so that a deep or broken
// message is reported as such even when it is also of the wrong shape.

type kind uint8

const (
	kindAny kind = iota
	kindString
	kindTime
	kindBool
	kindNumber
	kindObject
	kindArray
	kindMap // an object of any field names, each value of shape elem
)

func (k kind) want() string {
	switch k {
	case kindString:
		return "must be a string"
	case kindTime:
		return "must be an RFC 3339 timestamp"
	case kindBool:
		return "must be true or false"
	case kindNumber:
		return "must be a number"
	case kindObject:
		return "must be an object"
	case kindArray:
		return "must be an array"
	case kindMap:
		return "must be an object"
	}
	return "is not allowed"
}

type shape struct {
	kind     kind
	fields   []field  // kindObject: the fields it may have (at most 64), in the order events usually have them
	elem     *shape   // kindArray: the shape of each element; kindMap: of each value
	consents bool     // kindArray: capped by Limits.MaxConsents
	enum     []string // kindString: the values of the schema's enumeration, decoded without an allocation
}

type field struct {
	name  string
	shape *shape
	index int // of the struct field with this json name, set by bind
}

var (
	anyShape    = &shape{kind: kindAny}
	stringShape = &shape{kind: kindString}
	timeShape   = &shape{kind: kindTime}
	boolShape   = &shape{kind: kindBool}
	numberShape = &shape{kind: kindNumber}
)

func object(fs ...field) *shape {
	if len(fs) > 64 {
		panic("schemas: an object shape has more than 64 fields")
	}
	return &shape{kind: kindObject, fields: fs}
}

// enum is the shape of a string of the schema's enumeration values; a
// value that is none of them is still a string of this shape (validate
// refuses it).
func enum(values ...string) *shape {
	return &shape{kind: kindString, enum: values}
}

// str is raw as a string: the enumeration's own string when raw is one of
// its values, which costs no allocation, else a copy.
func (sh *shape) str(raw []byte) string {
	for _, e := range sh.enum {
		if string(raw) == e {
			return e
		}
	}
	return string(raw)
}

func strings_(names ...string) []field {
	fs := make([]field, len(names))
	for i, n := range names {
		fs[i] = field{name: n, shape: stringShape}
	}
	return fs
}

var (
	leadShape = object(
		field{name: "type", shape: enum(TypeLead)},
		field{name: "event_id", shape: stringShape},
		field{name: "occurred_at", shape: timeShape},
		field{name: "lead_id", shape: stringShape},
		field{name: "contact", shape: object(append(strings_("email", "phone", "first_name", "last_name",
			"company", "job_title", "country", "birth_date"), field{name: "is_business", shape: boolShape})...)},
		field{name: "source", shape: object(append([]field{{name: "kind", shape: enum(SourceKinds...)}},
			append(strings_("network", "url", "referrer", "form_id", "list_id", "supplier", "partner_id", "event_name", "import_batch"),
				field{name: "utm", shape: object(strings_("source", "medium", "campaign", "term", "content")...)})...)...)},
		field{name: "consents", shape: &shape{kind: kindArray, consents: true, elem: object(append([]field{
			{name: "purpose", shape: enum(Purposes...)}, {name: "status", shape: enum(ConsentStatuses...)}, {name: "at", shape: timeShape}},
			strings_("method", "collection_point", "text_version", "proof_ref")...)...)}},
		field{name: "relationship", shape: object(field{name: "customer", shape: boolShape}, field{name: "email_from_purchase", shape: boolShape},
			field{name: "last_purchase_at", shape: timeShape})},
		field{name: "request", shape: object(field{name: "type", shape: enum(RequestTypes...)})},
		field{name: "parental_consent", shape: object(field{name: "at", shape: timeShape}, field{name: "method", shape: stringShape},
			field{name: "proof_ref", shape: stringShape})},
	)
	consentShape = object(append([]field{
		{name: "type", shape: enum(TypeConsent)},
		{name: "event_id", shape: stringShape},
		{name: "occurred_at", shape: timeShape},
		{name: "lead_id", shape: stringShape},
		{name: "purpose", shape: enum(append([]string{PurposeAll}, Purposes...)...)},
		{name: "action", shape: enum(ConsentActions...)}},
		strings_("method", "collection_point", "text_version", "proof_ref")...)...)
	behaviorShape = object(
		field{name: "type", shape: enum(TypeBehavior)},
		field{name: "event_id", shape: stringShape},
		field{name: "occurred_at", shape: timeShape},
		field{name: "lead_id", shape: stringShape},
		field{name: "anonymous_id", shape: stringShape},
		field{name: "action", shape: enum(BehaviorActions...)},
		field{name: "url", shape: stringShape},
		field{name: "product", shape: object(field{name: "id", shape: stringShape}, field{name: "category", shape: stringShape}, field{name: "price", shape: numberShape})},
		field{name: "value", shape: numberShape},
		field{name: "currency", shape: stringShape},
		field{name: "consent", shape: object(
			field{name: "tcf", shape: stringShape},
			field{name: "gcm", shape: object(
				field{name: "ad_storage", shape: enum(ConsentStatuses...)},
				field{name: "analytics_storage", shape: enum(ConsentStatuses...)},
				field{name: "ad_user_data", shape: enum(ConsentStatuses...)},
				field{name: "ad_personalization", shape: enum(ConsentStatuses...)})},
			field{name: "gcs", shape: stringShape},
			field{name: "categories", shape: &shape{kind: kindMap, elem: boolShape}},
		)},
	)
)

func init() {
	bind(leadShape, reflect.TypeFor[Lead]())
	bind(consentShape, reflect.TypeFor[Consent]())
	bind(behaviorShape, reflect.TypeFor[Behavior]())
}

// bind sets the index of each field of sh to that of the field of struct t
// whose json name it is, and panics when there is none.
func bind(sh *shape, t reflect.Type) {
	for i := range sh.fields {
		f := &sh.fields[i]
		f.index = -1
		for j := 0; j < t.NumField(); j++ {
			name, _, _ := strings.Cut(t.Field(j).Tag.Get("json"), ",")
			if name == f.name {
				f.index = j
				break
			}
		}
		if f.index < 0 {
			panic("schemas: no field of " + t.Name() + " has the json name " + f.name)
		}
		ft := t.Field(f.index).Type
		switch f.shape.kind {
		case kindObject:
			bind(f.shape, ft.Elem())
		case kindArray:
			bind(f.shape.elem, ft.Elem())
		}
	}
}

// maxKeyBytes is the least cap of a field name, whatever MaxStringBytes.
const maxKeyBytes = 64

type pathSeg struct {
	name  string // "" for an array index
	index int
}

type scanner struct {
	b []byte
	i int
	l Limits
	// The path of the value being scanned is its first len(seg) segments
	// in seg, the rest in deep: held in the scanner by value, not as a
	// slice of itself, so that a scanner stays on the stack.
	seg      [12]pathSeg
	deep     []pathSeg
	depth    int // segments in the path
	shapeErr error
}

func (s *scanner) push(p pathSeg) {
	if s.depth < len(s.seg) {
		s.seg[s.depth] = p
	} else {
		s.deep = append(s.deep, p)
	}
	s.depth++
}

func (s *scanner) pop() {
	s.depth--
	if s.depth >= len(s.seg) {
		s.deep = s.deep[:len(s.deep)-1]
	}
}

// path renders the path of the value being scanned.
func (s *scanner) path() string {
	if s.depth <= len(s.seg) {
		return renderPath(s.seg[:s.depth])
	}
	return renderPath(append(s.seg[:len(s.seg):len(s.seg)], s.deep...))
}

// scan checks b against sh and fills dst, a pointer to the struct that sh
// is bound to (or nil to only check); see the comment at the top of this file.
func scan(b []byte, l Limits, sh *shape, dst any) error {
	if len(b) > l.MaxMessageBytes {
		return tooLarge(len(b), l)
	}
	s := scanner{b: b, l: l}
	s.skipSpace()
	if s.i >= len(b) || b[s.i] != '{' {
		return notAnObject(b[s.i:])
	}
	var v reflect.Value
	if dst != nil {
		v = reflect.ValueOf(dst).Elem()
	}
	if err := s.value(sh, 1, v); err != nil {
		return err
	}
	s.skipSpace()
	if s.i != len(b) {
		return &FieldError{Field: fieldMessage, Reason: fmt.Sprintf("has data after the event at byte %d", s.i)}
	}
	return s.shapeErr
}

func (s *scanner) fail(reason string) error {
	return &FieldError{Field: s.path(), Reason: reason}
}

func (s *scanner) failAt(reason string) error {
	return &FieldError{Field: s.path(), Reason: fmt.Sprintf("%s at byte %d", reason, s.i)}
}

func (s *scanner) shapeFail(reason string) {
	if s.shapeErr == nil {
		s.shapeErr = s.fail(reason)
	}
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value of shape sh into v, which is invalid when the value
// is not kept.
func (s *scanner) value(sh *shape, depth int, v reflect.Value) error {
	if s.i >= len(s.b) {
		return s.fail("unexpected end of input")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		if depth > s.l.MaxDepth {
			return s.fail(fmt.Sprintf("nesting deeper than %d levels", s.l.MaxDepth))
		}
		if sh.kind == kindMap {
			return s.mapObject(sh, depth, v)
		}
		if sh.kind != kindObject {
			if sh.kind != kindAny {
				s.shapeFail(sh.kind.want())
			}
			return s.object(anyShape, depth, reflect.Value{})
		}
		if v.IsValid() && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		return s.object(sh, depth, v)
	case c == '[':
		if depth > s.l.MaxDepth {
			return s.fail(fmt.Sprintf("nesting deeper than %d levels", s.l.MaxDepth))
		}
		if sh.kind != kindArray {
			if sh.kind != kindAny {
				s.shapeFail(sh.kind.want())
			}
			return s.array(anyShape, depth, reflect.Value{})
		}
		return s.array(sh, depth, v)
	case c == '"':
		start := s.i + 1
		esc, err := s.str()
		if err != nil {
			return err
		}
		switch sh.kind {
		case kindAny:
		case kindString:
			if v.IsValid() {
				raw := s.b[start : s.i-1]
				if esc {
					v.SetString(unescape(raw))
				} else {
					v.SetString(sh.str(raw))
				}
			}
		case kindTime:
			var t time.Time
			text := s.b[start : s.i-1]
			if esc { // compared after unescaping, as RFC 8259 defines strings
				text = []byte(unescape(text))
			}
			if t.UnmarshalText(text) != nil {
				s.shapeFail(sh.kind.want())
			} else if v.IsValid() {
				*v.Addr().Interface().(*time.Time) = t
			}
		default:
			s.shapeFail(sh.kind.want())
		}
		return nil
	case c == 't' || c == 'f':
		if err := s.literal(); err != nil {
			return err
		}
		if sh.kind != kindBool && sh.kind != kindAny {
			s.shapeFail(sh.kind.want())
		} else if v.IsValid() && sh.kind == kindBool {
			v.SetBool(c == 't')
		}
		return nil
	case c == 'n':
		return s.literal() // null is an absent value, whatever the shape
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		if err := s.number(); err != nil {
			return err
		}
		switch {
		case sh.kind == kindNumber:
			f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
			if err != nil {
				s.shapeFail("must be a number in range")
			} else if v.IsValid() {
				v.SetFloat(f)
			}
		case sh.kind != kindAny:
			s.shapeFail(sh.kind.want())
		}
		return nil
	}
	return s.failAt("invalid JSON")
}

func (s *scanner) object(sh *shape, depth int, v reflect.Value) error {
	s.i++ // {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	var seen uint64
	next := 0 // where the next field usually is: after the last one
	pos := 0  // the field's position in the object, from 1
	for {
		pos++
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		if s.b[s.i] != '"' {
			return s.failAt("invalid JSON, expected a field name")
		}
		start := s.i + 1
		esc, err := s.strMax(max(s.l.MaxStringBytes, maxKeyBytes))
		if err != nil {
			return err
		}
		key := s.b[start : s.i-1]
		if esc {
			key = []byte(unescape(key))
		}
		child, name := anyShape, ""
		var cv reflect.Value
		idx := -1
		if sh.kind == kindObject {
			n := len(sh.fields)
			for j, k := 0, next; j < n; j, k = j+1, k+1 {
				if k == n {
					k = 0
				}
				if sh.fields[k].name == string(key) {
					idx, next = k, k+1
					break
				}
			}
		}
		if idx >= 0 {
			child, name = sh.fields[idx].shape, sh.fields[idx].name
			if v.IsValid() {
				cv = v.Field(sh.fields[idx].index)
			}
			if seen&(1<<idx) != 0 {
				s.push(pathSeg{name: name})
				return s.fail("appears more than once")
			}
			seen |= 1 << idx
		} else {
			// An unknown field is named by its position, never by its
			// name: a key can hold personal data too.
			name = "#" + strconv.Itoa(pos)
			if sh.kind == kindObject {
				s.shapeFail("unknown field #" + strconv.Itoa(pos))
			}
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		if s.b[s.i] != ':' {
			return s.failAt("invalid JSON, expected ':'")
		}
		s.i++
		s.skipSpace()
		s.push(pathSeg{name: name})
		if err := s.value(child, depth+1, cv); err != nil {
			return err
		}
		s.pop()
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.failAt("invalid JSON, expected ',' or '}'")
		}
	}
}

// mapObject scans an object of any field names into v, a map whose values
// have shape sh.elem, at most MaxConsentCategories of them. A field is
// named in errors by its position ("#2"), never by its name: a name can
// hold personal data too.
func (s *scanner) mapObject(sh *shape, depth int, v reflect.Value) error {
	s.i++ // {
	s.skipSpace()
	if v.IsValid() && v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	seen := map[string]bool{}
	for pos := 1; ; pos++ {
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		if s.b[s.i] != '"' {
			return s.failAt("invalid JSON, expected a field name")
		}
		start := s.i + 1
		esc, err := s.strMax(max(s.l.MaxStringBytes, maxKeyBytes))
		if err != nil {
			return err
		}
		key := string(s.b[start : s.i-1])
		if esc {
			key = unescape(s.b[start : s.i-1])
		}
		name := "#" + strconv.Itoa(pos)
		if seen[key] {
			s.push(pathSeg{name: name})
			return s.fail("appears more than once")
		}
		if pos > MaxConsentCategories {
			return s.fail(fmt.Sprintf("has more than %d fields", MaxConsentCategories))
		}
		seen[key] = true
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		if s.b[s.i] != ':' {
			return s.failAt("invalid JSON, expected ':'")
		}
		s.i++
		s.skipSpace()
		s.push(pathSeg{name: name})
		var ev reflect.Value // null stores the zero value, as encoding/json does
		if v.IsValid() {
			ev = reflect.New(v.Type().Elem()).Elem()
		}
		if err := s.value(sh.elem, depth+1, ev); err != nil {
			return err
		}
		if ev.IsValid() {
			v.SetMapIndex(reflect.ValueOf(key), ev)
		}
		s.pop()
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.failAt("invalid JSON, expected ',' or '}'")
		}
	}
}

func (s *scanner) array(sh *shape, depth int, v reflect.Value) error {
	s.i++ // [
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		if v.IsValid() && v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0)) // as encoding/json does
		}
		return nil
	}
	elem := anyShape
	if sh.kind == kindArray {
		elem = sh.elem
	}
	for n := 0; ; n++ {
		if sh.consents && n >= s.l.MaxConsents {
			return s.fail(fmt.Sprintf("has more than %d entries", s.l.MaxConsents))
		}
		s.skipSpace()
		s.push(pathSeg{index: n})
		var ev reflect.Value
		if v.IsValid() {
			if v.Len() == v.Cap() {
				v.Grow(1)
			}
			v.SetLen(n + 1)
			ev = v.Index(n)
		}
		if err := s.value(elem, depth+1, ev); err != nil {
			return err
		}
		s.pop()
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.failAt("invalid JSON, expected ',' or ']'")
		}
	}
}

// str scans the string at s.i, leaving s.i after its closing quote. It
// reports whether the string has escapes, and fails for invalid UTF-8, lone
// surrogates, control characters and strings over the cap.
func (s *scanner) str() (esc bool, err error) { return s.strMax(s.l.MaxStringBytes) }

// strMax is str with a cap of maxBytes.
func (s *scanner) strMax(maxBytes int) (esc bool, err error) {
	b := s.b
	i := s.i + 1
	start := i
	extra := 0 // raw bytes minus decoded bytes
	for {
		// Skip plain ASCII: eight bytes at a time while none of them ends
		// the string, escapes, is a control character or is not ASCII,
		// then byte by byte.
		for i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) {
			c := b[i]
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				break
			}
			i++
		}
		if i >= len(b) {
			s.i = i
			return esc, s.fail("unexpected end of input in a string")
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			if i-start-extra > maxBytes {
				return esc, s.fail(fmt.Sprintf("is longer than %d bytes", maxBytes))
			}
			return esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				s.i = i
				return esc, s.fail("unexpected end of input in a string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				extra++
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					s.i = i
					return esc, s.failAt("has an invalid \\u escape")
				}
				switch {
				case r >= 0xD800 && r < 0xDC00:
					r2, ok := rune(0), i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u'
					if ok {
						r2, ok = hex4(b, i+8)
					}
					if !ok || r2 < 0xDC00 || r2 >= 0xE000 {
						s.i = i
						return esc, s.failAt("has a lone UTF-16 surrogate")
					}
					i += 12
					extra += 12 - 4
				case r >= 0xDC00 && r < 0xE000:
					s.i = i
					return esc, s.failAt("has a lone UTF-16 surrogate")
				default:
					i += 6
					extra += 6 - utf8.RuneLen(r)
				}
			default:
				s.i = i
				return esc, s.failAt("has an invalid escape")
			}
		case c < 0x20:
			s.i = i
			return esc, s.failAt("has an unescaped control character")
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				s.i = i
				return esc, s.fail("is not valid UTF-8")
			}
			i += size
		}
	}
}

// plain8 reports whether none of the eight bytes of x is a quote, a
// backslash, a control character (< 0x20) or a byte of a multi-byte UTF-8
// sequence (>= 0x80). For a byte c, c-k borrows into the high bit exactly
// when c < k, so (x-0x20…)&^x has a high bit set for a byte below 0x20, and
// (y-0x01…)&^y for a zero byte of y = x^0x22… (a quote) or x^0x5c… (a
// backslash); a borrow only crosses into a byte above one that matched.
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := x^(ones*'"'), x^(ones*'\\')
	return (x|(x-ones*0x20)&^x|(q-ones)&^q|(bs-ones)&^bs)&highs == 0
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (s *scanner) literal() error {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return nil
		}
	}
	if len(s.b)-s.i < 5 {
		return s.fail("unexpected end of input")
	}
	return s.failAt("invalid JSON")
}

// number scans a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	b, i := s.b, s.i
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
		if i < len(b) && b[i] >= '0' && b[i] <= '9' {
			s.i = i
			return s.failAt("invalid number, leading zero")
		}
	case !digits():
		s.i = i
		return s.failAt("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			s.i = i
			return s.failAt("invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			s.i = i
			return s.failAt("invalid number")
		}
	}
	s.i = i
	return nil
}

// unescape decodes the escapes of a JSON string that str has checked.
func unescape(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw, i+2)
			if r >= 0xD800 && r < 0xDC00 {
				r2, _ := hex4(raw, i+8)
				r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // " \ /
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out)
}
