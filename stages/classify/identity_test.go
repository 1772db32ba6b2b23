package classify

import (
	"errors"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// contact is a lead event's contact with this email, as JSON.
func contact(email string) string {
	return `"contact":{"email":"` + email + `","country":"DE"}`
}

// TestOneAddressHowEverWrittenIsOneSuppressionKey: an objection made under
// one form of an address suppresses a lead whose address is another form
// of the same: padded, in other case, composed otherwise, with its domain
// in Unicode or ASCII, with or without a sub-address.
func TestOneAddressHowEverWrittenIsOneSuppressionKey(t *testing.T) {
	for _, tc := range []struct {
		name, objector, lead string
	}{
		{"a leading space", "anna@example.com", " anna@example.com"},
		{"a trailing space", "anna@example.com", "anna@example.com "},
		{"a tab and a newline around it", "anna@example.com", `\tanna@example.com\n`},
		{"upper case", "anna@example.com", "ANNA@EXAMPLE.COM"},
		{"mixed case the other way round", "Anna@Example.Com", "anna@example.com"},
		{"a decomposed accent against a composed one", "jos\u00e9@example.com", "jose\u0301@example.com"},
		{"a composed accent against a decomposed one, escaped in JSON", `jose\u0301@example.com`, `jos\u00e9@example.com`},
		{"an internationalised domain in ASCII", "anna@münchen.de", "anna@xn--mnchen-3ya.de"},
		{"an ASCII domain in Unicode", "anna@xn--mnchen-3ya.de", "anna@münchen.de"},
		{"an internationalised domain in upper case", "anna@münchen.de", "ANNA@MÜNCHEN.DE"},
		{"a sub-address of the objector's address", "anna@example.com", "anna+promo@example.com"},
		{"the address whose sub-address objected", "anna+news@example.com", "anna@example.com"},
		{"a sub-address, padded and in upper case", "anna@example.com", " ANNA+Promo@Example.com "},
		{"an address with two plus signs", "anna@example.com", "anna+a+b@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			st := NewState()
			apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", contact(tc.objector), formKind))
			apply(t, e, st, consentAt("c1", "L1", "2026-11-11T08:00:00Z", "all", "object"))
			r := apply(t, e, st, leadAt("e2", "L2", "2026-11-12T12:00:00Z", contact(tc.lead), formKind)).Record
			if r.Decision != DecisionSuppressed || r.Rule != RuleSuppressedWithdrawal && r.Rule != RuleSuppressedObjection {
				t.Errorf("the lead of %q is %s (%s), want suppressed by the objection of %q", tc.lead, r.Decision, r.Rule, tc.objector)
			}
		})
	}
}

func TestAnotherAddressIsAnotherKey(t *testing.T) {
	for _, tc := range []struct {
		name, objector, lead string
		policy               string
	}{
		{"another local part", "anna@example.com", "anna.b@example.com", ""},
		{"another domain", "anna@example.com", "anna@example.org", ""},
		{"a sub-address when the policy turns sub-addressing off", "anna@example.com", "anna+promo@example.com", "off"},
		{"an address of one person sharing a prefix", "anna@example.com", "annabel@example.com", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			if tc.policy == "off" {
				cp := *p
				off := false
				cp.SubAddressing = &off
				p = &cp
			}
			e := New(p, pseudonym.Development())
			st := NewState()
			apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", contact(tc.objector), formKind))
			apply(t, e, st, consentAt("c1", "L1", "2026-11-11T08:00:00Z", "all", "object"))
			if r := apply(t, e, st, leadAt("e2", "L2", "2026-11-12T12:00:00Z", contact(tc.lead), formKind)).Record; r.Decision != DecisionAccepted {
				t.Errorf("the lead of %q is %s, want accepted: it is not the objector's address %q", tc.lead, r.Decision, tc.objector)
			}
		})
	}
}

// TestAnAddressWithAnInvisibleCharacterIsInvalid: characters a reader does
// not see would make two addresses that read alike key apart; such an
// address is refused with an error naming the field, never keyed.
func TestAnAddressWithAnInvisibleCharacterIsInvalid(t *testing.T) {
	for _, tc := range []struct{ name, email string }{
		{"a zero-width space in the local part", `anna\u200b@example.com`},
		{"a zero-width space in the domain", `anna@exam\u200bple.com`},
		{"a zero-width joiner", `an\u200dna@example.com`},
		{"a zero-width non-joiner", `an\u200cna@example.com`},
		{"a word joiner", `an\u2060na@example.com`},
		{"a byte order mark in front", `\ufeffanna@example.com`},
		{"a right-to-left override", `anna\u202e@example.com`},
		{"a left-to-right mark at the end", `anna@example.com\u200e`},
		{"a bidi isolate", `\u2066anna@example.com`},
		{"a NUL", `anna\u0000@example.com`},
		{"a soft hyphen", `an\u00adna@example.com`},
		{"a control character inside", `an\u0007na@example.com`},
		{"a domain that is not a valid internationalised name", `anna@xn--zz.de`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := leadAt("e1", "L1", "2026-11-10T12:00:00Z", contact(tc.email), formKind)
			_, err := schemas.Decode([]byte(raw), schemas.DefaultLimits())
			var fe *schemas.FieldError
			if !errors.As(err, &fe) || fe.Field != "contact.email" {
				t.Fatalf("decode: %v, want an error naming contact.email", err)
			}
			if strings.Contains(err.Error(), "anna") {
				t.Errorf("the error %q repeats the address", err)
			}
		})
	}
}

