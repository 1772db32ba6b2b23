package schemas

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidExamplesDecode(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.json")
	if len(files) == 0 {
		t.Fatal("no valid examples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := Decode(b, DefaultLimits())
			if err != nil {
				t.Fatalf("does not decode: %v", err)
			}
			// The strict decoder fills the struct as encoding/json would.
			want := reflect.New(reflect.TypeOf(ev).Elem()).Interface()
			if err := json.Unmarshal(b, want); err != nil {
				t.Fatal(err)
			}
			keepDecodedTCF(ev, want)
			if !reflect.DeepEqual(ev, want) {
				t.Errorf("decoded\n%+v\nencoding/json gives\n%+v", ev, want)
			}
		})
	}
}

func TestInvalidExamplesNameTheirField(t *testing.T) {
	f, err := os.Open("testdata/invalid/expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, field, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("expected.txt: %q is not file<TAB>field", line)
		}
		listed[name] = true
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/invalid", name))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(b, DefaultLimits())
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a FieldError naming %s", err, field)
			}
			if fe.Field != field {
				t.Errorf("error %q names %q, want %q", err, fe.Field, field)
			}
		})
	}
	files, _ := filepath.Glob("testdata/invalid/*.json")
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not listed in expected.txt", f)
		}
	}
}

func TestFieldErrorReadsFieldColonReason(t *testing.T) {
	err := &FieldError{Field: "contact.email", Reason: "not a valid email address"}
	if err.Error() != "contact.email: not a valid email address" {
		t.Errorf("%q", err.Error())
	}
}

func TestLimitsAreConfigurable(t *testing.T) {
	b := []byte(`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","contact":{"company":"0123456789012345678901234567890"},"consents":[{"purpose":"profiling","status":"denied"},{"purpose":"sms_marketing","status":"denied"}]}`)
	if _, err := DecodeLead(b, DefaultLimits()); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	for _, tc := range []struct {
		name  string
		l     Limits
		field string
	}{
		{"a smaller message cap refuses the message", Limits{MaxMessageBytes: 150, MaxStringBytes: 2048, MaxConsents: 32, MaxDepth: 8}, "message"},
		{"a smaller string cap names the long string", Limits{MaxMessageBytes: 65536, MaxStringBytes: 25, MaxConsents: 32, MaxDepth: 8}, "contact.company"},
		{"a smaller consent cap names consents", Limits{MaxMessageBytes: 65536, MaxStringBytes: 2048, MaxConsents: 1, MaxDepth: 8}, "consents"},
		{"a smaller depth cap names the deep field", Limits{MaxMessageBytes: 65536, MaxStringBytes: 2048, MaxConsents: 32, MaxDepth: 2}, "consents[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeLead(b, tc.l)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestEscapesDecodeAsEncodingJSONDoes(t *testing.T) {
	b := []byte(`{"type":"consent","event_id":"c\"1\\\/\b\f\n\r\t","occurred_at":"2026-11-12T08:00:00Z","lead_id":"\u004c\u00e9\ud83d\ude00","purpose":"all","action":"erase","\u006dethod":"x"}`)
	ev, err := DecodeConsent(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var want Consent
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if *ev != want {
		t.Errorf("%+v, want %+v", *ev, want)
	}
}

func TestEventInterface(t *testing.T) {
	for _, tc := range []struct {
		raw          string
		typ, id, lid string
	}{
		{`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`, "lead", "e1", "L1"},
		{`{"type":"consent","event_id":"c1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L2","purpose":"all","action":"object"}`, "consent", "c1", "L2"},
		{`{"event_id":"b1","type":"behavior","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"v","action":"search"}`, "behavior", "b1", ""},
	} {
		ev, err := Decode([]byte(tc.raw), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventType() != tc.typ || ev.EventID() != tc.id || ev.LeadID() != tc.lid {
			t.Errorf("%s %s %s, want %s %s %s", ev.EventType(), ev.EventID(), ev.LeadID(), tc.typ, tc.id, tc.lid)
		}
	}
}

// FuzzDecode checks that the decoder never panics, that what it accepts
// encoding/json reads the same way, and that a decoded event re-encodes and
// decodes again to the same event.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	l := DefaultLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Decode(b, l)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v is not a FieldError with a field", err)
			}
			return
		}
		want := reflect.New(reflect.TypeOf(ev).Elem()).Interface()
		if err := json.Unmarshal(b, want); err != nil {
			t.Fatalf("accepted, but encoding/json refuses it: %v", err)
		}
		keepDecodedTCF(ev, want)
		if !reflect.DeepEqual(ev, want) {
			t.Fatalf("decoded %+v, encoding/json gives %+v", ev, want)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(ev); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		relaxed := l
		relaxed.MaxMessageBytes *= 8 // escapes may grow the message
		again, err := Decode(buf.Bytes(), relaxed)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, buf.Bytes())
		}
		if !reflect.DeepEqual(normal(ev), normal(again)) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, again)
		}
	})
}

// keepDecodedTCF copies into want, which encoding/json filled, the TC
// string that validate decoded into ev, the one field encoding/json
// cannot fill.
func keepDecodedTCF(ev Event, want any) {
	if b, ok := ev.(*Behavior); ok && b.Consent != nil && want.(*Behavior).Consent != nil {
		want.(*Behavior).Consent.tc = b.Consent.tc
	}
}

