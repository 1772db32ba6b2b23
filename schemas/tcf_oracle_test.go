package schemas

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The oracle of DecodeTCF is IAB's reference library @iabtechlabtcf/core
// 1.5.21 (npm), run with node: testdata/tcf/oracle.mjs makes random
// TCModels, encodes them with the reference encoder and decodes them with
// the reference decoder. The tests below need node and npm; they fail on
// CI (CI=true) without them, and skip elsewhere.
//
// Where DecodeTCF and the reference differ, on purpose:
//
//   - The rules of TCF 2.2 and 2.3 (checkPolicy): the reference decodes a
//     string of policy version 2 or 3, one with legitimate interest for
//     purposes 3 to 6, and one of policy version 5 without the disclosed
//     vendors segment. DecodeTCF refuses them; the tests check that its
//     format decoder (decodeTCF) reads them as the reference does, and
//     that DecodeTCF names the rule the reference's own model breaks.
//   - The format, where the specification is stricter than the reference
//     (tcfStricter): the reference reads version 1 strings and strings
//     that do not begin with the core segment, letters past z, range
//     entries that end before they start, overlap, descend or pass
//     MaxVendorId, restrictions of purpose 0 or type 3 that name no
//     vendor, the same restriction twice, and a segment twice (the last
//     wins). DecodeTCF refuses each, with a field error.
//
// Whatever the reference refuses, DecodeTCF refuses too.

// tcfOracleLine is one line of oracle.mjs: the reference's decoding of
// TC, or its error.
type tcfOracleLine struct {
	TC  string          `json:"tc"`
	Ref json.RawMessage `json:"ref"`
	Err *string         `json:"err"`
}

// tcfOracle returns a function that runs oracle.mjs with args and stdin
// and returns its lines. The npm packages go to a cache outside the
// repository ($LEADPIPE_CACHE, else ~/.cache/leadpipe), keyed by the
// lock file, installed once with npm ci.
func tcfOracle(t *testing.T) func(stdin string, args ...string) []tcfOracleLine {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the TCF oracle needs node and npm, required on CI: %v", err)
		}
		t.Skipf("skipping the TCF oracle (node and npm run IAB's reference library; required on CI): %v", err)
	}
	src := filepath.Join("testdata", "tcf")
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	base := os.Getenv("LEADPIPE_CACHE")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(home, ".cache", "leadpipe")
	}
	dir := filepath.Join(base, "tcf-oracle-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@iabtechlabtcf", "core", "package.json")); err != nil {
		// Install into a fresh directory, then move it in place: another
		// test process may be doing the same.
		if err := os.MkdirAll(base, 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(base, "tcf-oracle-install-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		for _, f := range []string{"package.json", "package-lock.json"} {
			copyFile(t, filepath.Join(src, f), filepath.Join(tmp, f))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci of the TCF oracle in %s: %v\n%s", tmp, err, out)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, statErr := os.Stat(dir); statErr != nil {
				t.Fatalf("moving the TCF oracle's packages in place: %v", err)
			}
		}
	}
	// The script sits beside its node_modules, where node resolves them.
	copyFile(t, filepath.Join(src, "oracle.mjs"), filepath.Join(dir, "oracle.mjs"))
	return func(stdin string, args ...string) []tcfOracleLine {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, append([]string{"oracle.mjs"}, args...)...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node oracle.mjs %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		var lines []tcfOracleLine
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var l tcfOracleLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("oracle line %d: %v", len(lines)+1, err)
			}
			lines = append(lines, l)
		}
		return lines
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameAsReference reports how the decoding of tc differs from the
// reference's, "" when it does not. oracle.mjs writes the reference's
// model as encoding/json writes a TCString, so equal means the same bytes.
func sameAsReference(tc *TCString, ref json.RawMessage) string {
	got, err := json.Marshal(tc)
	if err != nil {
		return err.Error()
	}
	if bytes.Equal(got, ref) {
		return ""
	}
	return "got  " + string(got) + "\nwant " + string(ref)
}