// phoneContact is a lead event's contact with this phone number and
// country, and no email, as JSON.
func phoneContact(phone, country string) string {
	c := `"contact":{"phone":"` + phone + `"`
	if country != "" {
		c += `,"country":"` + country + `"`
	}
	return c + "}"
}

// TestOneNumberHowEverWrittenIsOneSuppressionKey: a phone number is keyed
// in E.164, a number without its country code read in the lead's country,
// so an objection made under one lead id reaches a lead with the same
// number written otherwise, without an email in common, whichever of the
// two is read first.
func TestOneNumberHowEverWrittenIsOneSuppressionKey(t *testing.T) {
	for _, tc := range []struct {
		name                             string
		objector, objCountry, lead, land string
	}{
		{"the same number in E.164", "+393335550101", "IT", "+393335550101", "IT"},
		{"spaces", "+39 333 555 0101", "IT", "+393335550101", "IT"},
		{"hyphens and a dot", "+39-333-555.0101", "IT", "+39 333 555 0101", "IT"},
		{"the 00 international prefix", "0039 333 5550101", "IT", "+39 333 555 0101", "IT"},
		{"national form in the lead's country", "333 555 0101", "IT", "+39 333 555 0101", ""},
		{"national form against national form", "333 5550101", "IT", "(333) 555-0101", "IT"},
		{"an Italian landline keeps its 0", "06 5551 2345", "IT", "+39 06 5551 2345", "DE"},
		{"a German mobile, national and international", "0151 5551234", "DE", "+49 151 5551234", "IT"},
		{"a US number with parentheses", "(202) 555-0143", "US", "+1 202 555 0143", ""},
		{"a French number with its trunk 0", "06 12 55 50 10", "FR", "+33 6 12 55 50 10", "FR"},
		{"a UK number with the trunk 0 in parentheses", "+44 (0)20 7946 0958", "", "020 7946 0958", "GB"},
	} {
		for _, objectionFirst := range []bool{true, false} {
			name := tc.name + map[bool]string{true: ", objection first", false: ", lead first"}[objectionFirst]
			t.Run(name, func(t *testing.T) {
				e := New(DefaultPolicy(), pseudonym.Development())
				st := NewState()
				objector := leadAt("e1", "L1", "2026-11-10T12:00:00Z", phoneContact(tc.objector, tc.objCountry), formKind)
				objection := consentAt("c1", "L1", "2026-11-11T08:00:00Z", "all", "object")
				lead := leadAt("e2", "L2", "2026-11-12T12:00:00Z", phoneContact(tc.lead, tc.land), formKind)
				events := []string{objector, objection, lead}
				if !objectionFirst {
					events = []string{lead, objector, objection}
				}
				final := map[string]Record{}
				for _, ev := range events {
					res := apply(t, e, st, ev)
					for _, r := range append([]Record{res.Record}, res.Others...) {
						if r.LeadID != "" {
							final[r.LeadID] = r
						}
					}
				}
				if r := final["L2"]; r.Decision != DecisionSuppressed || r.Rule != RuleSuppressedObjection {
					t.Errorf("the lead of %q is %s (%s), want suppressed by the objection of %q", tc.lead, r.Decision, r.Rule, tc.objector)
				}
			})
		}
	}
}

// TestAnotherNumberIsAnotherKey: other numbers, a number read in another
// country, and numbers that cannot be told (no country code and no
// country, or not a possible number) key nothing in common.
func TestAnotherNumberIsAnotherKey(t *testing.T) {
	for _, tc := range []struct {
		name                             string
		objector, objCountry, lead, land string
	}{
		{"another number", "+39 333 555 0101", "IT", "+39 333 555 0102", "IT"},
		{"the same digits in another country", "333 555 0101", "IT", "333 555 0101", "DE"},
		{"the same national digits, the objector's country unknown", "333 555 0101", "", "333 555 0101", ""},
		{"a number too short to be one", "1234", "IT", "1234", "IT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultPolicy(), pseudonym.Development())
			st := NewState()
			apply(t, e, st, leadAt("e1", "L1", "2026-11-10T12:00:00Z", phoneContact(tc.objector, tc.objCountry), formKind))
			apply(t, e, st, consentAt("c1", "L1", "2026-11-11T08:00:00Z", "all", "object"))
			if r := apply(t, e, st, leadAt("e2", "L2", "2026-11-12T12:00:00Z", phoneContact(tc.lead, tc.land), formKind)).Record; r.Decision != DecisionAccepted {
				t.Errorf("the lead of %q is %s (%s), want accepted: it is not the objector's number %q", tc.lead, r.Decision, r.Rule, tc.objector)
			}
		})
	}
}
