package schemas

import (
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the form of an email address that is keyed, so
// that one person's address gives one key however a source system wrote
// it: surrounding whitespace trimmed, Unicode NFC, lower case, and an
// internationalised domain in its ASCII form (münchen.de and
// xn--mnchen-3ya.de are one domain). It returns "" with the reason when
// the address is not one: invisible or control characters (zero-width
// spaces and joiners, byte order marks, bidi controls, NUL), which would
// make two addresses that read alike key apart, are refused, not removed.
func NormalizeEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	ascii := true
	for _, r := range s {
		if invisible(r) {
			return "", "holds an invisible or control character"
		}
		ascii = ascii && r < 0x80
	}
	if ascii {
		// NFC and IDNA change nothing in ASCII; ValidEmail checks the rest.
		s = strings.ToLower(s)
	} else {
		s = strings.ToLower(norm.NFC.String(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 {
		return "", "not a valid email address"
	}
	if !ascii || strings.HasPrefix(s[at+1:], "xn--") || strings.Contains(s[at+1:], ".xn--") {
		domain, err := idna.Lookup.ToASCII(s[at+1:])
		if err != nil {
			return "", "not a valid email address: its domain is not a valid internationalised domain name"
		}
		s = s[:at+1] + domain
	}
	if !ValidEmail(s) {
		return "", "not a valid email address"
	}
	return s, ""
}

// invisible reports whether r is a character a reader does not see: a
// control character, or a format character (zero-width space, joiners,
// word joiner, byte order mark, bidi marks and controls, soft hyphen).
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u200b' || r == '\ufeff'
}

// BaseAddress returns a normalised address without its sub-address (the
// "+tag" of the local part: anna+promo@example.com is anna@example.com),
// and whether it had one.
func BaseAddress(normalized string) (string, bool) {
	at := strings.LastIndexByte(normalized, '@')
	plus := strings.IndexByte(normalized[:max(at, 0)], '+')
	if at < 0 || plus < 1 {
		return normalized, false
	}
	return normalized[:plus] + normalized[at:], true
}
