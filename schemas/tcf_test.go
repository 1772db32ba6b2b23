package schemas

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/schemas/tcfbits"
)

// tcfCoreHead writes the core's fields up to its vendor sections: policy
// version policy, purposes 1 and 2 consented, legitimate interest for the
// purposes li.
func tcfCoreHead(policy int, li ...int) *tcfbits.Writer {
	w := &tcfbits.Writer{}
	w.Put(2, 6).Put(17000000000, 36).Put(17000000000, 36).Put(300, 12).Put(7, 12).Put(1, 6)
	w.Put(4, 6).Put(13, 6) // "EN"
	w.Put(150, 12).Put(policy, 6).Put(1, 1).Put(0, 1).Put(0, 12)
	w.Put(0b11<<22, 24)
	lis := 0
	for _, p := range li {
		lis |= 1 << (24 - p)
	}
	w.Put(lis, 24).Put(0, 1).Put(8, 6).Put(4, 6) // "IE"
	return w
}

// tcfCoreSeg is a whole core segment: vendors 1 to 3 consented in a bit
// field, no legitimate interest, no restriction.
func tcfCoreSeg(policy int, li ...int) string {
	return tcfCoreHead(policy, li...).Put(3, 16).Put(0, 1).Put(0b111, 3).Put(0, 16).Put(0, 1).Put(0, 12).String()
}

// tcfDisclosedSeg is a disclosed vendors segment naming vendors 1 to 3.
var tcfDisclosedSeg = (&tcfbits.Writer{}).Put(1, 3).Put(3, 16).Put(0, 1).Put(0b111, 3).String()

// tcfRanges is a core whose vendor consents are the range entries given as
// (first, last) pairs, under MaxVendorId maxID.
func tcfRanges(maxID int, entries ...[2]int) string {
	w := tcfCoreHead(5).Put(maxID, 16).Put(1, 1).Put(len(entries), 12)
	for _, e := range entries {
		if e[0] == e[1] {
			w.Put(0, 1).Put(e[0], 16)
		} else {
			w.Put(1, 1).Put(e[0], 16).Put(e[1], 16)
		}
	}
	return w.Put(0, 16).Put(0, 1).Put(0, 12).String() + "." + tcfDisclosedSeg
}

func TestDecodeTCFReadsAWellFormedString(t *testing.T) {
	pub := (&tcfbits.Writer{}).Put(3, 3).Put(1<<23, 24).Put(1<<22, 24).Put(2, 6).Put(0b10, 2).Put(0b01, 2).String()
	tc, err := DecodeTCF(tcfRanges(40, [2]int{2, 2}, [2]int{5, 7}, [2]int{40, 40}) + "." + pub)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]uint16{
		"purposeConsents": tc.PurposeConsents, "vendorConsents": tc.VendorConsents, "vendorsDisclosed": tc.VendorsDisclosed,
		"publisherConsents": tc.PublisherConsents, "publisherLegitimateInterests": tc.PublisherLegitimateInterests,
		"publisherCustomConsents": tc.PublisherCustomConsents, "publisherCustomLegitimateInterests": tc.PublisherCustomLegitimateInterests,
	} {
		want := map[string][]uint16{
			"purposeConsents": {1, 2}, "vendorConsents": {2, 5, 6, 7, 40}, "vendorsDisclosed": {1, 2, 3},
			"publisherConsents": {1}, "publisherLegitimateInterests": {2},
			"publisherCustomConsents": {1}, "publisherCustomLegitimateInterests": {2},
		}[name]
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if tc.CmpID != 300 || tc.PolicyVersion != 5 || tc.ConsentLanguage != "EN" || tc.PublisherCountryCode != "IE" || tc.Created.Year() != 2023 {
		t.Errorf("core fields: %+v", tc)
	}
}

