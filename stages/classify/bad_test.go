package classify

import (
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestBadInputs feeds broken and hostile events through the decoder and the
// engine, as the stream and the offline tool do: each is invalid with an
// error naming the field, or classified with an ignored consent that says
// why, and none panics.
func TestBadInputs(t *testing.T) {
	ok := `"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"`
	deep := strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20)
	many := strings.TrimSuffix(strings.Repeat(emailOK+",", 33), ",")
	cases := []struct {
		name    string
		raw     string
		field   string // the decode error names this field
		ignored string // else: an ignored consent says this
	}{
		{"an empty message is invalid", ``, "message", ""},
		{"a JSON array is not an event", `[1,2]`, "message", ""},
		{"a JSON string is not an event", `"lead"`, "message", ""},
		{"truncated JSON names the field being read", `{` + ok + `,"contact":{"email":"a@b.it"`, "contact", ""},
		{"truncated JSON inside a string", `{` + ok + `,"contact":{"email":"a@b`, "contact.email", ""},
		{"a missing comma is invalid JSON", `{"type":"lead" "event_id":"e1"}`, "message", ""},
		{"a trailing comma is invalid JSON", `{` + ok + `,}`, "message", ""},
		{"data after the event is invalid", `{` + ok + `} {}`, "message", ""},
		{"single quotes are invalid JSON", `{'type':'lead'}`, "message", ""},
		{"an unknown type is invalid", `{"type":"visit","event_id":"e1"}`, "type", ""},
		{"a missing type is invalid", `{"event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`, "type", ""},
		{"a numeric type is invalid", `{"type":1,` + ok[14:] + `}`, "type", ""},
		{"a missing event_id is invalid", `{"type":"lead","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`, "event_id", ""},
		{"an event_id of 129 characters is invalid", `{"type":"lead","event_id":"` + strings.Repeat("x", 129) + `","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"}`, "event_id", ""},
		{"a blank lead_id is invalid", `{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"  "}`, "lead_id", ""},
		{"a missing occurred_at is invalid", `{"type":"lead","event_id":"e1","lead_id":"L1"}`, "occurred_at", ""},
		{"a non RFC 3339 occurred_at is invalid", `{"type":"lead","event_id":"e1","occurred_at":"10/11/2026","lead_id":"L1"}`, "occurred_at", ""},
		{"a numeric occurred_at is invalid", `{"type":"lead","event_id":"e1","occurred_at":1731240000,"lead_id":"L1"}`, "occurred_at", ""},
		{"an unknown top-level field is invalid, named by its position", `{` + ok + `,"score":7}`, "message", ""},
		{"an unknown nested field is invalid, named by its position", `{` + ok + `,"contact":{"emial":"a@b.it"}}`, "contact", ""},
		{"a field in another case is unknown", `{` + ok + `,"Contact":{}}`, "message", ""},
		{"a duplicate top-level key is invalid", `{` + ok + `,"lead_id":"L2"}`, "lead_id", ""},
		{"a duplicate nested key is invalid", `{` + ok + `,"contact":{"email":"a@b.it","email":"c@d.it"}}`, "contact.email", ""},
		{"invalid UTF-8 in a value names the field", "{" + ok + `,"contact":{"first_name":"Mar` + "\xff" + `io"}}`, "contact.first_name", ""},
		{"an overlong UTF-8 encoding is invalid", "{" + ok + `,"contact":{"last_name":"` + "\xc0\xaf" + `"}}`, "contact.last_name", ""},
		{"a lone surrogate escape is invalid", `{` + ok + `,"contact":{"company":"\ud800"}}`, "contact.company", ""},
		{"a raw control character in a string is invalid", "{" + ok + `,"contact":{"company":"a` + "\x01" + `b"}}`, "contact.company", ""},
		{"a string over 2 KiB is invalid", `{` + ok + `,"source":{"url":"https://x.example/` + strings.Repeat("a", 2100) + `"}}`, "source.url", ""},
		{"a message over 64 KiB is invalid", `{` + ok + `,"source":{"url":"` + strings.Repeat("a", 70000) + `"}}`, "message", ""},
		{"nesting deeper than 8 is invalid", `{` + ok + `,"contact":` + deep + `}`, "contact.#1.#1.#1.#1.#1.#1.#1", ""},
		{"33 consents are too many", `{` + ok + `,"consents":[` + many + `]}`, "consents", ""},
		{"a consents object instead of an array is invalid", `{` + ok + `,"consents":{"purpose":"email_marketing"}}`, "consents", ""},
		{"a string is_business is invalid", `{` + ok + `,"contact":{"is_business":"yes"}}`, "contact.is_business", ""},
		{"a string price is invalid", `{"type":"behavior","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"v1","action":"purchase","product":{"price":"9.90"}}`, "product.price", ""},
		{"a price out of float range is invalid", `{"type":"behavior","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"v1","action":"purchase","value":1e999}`, "value", ""},
		{"a malformed number is invalid", `{"type":"behavior","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"v1","action":"purchase","value":01}`, "value", ""},
		{"an email without a domain is invalid", `{` + ok + `,"contact":{"email":"mario@"}}`, "contact.email", ""},
		{"an email with a display name is invalid", `{` + ok + `,"contact":{"email":"Mario <m@b.it>"}}`, "contact.email", ""},
		{"a lower-case country is invalid", `{` + ok + `,"contact":{"country":"it"}}`, "contact.country", ""},
		{"a three-letter country is invalid", `{` + ok + `,"contact":{"country":"ITA"}}`, "contact.country", ""},
		{"an impossible birth date is invalid", `{` + ok + `,"contact":{"birth_date":"2010-02-30"}}`, "contact.birth_date", ""},
		{"a birth date with a time is invalid", `{` + ok + `,"contact":{"birth_date":"2010-02-03T00:00:00Z"}}`, "contact.birth_date", ""},
		{"an unknown source kind is invalid", `{` + ok + `,"source":{"kind":"carrier_pigeon"}}`, "source.kind", ""},
		{"an unknown consent purpose is invalid", `{` + ok + `,"consents":[{"purpose":"telepathy","status":"granted"}]}`, "consents[0].purpose", ""},
		{"a consent purpose all in a lead is invalid", `{` + ok + `,"consents":[{"purpose":"all","status":"granted"}]}`, "consents[0].purpose", ""},
		{"an unknown consent status is invalid", `{` + ok + `,"consents":[` + emailOK + `,{"purpose":"profiling","status":"maybe"}]}`, "consents[1].status", ""},
		{"a consent at that is not a timestamp is invalid", `{` + ok + `,"consents":[{"purpose":"profiling","status":"granted","at":"yesterday"}]}`, "consents[0].at", ""},
		{"an unknown request type is invalid", `{` + ok + `,"request":{"type":"hug"}}`, "request.type", ""},
		{"a consent event with an unknown action is invalid", `{"type":"consent","event_id":"c1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","purpose":"all","action":"ignore"}`, "action", ""},
		{"a consent event with an unknown purpose is invalid", `{"type":"consent","event_id":"c1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","purpose":"spam","action":"grant"}`, "purpose", ""},
		{"a behavior with both lead_id and anonymous_id is invalid", `{"type":"behavior","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","anonymous_id":"v1","action":"page_view"}`, "anonymous_id", ""},
		{"a behavior with neither lead_id nor anonymous_id is invalid", `{"type":"behavior","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","action":"page_view"}`, "lead_id", ""},
		{"a lead with a behavior field is invalid", `{` + ok + `,"anonymous_id":"v1"}`, "message", ""},
		// Decodes, but the consent is ignored with a reason.
		{"a future consent is ignored", `{` + ok + `,"consents":[{"purpose":"email_marketing","status":"granted","at":"2027-01-01T00:00:00Z","method":"checkbox","text_version":"v1","proof_ref":"p"}]}`, "", "in the future"},
		{"a consent without proof is ignored", `{` + ok + `,"consents":[{"purpose":"email_marketing","status":"granted","at":"2026-11-01T00:00:00Z","method":"checkbox","text_version":"v1"}]}`, "", "no collection_point or proof_ref"},
		{"a consent without a text version is ignored", `{` + ok + `,"consents":[{"purpose":"sms_marketing","status":"granted","at":"2026-11-01T00:00:00Z","method":"checkbox","proof_ref":"p"}]}`, "", "no text_version"},
		{"a consent without a time is ignored", `{` + ok + `,"consents":[{"purpose":"sms_marketing","status":"granted","method":"checkbox","text_version":"v1","proof_ref":"p"}]}`, "", "no at"},
		{"a consent event grant without a method is ignored", `{"type":"consent","event_id":"c1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","purpose":"profiling","action":"grant","text_version":"v1","proof_ref":"p"}`, "", "no method"},
		{"a consent event grant from the future is ignored", `{"type":"consent","event_id":"c1","occurred_at":"2026-11-20T12:00:00Z","lead_id":"L1","purpose":"profiling","action":"grant","method":"checkbox","text_version":"v1","proof_ref":"p"}`, "", "in the future"},
		{"a consent event grant for all is ignored", `{"type":"consent","event_id":"c1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","purpose":"all","action":"grant","method":"checkbox","text_version":"v1","proof_ref":"p"}`, "", "specific"},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	e := New(DefaultPolicy(), pseudonym.Development())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := schemas.Decode([]byte(tc.raw), schemas.DefaultLimits())
			if tc.field != "" {
				fe, ok := err.(*schemas.FieldError)
				if !ok {
					t.Fatalf("error %v (%T), want a *schemas.FieldError for %s", err, err, tc.field)
				}
				if fe.Field != tc.field {
					t.Errorf("error %q names %q, want %q", err, fe.Field, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("does not decode: %v", err)
			}
			st := NewState()
			run(t, e, st, lead("e0", "L1", adultIT, formKind)) // the lead, for consent events
			res, err := e.Apply(ev, []byte(tc.raw), st, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Audit.IgnoredConsents) != 1 || !strings.Contains(res.Audit.IgnoredConsents[0].Why, tc.ignored) {
				t.Errorf("ignored consents %+v, want one saying %q", res.Audit.IgnoredConsents, tc.ignored)
			}
		})
	}
}

