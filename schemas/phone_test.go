package schemas

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/leadpipe/leadpipe/bench/workload"
)

// phoneCase is a number as a lead gives it, and the lead's country.
type phoneCase struct{ raw, country string }

// TestTheFastPathIsTheLibrary: NormalizePhone, fast path included, gives
// what the library alone gives (normalizePhoneSlow), the number and
// whether it is one, for every number of the corpus: the benchmark
// workload's, the numbers of the tests and testdata, every example number
// of the library's metadata written in several ways and read in several
// countries, numbers of random digits and separators, and hostile strings.
// It also checks that the fast path takes the numbers it is for: every
// number of the workload, and most of the numbers written with their
// country code.
func TestTheFastPathIsTheLibrary(t *testing.T) {
	sets := []struct {
		name  string
		cases []phoneCase
		// fastAtLeast is the share of the set the fast path must handle.
		fastAtLeast float64
	}{
		{"the benchmark workload's numbers", workloadPhones(t), 1},
		{"the numbers of the tests", testPhones(), 0.4},
		{"the example numbers of the metadata", examplePhones(), 0.4},
		{"random digits after a plus, with separators", randomInternational(20000), 0.5},
		{"numbers with an extension, RFC 3966 parts, letters or other characters", decoratedPhones(), 0},
		{"random and hostile strings", hostilePhones(20000), 0},
	}
	for _, s := range sets {
		t.Run(s.name, func(t *testing.T) {
			if len(s.cases) == 0 {
				t.Fatal("the corpus is empty")
			}
			fast, diff := 0, 0
			for _, c := range s.cases {
				if _, _, handled := phoneInternational(c.raw, phoneRegion(c.country)); handled {
					fast++
				}
				got, gotOK := NormalizePhone(c.raw, c.country)
				want, wantOK := normalizePhoneSlow(c.raw, phoneRegion(c.country))
				if got != want || gotOK != wantOK {
					if diff++; diff <= 10 {
						t.Errorf("NormalizePhone(%q, %q) = %q, %v; the library gives %q, %v", c.raw, c.country, got, gotOK, want, wantOK)
					}
				}
			}
			if diff > 10 {
				t.Errorf("... %d numbers in all differ", diff)
			}
			share := float64(fast) / float64(len(s.cases))
			t.Logf("%d numbers, %d (%.0f %%) by the fast path", len(s.cases), fast, 100*share)
			if share < s.fastAtLeast {
				t.Errorf("the fast path handled %d of %d numbers (%.2f), want at least %.2f", fast, len(s.cases), share, s.fastAtLeast)
			}
		})
	}
}

// TestTheFastPathFollowsPhonenumbersV181: phoneInternational restates
// parseHelper of github.com/nyaruka/phonenumbers v1.8.1. Another version
// may parse otherwise: read its parseHelper again, compare, and change
// the version here. (A test binary carries no module versions, so go.mod
// is read.)
func TestTheFastPathFollowsPhonenumbersV181(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "github.com/nyaruka/phonenumbers") {
			found = append(found, strings.TrimSpace(line))
		}
	}
	if len(found) != 1 || strings.Join(strings.Fields(found[0]), " ") != "github.com/nyaruka/phonenumbers v1.8.1" {
		t.Fatalf("go.mod has %q for phonenumbers; schemas/phone.go's fast path follows v1.8.1 (not replaced): read the new version's parseHelper, then change this test", found)
	}
}

// FuzzNormalizePhone: for any input and any country, NormalizePhone gives
// what the library alone gives.
func FuzzNormalizePhone(f *testing.F) {
	for _, c := range testPhones() {
		f.Add(c.raw, c.country)
	}
	for _, c := range randomInternational(50) {
		f.Add(c.raw, c.country)
	}
	f.Add("+44 (0)20 7946 0958", "GB")
	f.Add("+54 9 11 5555 1234", "AR")
	f.Add("+0039 333 555 0101", "IT")
	f.Add("+800 1234 5678", "001")
	f.Fuzz(func(t *testing.T, raw, country string) {
		got, gotOK := NormalizePhone(raw, country)
		want, wantOK := normalizePhoneSlow(raw, phoneRegion(country))
		if got != want || gotOK != wantOK {
			t.Fatalf("NormalizePhone(%q, %q) = %q, %v; the library gives %q, %v", raw, country, got, gotOK, want, wantOK)
		}
	})
}