// TestDecodeTCFErrorsNameTheFieldAndTheRule: every malformed or
// non-conforming string gives a field error that names the field and the
// rule, and never the string.
func TestDecodeTCFErrorsNameTheFieldAndTheRule(t *testing.T) {
	core := tcfCoreSeg(5)
	for _, tc := range []struct{ name, s, want string }{
		{"legitimate interest for purpose 3 breaks TCF 2.2", tcfCoreSeg(4, 2, 3) + "." + tcfDisclosedSeg,
			"tcf: purposeLegitimateInterests: purpose 3 cannot rest on legitimate interest (TCF 2.2)"},
		{"legitimate interest for purpose 6 breaks TCF 2.2", tcfCoreSeg(4, 6),
			"tcf: purposeLegitimateInterests: purpose 6 cannot rest on legitimate interest (TCF 2.2)"},
		{"a policy version under 4 is refused", tcfCoreSeg(3), "tcf: policyVersion: is 3: TCF 2.2 requires 4 or more"},
		{"policy version 5 (TCF 2.3) requires the disclosed vendors", core,
			"tcf: vendorsDisclosed: is missing: the disclosed vendors segment is required from policy version 5 (TCF 2.3)"},
		{"a version 1 string is refused", "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", "tcf: version: is 1: only TCF v2 strings (version 2) are read"},
		{"a string must begin with the core segment", tcfDisclosedSeg + "." + core, "tcf: version: the string must begin with the core segment, and begins with a segment of type 1"},
		{"an empty string is refused", "", "tcf: string: is empty"},
		{"a character outside base64url is refused", core[:10] + "+" + core[11:], "tcf: string: character 11 is not base64url"},
		{"padding is refused", core + "=", "tcf: string: character " + strconv.Itoa(len(core)+1) + " is not base64url (A-Z, a-z, 0-9, - and _): TC strings have no '=' padding"},
		{"an empty segment is refused", core + "..", "tcf: segments[1]: is empty"},
		{"a segment of type 5 is unknown", core + "." + (&tcfbits.Writer{}).Put(5, 3).Put(0, 21).String(), "tcf: segments[1]: has type 5, which is no TC string segment"},
		{"a segment may not come twice", core + "." + tcfDisclosedSeg + "." + tcfDisclosedSeg, "tcf: segments[2]: is a second vendorsDisclosed segment"},
		{"a truncated core names the field it ends in", core[:20], "tcf: vendorListVersion: the string ends inside this field: it is truncated"},
		{"a truncated vendor section is refused", core[:37], "tcf: vendorConsents: the string ends inside this field: it is truncated"},
		{"range entries must ascend", tcfRanges(40, [2]int{5, 7}, [2]int{2, 2}), "tcf: vendorConsents: range entry 2 does not come after entry 1"},
		{"range entries may not overlap", tcfRanges(40, [2]int{5, 7}, [2]int{7, 9}), "tcf: vendorConsents: range entry 2 does not come after entry 1"},
		{"a range entry may not pass MaxVendorId", tcfRanges(40, [2]int{5, 41}), "tcf: vendorConsents: range entry 1 goes past MaxVendorId"},
		{"a range entry may not end before it starts", tcfRanges(40, [2]int{9, 5}), "tcf: vendorConsents: range entry 1 ends before it starts"},
		{"vendor 0 does not exist", tcfRanges(40, [2]int{0, 0}), "tcf: vendorConsents: range entry 1 names vendor 0"},
		{"a letter past z is refused", tcfLetterPastZ(), "tcf: consentLanguage: holds a letter past z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeTCF(tc.s)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", got)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a *FieldError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want it to begin %q", err, tc.want)
			}
			if len(tc.s) > 8 && strings.Contains(err.Error(), tc.s) {
				t.Errorf("error %q holds the string", err)
			}
		})
	}
}

// tcfLetterPastZ is a core whose consent language's first letter is 30.
func tcfLetterPastZ() string {
	w := tcfCoreHead(4)
	w.Set(108, 30, 6) // after version, times, CMP and screen
	return w.Put(0, 16).Put(0, 1).Put(0, 16).Put(0, 1).Put(0, 12).String()
}

// TestDecodeTCFRefusesEveryPrefixWithoutPanic: a TC string cut anywhere
// decodes or gives a field error.
func TestDecodeTCFRefusesEveryPrefixWithoutPanic(t *testing.T) {
	for _, s := range tcfSeeds(t) {
		for i := range len(s) {
			if _, err := DecodeTCF(s[:i]); err != nil && !strings.HasPrefix(err.Error(), "tcf: ") {
				t.Fatalf("prefix %d: %v", i, err)
			}
		}
	}
}

// tcfSeeds are the specification's examples and the strings of this file.
func tcfSeeds(t testing.TB) []string {
	b, err := os.ReadFile(filepath.Join("testdata", "tcf", "spec-examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var seeds []string
	for _, line := range strings.Split(string(b), "\n") {
		if s, _, _ := strings.Cut(line, "\t"); s != "" && !strings.HasPrefix(s, "#") {
			seeds = append(seeds, s)
		}
	}
	return append(seeds, tcfCoreSeg(4), tcfCoreSeg(5)+"."+tcfDisclosedSeg, tcfRanges(40, [2]int{2, 2}, [2]int{5, 7}))
}

// FuzzDecodeTCF checks that DecodeTCF never panics, that every error is a
// tcf field error, and that what it accepts keeps the promises of
// TCString and the rules of TCF 2.2 and 2.3.
func FuzzDecodeTCF(f *testing.F) {
	for _, s := range tcfSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tc, err := DecodeTCF(s)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || !strings.HasPrefix(err.Error(), "tcf: ") {
				t.Fatalf("error %v is not a tcf field error", err)
			}
			return
		}
		if tc.Version != 2 || tc.PolicyVersion < 4 || tc.CmpID < 2 {
			t.Fatalf("accepted version %d, policy %d, CMP %d", tc.Version, tc.PolicyVersion, tc.CmpID)
		}
		sets := map[string][]uint16{
			"specialFeatureOptins": tc.SpecialFeatureOptins, "purposeConsents": tc.PurposeConsents,
			"purposeLegitimateInterests": tc.PurposeLegitimateInterests, "vendorConsents": tc.VendorConsents,
			"vendorLegitimateInterests": tc.VendorLegitimateInterests, "vendorsDisclosed": tc.VendorsDisclosed,
			"publisherConsents": tc.PublisherConsents, "publisherLegitimateInterests": tc.PublisherLegitimateInterests,
			"publisherCustomConsents": tc.PublisherCustomConsents, "publisherCustomLegitimateInterests": tc.PublisherCustomLegitimateInterests,
		}
		for i, r := range tc.PublisherRestrictions {
			sets["publisherRestrictions"+strconv.Itoa(i)] = r.VendorIDs
			if r.PurposeID < 1 || r.RestrictionType > 2 || len(r.VendorIDs) == 0 {
				t.Fatalf("restriction %+v", r)
			}
		}
		for name, ids := range sets {
			if ids == nil {
				t.Fatalf("%s is nil, want empty", name)
			}
			for i, id := range ids {
				if id == 0 || i > 0 && id <= ids[i-1] {
					t.Fatalf("%s = %v: not ascending ids from 1", name, ids)
				}
			}
		}
		for _, p := range tc.PurposeLegitimateInterests {
			if p >= 3 && p <= 6 {
				t.Fatalf("accepted legitimate interest for purpose %d", p)
			}
		}
	})
}