// TestAnUnknownFieldIsNamedByItsPositionNeverByItsName: a key can hold
// personal data; an error names the object and the field's position.
func TestAnUnknownFieldIsNamedByItsPositionNeverByItsName(t *testing.T) {
	ok := `"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1"`
	for _, tc := range []struct{ name, raw, want string }{
		{"a top-level key that is a name", `{` + ok + `,"mario_rossi":1}`, "message: unknown field #5"},
		{"a nested key that is an email", `{` + ok + `,"contact":{"country":"IT","mario.rossi@example.it":true}}`, "contact: unknown field #2"},
		{"a key in a consent", `{` + ok + `,"consents":[{"purpose":"email_marketing","status":"granted","Rossi":"x"}]}`, "consents[0]: unknown field #3"},
		{"bad JSON inside an unknown key's value: its keys are unknown too", `{` + ok + `,"mario_rossi":{"rossi":"\q"}}`, "#5.#1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schemas.Decode([]byte(tc.raw), schemas.DefaultLimits())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			for _, pd := range []string{"mario", "rossi", "Rossi"} {
				if err != nil && strings.Contains(err.Error(), pd) {
					t.Errorf("error %q names the key %q", err, pd)
				}
			}
		})
	}
}

// TestErrorsHoldNoValues checks that no decode error repeats a value.
func TestErrorsHoldNoValues(t *testing.T) {
	secret := "mario.rossi.secret"
	for _, raw := range []string{
		`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","contact":{"email":"` + secret + `"}}`,
		`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","contact":{"country":"` + secret + `"}}`,
		`{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","` + secret + `":1}`,
		`{"type":"lead","event_id":"e1","occurred_at":"` + secret + `","lead_id":"L1"}`,
		`{"type":"` + secret + `"}`,
	} {
		_, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "mario") {
			t.Errorf("error %v for %s", err, raw)
		}
	}
}