// policyRule is the rule of TCF 2.2 or 2.3 that the reference's decoding
// of s breaks, worked out from the reference's model alone: the field
// DecodeTCF's error must name, "" for none.
func policyRule(s string, ref json.RawMessage) string {
	var m struct {
		PolicyVersion int   `json:"policyVersion"`
		LI            []int `json:"purposeLegitimateInterests"`
	}
	if err := json.Unmarshal(ref, &m); err != nil {
		return "unreadable reference model"
	}
	if m.PolicyVersion < 4 {
		return "policyVersion"
	}
	for _, p := range m.LI {
		if p >= 3 && p <= 6 {
			return "purposeLegitimateInterests"
		}
	}
	if m.PolicyVersion >= 5 {
		for _, seg := range strings.Split(s, ".")[1:] {
			if tcfBase64[seg[0]]>>3 == tcfDisclosed {
				return ""
			}
		}
		return "vendorsDisclosed"
	}
	return ""
}

// tcfStricter names the format rule, stricter than the reference, that
// err is (see the top of this file), or "" when err is none of them.
func tcfStricter(err error) string {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return ""
	}
	for _, rule := range []struct{ field, reason, name string }{
		{"version", "only TCF v2", "version 1"},
		{"version", "must begin with the core segment", "no core segment first"},
		{"consentLanguage", "letter past z", "letter past z"},
		{"publisherCountryCode", "letter past z", "letter past z"},
		{"", "ends before it starts", "range entry backwards"},
		{"", "does not come after entry", "range entries not ascending"},
		{"", "goes past MaxVendorId", "range entry past MaxVendorId"},
		{"publisherRestrictions", "names vendor 0", "restricted vendor 0"},
		{"publisherRestrictions", "is of purpose 0", "restriction of purpose 0"},
		{"publisherRestrictions", "has type 3", "restriction of type 3"},
		{"publisherRestrictions", "repeats the purpose and type", "restriction repeated"},
		{"publisherRestrictions", "names over", "too many restricted vendors"},
		{"segments[", "is a second", "segment repeated"},
	} {
		if strings.HasPrefix(fe.Field, rule.field) && strings.Contains(fe.Reason, rule.reason) {
			return rule.name
		}
	}
	return ""
}

// tcfEncodings names the encodings of the vendor sections of s, a string
// DecodeTCF reads: "vendorConsents range", "vendorsDisclosed bitfield".
func tcfEncodings(s string) []string {
	var out []string
	for i, seg := range strings.Split(s, ".") {
		r := bitReader{b: make([]byte, len(seg)), end: len(seg) * 6}
		n, _ := decodeBase64URL(r.b, seg, 0)
		r.b = r.b[:n]
		names := []string{"vendorConsents", "vendorLegitimateInterests"}
		r.off = 213 // the core's fields before its vendor sections
		if i > 0 {
			if tcfBase64[seg[0]]>>3 != tcfDisclosed {
				continue
			}
			names, r.off = []string{"vendorsDisclosed"}, 3
		}
		for _, name := range names {
			at := r.off
			r.read(16)
			enc, _ := r.read(1)
			out = append(out, name+map[uint64]string{0: " bitfield", 1: " range"}[enc])
			r.off = at
			r.vendors(name)
		}
	}
	return out
}

