package schemas

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns a phone number in E.164 (+393331234567), the form
// that is keyed, so that one number gives one key however a source system
// wrote it: "+39 333 123 4567", "0039 333-1234567" and, for an Italian
// lead, "333 1234567" are one number. A number without its country code
// is read in the lead's country (contact.country). ok is false when the
// number cannot be told: no country code and no country, or not a possible
// number of its country (github.com/nyaruka/phonenumbers, Google's
// libphonenumber metadata); such a number is not keyed.
//
// A number written with its country code ('+', then ASCII digits and the
// separators space - . ( ) /) takes a fast path (phoneInternational) that
// gives what the library's Parse gives, without its general-purpose
// regular expressions; anything else is parsed by the library
// (normalizePhoneSlow). TestTheFastPathIsTheLibrary and
// FuzzNormalizePhone hold the two to the same answer.
func NormalizePhone(raw, country string) (e164 string, ok bool) {
	region := phoneRegion(country)
	if e164, ok, handled := phoneInternational(raw, region); handled {
		return e164, ok
	}
	return normalizePhoneSlow(raw, region)
}

// phoneRegion is the region a lead's number is parsed in: its country, or
// "ZZ" (unknown: only a number with its country code parses).
func phoneRegion(country string) string {
	if country == "" {
		return "ZZ"
	}
	return country
}

// normalizePhoneSlow is NormalizePhone by the library alone: Parse in the
// region, IsPossibleNumber, Format in E.164.
func normalizePhoneSlow(raw, region string) (e164 string, ok bool) {
	n, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// Bounds of phonenumbers v1.8.1 (phonenumberutil.go), restated for the
// fast path.
const (
	phoneMaxInput = 250 // MAX_INPUT_STRING_LENGTH: longer input is refused
	phoneMinNSN   = 2   // MIN_LENGTH_FOR_NSN
	phoneMaxNSN   = 17  // MAX_LENGTH_FOR_NSN
	// phoneFastDigits bounds the digits the fast path takes: a country
	// code (up to 3) and a national number that can still be stripped of
	// a national prefix down to phoneMaxNSN. Longer input goes the slow
	// way, which refuses it or strips more.
	phoneFastDigits = 3 + phoneMaxNSN
)

// phoneInternational is the library's Parse, IsPossibleNumber and Format
// in E.164 for a number written with its country code: raw is '+' and
// then only ASCII digits and the separators space - . ( ) /. handled is
// false for any other input, and for the cases the fast path leaves to
// the library (a first digit 0, a country code it does not know, fewer
// than 3 digits or more than phoneFastDigits); then e164 and ok mean
// nothing.
//
// It follows parseHelper of github.com/nyaruka/phonenumbers v1.8.1 step by
// step (TestTheFastPathFollowsPhonenumbersV181 fails when the library's
// version changes, so that this is read again). For such input:
//   - buildNationalNumberForParsing keeps raw whole: there is no
//     ";phone-context=" or ";isub=", raw starts with a valid start
//     character ('+'), and neither the trailing-characters pattern nor the
//     second-number pattern ("[\\/] *x") can match without other characters.
//   - isViablePhoneNumber holds when there are 3 digits or more: '+', then
//     digits among punctuation that VALID_PUNCTUATION allows. With fewer,
//     the fast path does not handle it.
//   - checkRegionForParsing holds for any region: raw has a '+'.
//   - maybeStripExtension finds no extension: every alternative of
//     EXTN_PATTERN needs a letter, ';', ',', '#', '~' or a non-ASCII
//     character.
//   - maybeExtractCountryCode strips the '+' and normalizes the rest to its
//     ASCII digits (no letters, so no vanity mapping); then the country code
//     is the first 1, 2 or 3 of them that the metadata knows, unless the
//     first is '0'. Without one the library tries again without the '+':
//     the fast path does not handle it.
//   - The metadata is that of the country code's main region, or of the
//     default region when they are the same (parseMetadata).
//   - The national prefix is stripped as maybeStripNationalPrefixAndCarrierCode
//     does, with the same patterns of the same metadata, and kept only when
//     what remains is of a possible length (stripNationalPrefix).
//   - The lengths of the national number are checked; its national
//     significant number is then the national number's digits themselves;
//     IsPossibleNumber checks its length against the country code's own
//     metadata (possibleNumber), and Format in E.164 writes '+', the
//     country code and those digits.
func phoneInternational(raw, region string) (e164 string, ok, handled bool) {
	if len(raw) < 2 || raw[0] != '+' || len(raw) > phoneMaxInput {
		return "", false, false
	}
	var buf [phoneFastDigits]byte
	n := 0
	for i := 1; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if n == len(buf) {
				return "", false, false
			}
			buf[n] = c
			n++
		case ' ', '-', '.', '(', ')', '/':
		default:
			return "", false, false
		}
	}
	if n < 3 || buf[0] == '0' {
		return "", false, false
	}
	t := phoneTables()
	cc, ccLen := 0, 0
	for i, code := 0, 0; i < 3; i++ {
		if code = code*10 + int(buf[i]-'0'); t.known[code] {
			cc, ccLen = code, i+1
			break
		}
	}
	if cc == 0 {
		return "", false, false
	}
	nsn := string(buf[ccLen:n])
	if len(nsn) < phoneMinNSN {
		return "", false, true // ErrTooShortNSN
	}
	if meta := t.parseMetadata(cc, region); meta != nil {
		var ok bool
		if nsn, ok = stripNationalPrefix(nsn, meta); !ok {
			return "", false, false
		}
	}
	if len(nsn) < phoneMinNSN || len(nsn) > phoneMaxNSN {
		return "", false, true // ErrTooShortNSN, ErrNumTooLong
	}
	for i := 0; i < len(nsn); i++ {
		if nsn[i] < '0' || nsn[i] > '9' {
			return "", false, false // a transform rule that wrote something else
		}
	}
	// The library now sets the number's leading zeros apart from its value
	// (setItalianLeadingZerosForPhoneNumber: the zeros before the first
	// other digit, at most all but the last) and its value (ParseUint of
	// at most 17 digits). Its national significant number, the zeros then
	// the value in decimal, is then nsn itself: the value's decimal has no
	// leading zero, or is the single last "0". IsPossibleNumber and Format
	// in E.164 read only that and the country code.
	switch v, ok := t.possibleNumber(cc, nsn); {
	case !ok:
		return "", false, false
	case v != phonenumbers.IS_POSSIBLE && v != phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", false, true
	}
	// Format in E.164: a plus, the country code, the national significant
	// number.
	b := make([]byte, 0, 1+3+len(nsn))
	b = strconv.AppendInt(append(b, '+'), int64(cc), 10)
	return string(append(b, nsn...)), true, true
}