// BenchmarkNormalizePhone is NormalizePhone against the library alone
// (normalizePhoneSlow), one number per op: the numbers of the benchmark
// workload (all written with their country code: the fast path), and
// numbers written without it, read in their country (the library either
// way; the fast path's look at them is what it costs there).
//
// Run: go test -run '^$' -bench BenchmarkNormalizePhone -benchmem -count 5 -cpu 1 ./schemas/
func BenchmarkNormalizePhone(b *testing.B) {
	workloadNumbers := workloadPhones(b)
	var national []phoneCase
	for _, c := range testPhones() {
		if !strings.HasPrefix(c.raw, "+") && c.country != "" {
			national = append(national, c)
		}
	}
	for _, set := range []struct {
		name  string
		cases []phoneCase
	}{{"workload", workloadNumbers}, {"national", national}} {
		for _, path := range []struct {
			name      string
			normalize func(raw, country string) (string, bool)
		}{
			{"NormalizePhone", NormalizePhone},
			{"library", func(raw, country string) (string, bool) { return normalizePhoneSlow(raw, phoneRegion(country)) }},
		} {
			b.Run(set.name+"/"+path.name, func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					c := set.cases[i%len(set.cases)]
					path.normalize(c.raw, c.country)
				}
			})
		}
	}
}