func TestABehaviorEventsTCFIsDecodedOnce(t *testing.T) {
	b, err := os.ReadFile("testdata/valid/behavior_consent.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := DecodeBehavior(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	tc := ev.Consent.TC()
	if tc == nil || !reflect.DeepEqual(tc.PublisherConsents, []uint16{1, 8}) || !reflect.DeepEqual(tc.VendorConsents, []uint16{2, 755}) {
		t.Errorf("decoded TC string %+v", tc)
	}
	if (*PageConsent)(nil).TC() != nil {
		t.Error("no consent object has a TC string")
	}
}

// normal re-encodes an event, so that equal instants in different zones
// and nil versus empty slices compare equal.
func normal(ev Event) string {
	b, _ := json.Marshal(ev)
	return string(b)
}

// TestJSONSchemasMatchTheDecoder keeps the JSON Schema files and the
// decoder's shapes in step: the same fields at every level.
func TestJSONSchemasMatchTheDecoder(t *testing.T) {
	for file, sh := range map[string]*shape{
		"lead.schema.json": leadShape, "consent.schema.json": consentShape, "behavior.schema.json": behaviorShape,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema is %v", file, doc["$schema"])
		}
		compareShape(t, file, doc, sh)
	}
}

func compareShape(t *testing.T, where string, doc map[string]any, sh *shape) {
	t.Helper()
	props, _ := doc["properties"].(map[string]any)
	if doc["additionalProperties"] != false {
		t.Errorf("%s: additionalProperties is not false", where)
	}
	if len(props) != len(sh.fields) {
		t.Errorf("%s: %d properties, the decoder has %d fields", where, len(props), len(sh.fields))
	}
	for _, f := range sh.fields {
		p, ok := props[f.name].(map[string]any)
		if !ok {
			t.Errorf("%s: no property %s", where, f.name)
			continue
		}
		switch f.shape.kind {
		case kindObject:
			compareShape(t, where+"."+f.name, p, f.shape)
		case kindArray:
			items, _ := p["items"].(map[string]any)
			compareShape(t, where+"."+f.name+"[]", items, f.shape.elem)
		}
	}
}

func TestPlain8AgreesWithTheByteByByteCheck(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' && c < 0x80 }
	base := []byte("abcdefgh")
	for pos := range 8 {
		for c := range 256 {
			w := append([]byte(nil), base...)
			w[pos] = byte(c)
			// Every other byte too, so that borrows from one byte into the
			// next are exercised.
			for _, other := range []byte{0x00, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xff} {
				for o := range 8 {
					if o == pos {
						continue
					}
					v := append([]byte(nil), w...)
					v[o] = other
					want := true
					for _, b := range v {
						want = want && plain(b)
					}
					if got := plain8(binary.LittleEndian.Uint64(v)); got != want {
						t.Fatalf("plain8(%q) = %v, want %v", v, got, want)
					}
				}
			}
		}
	}
}

func TestAnErrorDeeperThanTheScannersPathArrayNamesItsWholePath(t *testing.T) {
	l := DefaultLimits()
	l.MaxDepth = 64
	msg := `{"type":"lead","x":` + strings.Repeat(`[`, 20) + `"\q"` + strings.Repeat(`]`, 20) + `}`
	_, err := DecodeLead([]byte(msg), l)
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a FieldError", err)
	}
	want := "#2" + strings.Repeat("[0]", 20) // an unknown field, named by its position
	if fe.Field != want {
		t.Errorf("field %q, want %q", fe.Field, want)
	}
}

// TestEscapedStringsAreTheStringsTheyEscape: string values and keys are
// compared after JSON unescaping, as RFC 8259 defines them: an event
// written with \u escapes decodes to the very event written without.
func TestEscapedStringsAreTheStringsTheyEscape(t *testing.T) {
	for _, tc := range []struct{ name, escaped, plain string }{
		{"an escaped type", `{"type":"le\u0061d","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`,
			`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`},
		{"an escaped key", `{"t\u0079pe":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead\u005fid":"L1"}`,
			`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`},
		{"an escaped time", `{"type":"lead","event_id":"e1","occurred_at":"2026\u002d11-10T12:00:00Z","lead_id":"L1"}`,
			`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`},
		{"an escaped enum value", `{"type":"consent","event_id":"c1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","purpose":"em\u0061il_marketing","action":"o\u0062ject"}`,
			`{"type":"consent","event_id":"c1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","purpose":"email_marketing","action":"object"}`},
		{"an escaped source kind and country", `{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","source":{"kind":"web_\u0066orm"},"contact":{"country":"\u0049T"}}`,
			`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","source":{"kind":"web_form"},"contact":{"country":"IT"}}`},
		{"an escaped event id", `{"type":"behavior","event_id":"b\u0031","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"v1","action":"page_view"}`,
			`{"type":"behavior","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"v1","action":"page_view"}`},
		{"an escaped solidus and a surrogate pair", `{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L\/1","contact":{"first_name":"\ud83d\ude00"}}`,
			`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L/1","contact":{"first_name":"😀"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.escaped), DefaultLimits())
			if err != nil {
				t.Fatalf("escaped: %v", err)
			}
			want, err := Decode([]byte(tc.plain), DefaultLimits())
			if err != nil {
				t.Fatalf("plain: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("escaped decodes to %+v, want %+v", got, want)
			}
		})
	}
}