// phoneTable is the part of the library's metadata the fast path reads,
// built once from the library's own: which country calling codes exist,
// each one's main region, and the metadata of every region and of every
// non-geographical code, as the library's metadata container holds them.
type phoneTable struct {
	known      [1000]bool // country calling codes (at most 3 digits)
	mainRegion [1000]string
	ownMeta    [1000]*phonenumbers.PhoneMetadata // getMetadataForRegionOrCallingCode(cc, main region)
	regions    map[string]bool                   // isValidRegionCode: the regions of some code, "001" excepted
	byRegion   map[string]*phonenumbers.PhoneMetadata
	nonGeo     map[int]*phonenumbers.PhoneMetadata
}

// phoneTables returns the table, built on first use.
var phoneTables = sync.OnceValue(func() *phoneTable {
	t := &phoneTable{
		regions:  map[string]bool{},
		byRegion: map[string]*phonenumbers.PhoneMetadata{},
		nonGeo:   map[int]*phonenumbers.PhoneMetadata{},
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		if cc > 0 && cc < len(t.known) { // else not 1 to 3 digits
			t.known[cc] = true
			t.mainRegion[cc] = phonenumbers.GetRegionCodeForCountryCode(cc)
		}
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		if len(regions) == 1 && regions[0] == "001" {
			continue
		}
		for _, r := range regions {
			t.regions[r] = true
		}
	}
	delete(t.regions, "001")
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return t // the library panics at init without it; never reached
	}
	for _, m := range coll.GetMetadata() {
		if m.GetId() == "001" {
			t.nonGeo[int(m.GetCountryCode())] = m
		} else {
			t.byRegion[m.GetId()] = m
		}
	}
	for cc, known := range t.known {
		if !known {
			continue
		}
		if main := t.mainRegion[cc]; main == "001" {
			t.ownMeta[cc] = t.nonGeo[cc]
		} else {
			t.ownMeta[cc] = t.regionMetadata(main)
		}
	}
	return t
})

// regionMetadata is the library's getMetadataForRegion.
func (t *phoneTable) regionMetadata(region string) *phonenumbers.PhoneMetadata {
	if region == "" || !t.regions[region] {
		return nil
	}
	return t.byRegion[region]
}

// parseMetadata is the metadata parseHelper strips a national prefix
// with, for a number of country code cc parsed in region: the default
// region's, replaced by the country code's own when its main region is
// another.
func (t *phoneTable) parseMetadata(cc int, region string) *phonenumbers.PhoneMetadata {
	meta := t.regionMetadata(region)
	if main := t.mainRegion[cc]; main != region {
		if main == "001" {
			meta = t.nonGeo[cc]
		} else {
			meta = t.regionMetadata(main)
		}
	}
	return meta
}