// workloadPhones are the phone numbers of the lead events of the default
// workload (the benchmarks' input), malformed events included, with the
// lead's country.
func workloadPhones(t testing.TB) []phoneCase {
	t.Helper()
	evs, err := workload.All(workload.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out []phoneCase
	for _, ev := range evs {
		if ev.Kind != workload.KindLead {
			continue
		}
		var v struct {
			Contact struct {
				Phone   string `json:"phone"`
				Country string `json:"country"`
			} `json:"contact"`
		}
		if json.Unmarshal(ev.Value, &v) != nil || v.Contact.Phone == "" {
			continue
		}
		out = append(out, phoneCase{v.Contact.Phone, v.Contact.Country})
	}
	return out
}

// testPhones are the numbers of leadpipe's tests and testdata
// (stages/classify/identity_test.go, the golden events), each read in its
// own country, in no country and in a few others.
func testPhones() []phoneCase {
	raws := []string{
		"+393335550101", "+39 333 555 0101", "+39-333-555.0101", "0039 333 5550101",
		"333 555 0101", "333 5550101", "(333) 555-0101", "06 5551 2345", "+39 06 5551 2345",
		"0151 5551234", "+49 151 5551234", "(202) 555-0143", "+1 202 555 0143",
		"06 12 55 50 10", "+33 6 12 55 50 10", "+44 (0)20 7946 0958", "020 7946 0958",
		"+39 333 555 0102", "1234", "+33 6 12 34 56 78", "+39 347 555 0303", "+39 333 123 4567",
	}
	var out []phoneCase
	for _, r := range raws {
		for _, c := range []string{"", "IT", "DE", "US", "FR", "GB"} {
			out = append(out, phoneCase{r, c})
		}
	}
	return out
}

// phoneDefaults are the countries the generated numbers are read in:
// none, unknown, a few real ones (Argentina and Brazil strip and rewrite
// national prefixes), the non-geographical "001", and a lower-case code.
var phoneDefaults = []string{"", "ZZ", "IT", "US", "GB", "AR", "BR", "DE", "001", "it", "RU", "KZ", "CA"}

// examplePhones writes every example number of the library's metadata, of
// every region and non-geographical code and of several types, in E.164,
// in international format, with the region's national prefix after the
// country code, one digit short and one digit long, and reads each in its
// own region and in phoneDefaults.
func examplePhones() []phoneCase {
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.VOIP, phonenumbers.UAN,
	}
	type example struct {
		num    *phonenumbers.PhoneNumber
		region string
	}
	var examples []example
	for region := range phonenumbers.GetSupportedRegions() {
		for _, ty := range types {
			if n := phonenumbers.GetExampleNumberForType(region, ty); n != nil {
				examples = append(examples, example{n, region})
			}
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		if n := phonenumbers.GetExampleNumberForNonGeoEntity(cc); n != nil {
			examples = append(examples, example{n, "001"})
		}
	}
	var out []phoneCase
	for _, ex := range examples {
		e164 := phonenumbers.Format(ex.num, phonenumbers.E164)
		cc := e164[:1+len(strconv.Itoa(int(ex.num.GetCountryCode())))]
		nsn := e164[len(cc):]
		forms := []string{
			e164,
			phonenumbers.Format(ex.num, phonenumbers.INTERNATIONAL),
			e164[:len(e164)-1],
			e164 + "7",
			cc + " 0" + nsn,
		}
		if ndd := phonenumbers.GetNddPrefixForRegion(ex.region, true); ndd != "" {
			forms = append(forms, cc+" ("+ndd+") "+nsn, cc+ndd+nsn)
		}
		for _, f := range forms {
			out = append(out, phoneCase{f, ex.region})
			for _, d := range phoneDefaults {
				out = append(out, phoneCase{f, d})
			}
		}
	}
	return out
}

// randomInternational are n numbers of a plus and 1 to 24 random digits,
// with separators between some of them, each read in one of
// phoneDefaults. Their first digits are often a national prefix or a
// country code's.
func randomInternational(n int) []phoneCase {
	r := rand.New(rand.NewPCG(28, 1))
	seps := []string{" ", "-", ".", "(", ")", "/", " (0)", "  "}
	starts := []string{"1", "7", "20", "33", "39", "44", "49", "54 9", "55", "52 1", "61", "86", "800", "870", "882", "979", "0", "00", "39 0", "44 0", "3", "9"}
	out := make([]phoneCase, 0, n)
	for range n {
		var b strings.Builder
		b.WriteByte('+')
		if r.IntN(4) > 0 {
			b.WriteString(starts[r.IntN(len(starts))])
		}
		for range r.IntN(24) + 1 {
			if r.IntN(4) == 0 {
				b.WriteString(seps[r.IntN(len(seps))])
			}
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		out = append(out, phoneCase{b.String(), phoneDefaults[r.IntN(len(phoneDefaults))]})
	}
	return out
}

// decoratedPhones are numbers of the tests written with something the
// fast path does not take: an extension in each way the library reads
// one, RFC 3966 parts, letters, other pluses and digits, a character
// before the plus.
func decoratedPhones() []phoneCase {
	var out []phoneCase
	numbers := []string{"+39 333 555 0101", "+44 (0)20 7946 0958", "+1 202 555 0143", "+49 151 5551234", "+54 9 11 5555 1234"}
	before := []string{"", " ", "tel:", "\uff0b", "++", "a", "(", "0", "\u00a0", "+"}
	after := []string{
		" x12", "x12", " ext. 12", " ext 12", "ext=12", ";ext=12", " #12", "#", " - 503#", ",,12", ";12", " ,12", "~12",
		" int 12", " anexo 12", " \u0434\u043e\u0431 12", " \uff58\uff14", ";isub=12", ";phone-context=+39", ";phone-context=example.com",
		"/x12", "\\x12", " abc", "ABC", "a", "]", "&&]", "\u0663", "\uff10", "\t", "\u00a0", "*12", "+1",
	}
	for _, n := range numbers {
		for _, b := range before {
			for _, a := range after {
				for _, c := range []string{"", "IT", "US"} {
					out = append(out, phoneCase{b + n + a, c})
				}
			}
		}
		for i := 1; i < len(n); i++ { // a letter or a full-width digit inside
			out = append(out, phoneCase{n[:i] + "x" + n[i:], "IT"}, phoneCase{n[:i] + "\uff13" + n[i:], "IT"})
		}
	}
	return out
}

// hostilePhones are n strings of pieces that the parser treats apart:
// pluses (full-width too), digits (Arabic-Indic and full-width too),
// separators, extension labels, RFC 3966 parts, letters, and
// characters its patterns use as syntax.
func hostilePhones(n int) []phoneCase {
	r := rand.New(rand.NewPCG(28, 2))
	pieces := []string{
		"+", "+", "\uff0b", "1", "2", "3", "39", "44", "0", "00", "555", "٣", "０", "\u00a0",
		" ", "-", ".", "(", ")", "/", "x", "ext", " ext. ", "#", ";", ",", ",,", "~", "tel:",
		";phone-context=", ";isub=", ";ext=", "a", "ABC", "]", "[", "&&", "*", "\t", "é", "\x00", "\xff",
	}
	out := make([]phoneCase, 0, n)
	for range n {
		var b strings.Builder
		for range r.IntN(12) + 1 {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		out = append(out, phoneCase{b.String(), phoneDefaults[r.IntN(len(phoneDefaults))]})
	}
	return out
}