// TestDecodeTCFEqualsTheReferenceOnRandomStrings: on strings the reference
// encoder makes from random models, DecodeTCF reads what the reference
// decoder reads, or refuses the string for the very rule of TCF 2.2 or
// 2.3 that the reference's model breaks.
func TestDecodeTCFEqualsTheReferenceOnRandomStrings(t *testing.T) {
	oracle := tcfOracle(t)
	const n = 15000
	lines := oracle("", "gen", "1", "15000")
	if len(lines) != n {
		t.Fatalf("the oracle made %d strings, want %d", len(lines), n)
	}
	counts := map[string]int{}
	equal := 0
	for i, l := range lines {
		if l.Err != nil {
			t.Fatalf("string %d: the reference cannot decode what its encoder made: %s", i, *l.Err)
		}
		loose, _, err := decodeTCF(l.TC)
		if err != nil {
			t.Fatalf("string %d %s: the format decoder refuses what the reference reads: %v", i, l.TC, err)
		}
		if diff := sameAsReference(loose, l.Ref); diff != "" {
			t.Fatalf("string %d %s differs from the reference:\n%s", i, l.TC, diff)
		}
		want := policyRule(l.TC, l.Ref)
		tc, err := DecodeTCF(l.TC)
		var fe *FieldError
		switch {
		case want == "" && err != nil:
			t.Fatalf("string %d %s: DecodeTCF refuses a string that breaks no rule: %v", i, l.TC, err)
		case want != "" && (!errors.As(err, &fe) || fe.Field != want):
			t.Fatalf("string %d %s breaks the rule of %s, and DecodeTCF says %v", i, l.TC, want, err)
		case want != "":
			counts["refused by the rule of "+want]++
			continue
		}
		if diff := sameAsReference(tc, l.Ref); diff != "" {
			t.Fatalf("string %d %s differs from the reference:\n%s", i, l.TC, diff)
		}
		equal++
		for _, e := range tcfEncodings(l.TC) {
			counts[e]++
		}
		for _, seg := range strings.Split(l.TC, ".")[1:] {
			counts["segment "+tcfSegmentNames[tcfBase64[seg[0]]>>3]]++
		}
		if len(tc.PublisherRestrictions) > 0 {
			counts["with publisher restrictions"]++
		}
	}
	t.Logf("%d strings from random models: %d equal to the reference under DecodeTCF, all %d under the format decoder; %v", n, equal, n, counts)
	if equal < 10000 {
		t.Errorf("only %d strings equal to the reference, want at least 10,000", equal)
	}
	// Every encoding and segment the test is about occurred often.
	for _, c := range []string{"vendorConsents bitfield", "vendorConsents range", "vendorLegitimateInterests bitfield", "vendorLegitimateInterests range",
		"vendorsDisclosed bitfield", "vendorsDisclosed range", "segment vendorsDisclosed", "segment publisherTC", "segment vendorsAllowed",
		"with publisher restrictions", "refused by the rule of policyVersion", "refused by the rule of purposeLegitimateInterests", "refused by the rule of vendorsDisclosed"} {
		if counts[c] < 100 {
			t.Errorf("%q occurred %d times, want 100 or more", c, counts[c])
		}
	}
}

// TestDecodeTCFOnTheSpecificationsExamples: the example strings of the
// specification (testdata/tcf/spec-examples.txt) decode as the reference
// decodes them, and DecodeTCF says what the fixture says: "ok" or the
// field of the rule the example breaks.
func TestDecodeTCFOnTheSpecificationsExamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tcf", "spec-examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var strs []string
	want := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, w, _ := strings.Cut(line, "\t")
		strs = append(strs, s)
		want[s] = w
	}
	// DecodeTCF's verdicts need no node.
	for i, s := range strs {
		_, err := DecodeTCF(s)
		var fe *FieldError
		switch w := want[s]; {
		case w == "ok" && err != nil:
			t.Errorf("example %d: %v, want it decoded", i+1, err)
		case w != "ok" && (!errors.As(err, &fe) || fe.Field != w):
			t.Errorf("example %d: DecodeTCF says %v, want an error of %s", i+1, err, w)
		}
	}
	lines := tcfOracle(t)(strings.Join(strs, "\n")+"\n", "decode")
	if len(lines) != len(strs) {
		t.Fatalf("the oracle decoded %d examples, want %d", len(lines), len(strs))
	}
	for i, l := range lines {
		tc, err := DecodeTCF(l.TC)
		if l.Err != nil {
			if err == nil {
				t.Errorf("example %d: the reference refuses it (%s), DecodeTCF reads it", i+1, *l.Err)
			}
			continue
		}
		if tc == nil {
			if tc, _, err = decodeTCF(l.TC); err != nil {
				if tcfStricter(err) == "" {
					t.Errorf("example %d: the format decoder refuses what the reference reads, for no rule of the specification: %v", i+1, err)
				}
				continue
			}
		}
		if diff := sameAsReference(tc, l.Ref); diff != "" {
			t.Errorf("example %d differs from the reference:\n%s", i+1, diff)
		}
	}
}