// possibleNumber is the library's IsPossibleNumberWithReason for a
// number of the known country code cc whose national significant number
// is nsn: the lengths of the country code's own metadata (that of its main
// region, or its non-geographical one). ok is false where the library
// would index an empty list.
func (t *phoneTable) possibleNumber(cc int, nsn string) (phonenumbers.ValidationResult, bool) {
	meta := t.ownMeta[cc]
	if meta.GetGeneralDesc().GetNationalNumberPattern() == "" { // no metadata: any length from 2 to 17
		switch {
		case len(nsn) < phoneMinNSN:
			return phonenumbers.TOO_SHORT, true
		case len(nsn) > phoneMaxNSN:
			return phonenumbers.TOO_LONG, true
		}
		return phonenumbers.IS_POSSIBLE, true
	}
	return possibleLength(nsn, meta)
}

// nationalPatterns are one metadata's patterns that the stripping of a
// national prefix uses, compiled once per metadata (the per-country cache
// of issue 28): the same strings the library compiles.
type nationalPatterns struct {
	prefix, number *regexp.Regexp // nil: the metadata has no prefix for parsing
}

var nationalPatternCache sync.Map // *phonenumbers.PhoneMetadata → *nationalPatterns

func patternsOf(meta *phonenumbers.PhoneMetadata) (*nationalPatterns, bool) {
	if p, ok := nationalPatternCache.Load(meta); ok {
		return p.(*nationalPatterns), true
	}
	p := &nationalPatterns{}
	if np := meta.GetNationalPrefixForParsing(); np != "" {
		var err1, err2 error
		p.prefix, err1 = regexp.Compile("^(?:" + np + ")")
		p.number, err2 = regexp.Compile("^(?:" + meta.GetGeneralDesc().GetNationalNumberPattern() + ")$")
		if err1 != nil || err2 != nil {
			return nil, false // the library would panic (MustCompile); leave it to it
		}
	}
	p2, _ := nationalPatternCache.LoadOrStore(meta, p)
	return p2.(*nationalPatterns), true
}

// stripNationalPrefix is what parseHelper does with a national number
// and the metadata of its country: maybeStripNationalPrefixAndCarrierCode
// (without the carrier code, which NormalizePhone does not keep), then the
// stripped number is kept only if testNumberLength finds it of a possible
// length. ok is false when the fast path leaves the number to the library.
func stripNationalPrefix(nsn string, meta *phonenumbers.PhoneMetadata) (string, bool) {
	p, ok := patternsOf(meta)
	if !ok || len(meta.GetGeneralDesc().GetPossibleLength()) == 0 {
		return "", false // the library's testNumberLength would index an empty list
	}
	if p.prefix == nil || !p.prefix.MatchString(nsn) {
		return nsn, true
	}
	viable := p.number.MatchString(nsn)
	groups := p.prefix.FindStringSubmatchIndex(nsn)
	last := len(groups)/2 - 1
	var stripped string
	if rule := meta.GetNationalPrefixTransformRule(); rule == "" || groups[last*2] < 0 {
		if viable && !p.number.MatchString(nsn[groups[1]:]) {
			return nsn, true
		}
		stripped = nsn[groups[1]:]
	} else {
		transformed := p.prefix.ReplaceAllString(nsn, rule)
		if viable && !p.number.MatchString(transformed) {
			return nsn, true
		}
		stripped = transformed
	}
	switch v, ok := possibleLength(stripped, meta); {
	case !ok:
		return "", false
	case v == phonenumbers.TOO_SHORT || v == phonenumbers.IS_POSSIBLE_LOCAL_ONLY || v == phonenumbers.INVALID_LENGTH:
		return nsn, true
	}
	return stripped, true
}

// possibleLength is the library's testNumberLength for the type UNKNOWN
// (the general description). ok is false where the library would index
// an empty list.
func possibleLength(number string, meta *phonenumbers.PhoneMetadata) (phonenumbers.ValidationResult, bool) {
	desc := meta.GetGeneralDesc()
	lengths := desc.GetPossibleLength()
	if len(lengths) == 0 {
		return 0, false
	}
	if lengths[0] == -1 {
		return phonenumbers.INVALID_LENGTH, true
	}
	actual := int32(len(number))
	for _, l := range desc.GetPossibleLengthLocalOnly() {
		if l == actual {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY, true
		}
	}
	switch {
	case lengths[0] == actual:
		return phonenumbers.IS_POSSIBLE, true
	case lengths[0] > actual:
		return phonenumbers.TOO_SHORT, true
	case lengths[len(lengths)-1] < actual:
		return phonenumbers.TOO_LONG, true
	}
	for _, l := range lengths[1:] {
		if l == actual {
			return phonenumbers.IS_POSSIBLE, true
		}
	}
	return phonenumbers.INVALID_LENGTH, true
}