// TestDecodeTCFRefusesWhatTheReferenceRefuses: strings of the random
// corpus, truncated, with characters changed, dropped, added or not
// base64url, segments repeated, dropped, swapped or empty. What the
// reference refuses, DecodeTCF refuses; what it reads, DecodeTCF reads the
// same, or refuses for a rule it holds and the reference does not.
func TestDecodeTCFRefusesWhatTheReferenceRefuses(t *testing.T) {
	oracle := tcfOracle(t)
	corpus := oracle("", "gen", "2", "3000")
	rng := rand.New(rand.NewPCG(26, 2))
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var mutated []string
	for _, l := range corpus {
		for range 3 {
			s := l.TC
			k := rng.IntN(len(s))
			segs := strings.Split(s, ".")
			switch rng.IntN(10) {
			case 0:
				s = s[:k]
			case 1, 2, 3:
				s = s[:k] + string(b64[rng.IntN(64)]) + s[k+1:]
			case 4:
				s = s[:k] + string("=+/ !*~é"[rng.IntN(8)]) + s[k+1:]
			case 5:
				s = s[:k] + s[k+1:]
			case 6:
				s = s[:k] + string(b64[rng.IntN(64)]) + s[k:]
			case 7:
				s += "." + segs[rng.IntN(len(segs))]
			case 8:
				if len(segs) > 1 {
					segs[0], segs[1] = segs[1], segs[0]
				} else {
					segs = append(segs, "")
				}
				s = strings.Join(segs, ".")
			default:
				// Several characters of one vendor-heavy segment changed.
				for range 1 + rng.IntN(4) {
					k = rng.IntN(len(s))
					if s[k] != '.' {
						s = s[:k] + string(b64[rng.IntN(64)]) + s[k+1:]
					}
				}
			}
			if strings.ContainsRune(s, '\n') || s == l.TC {
				continue
			}
			mutated = append(mutated, s)
		}
	}
	lines := oracle(strings.Join(mutated, "\n")+"\n", "decode")
	if len(lines) != len(mutated) {
		t.Fatalf("the oracle decoded %d strings, want %d", len(lines), len(mutated))
	}
	counts := map[string]int{}
	for i, l := range lines {
		if l.TC != mutated[i] {
			t.Fatalf("line %d: the oracle answered for another string", i)
		}
		tc, err := DecodeTCF(l.TC)
		if l.Err != nil {
			if err == nil {
				t.Fatalf("%q: the reference refuses it (%s), DecodeTCF reads it", l.TC, *l.Err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "tcf: ") {
				t.Fatalf("%q: error %v is not a tcf field error", l.TC, err)
			}
			counts["both refuse"]++
			continue
		}
		loose, _, lerr := decodeTCF(l.TC)
		if lerr != nil {
			rule := tcfStricter(lerr)
			if rule == "" {
				t.Fatalf("%q: the reference reads it, DecodeTCF refuses it for no rule it holds: %v", l.TC, lerr)
			}
			counts["refused, stricter than the reference: "+rule]++
			continue
		}
		if diff := sameAsReference(loose, l.Ref); diff != "" {
			t.Fatalf("%q differs from the reference:\n%s", l.TC, diff)
		}
		var fe *FieldError
		switch want := policyRule(l.TC, l.Ref); {
		case want == "" && err != nil:
			t.Fatalf("%q: DecodeTCF refuses a string that breaks no rule: %v", l.TC, err)
		case want != "" && (!errors.As(err, &fe) || fe.Field != want):
			t.Fatalf("%q breaks the rule of %s, and DecodeTCF says %v", l.TC, want, err)
		case want != "":
			counts["refused by the rule of "+want]++
		default:
			if diff := sameAsReference(tc, l.Ref); diff != "" {
				t.Fatalf("%q differs from the reference:\n%s", l.TC, diff)
			}
			counts["both read, equal"]++
		}
	}
	t.Logf("%d mutated strings: %v", len(mutated), counts)
	if counts["both refuse"] < 1000 {
		t.Errorf("the reference refused %d mutated strings, want 1,000 or more", counts["both refuse"])
	}
}
