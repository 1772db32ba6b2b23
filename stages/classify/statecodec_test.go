package classify

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// jsonChangelogEvents are the events of testdata/state_json_changelog.tsv:
// every field of a lead's and an email key's state set, a time with a zone
// offset and nanoseconds, a quarantined lead, an objection and an erasure
// through a shared email.
var jsonChangelogEvents = []string{
	leadAt("e1", "L1", "2026-11-10T12:00:00.123456789+02:00", mario, formKind, consents(emailOK, smsOK)),
	leadAt("e2", "L2", "2026-11-11T12:00:00Z", marioAlt, `"source":{"kind":"import","import_batch":"b-9"}`, consents(emailOK)),
	leadAt("e3", "L3", "2026-11-10T09:00:00-05:30", `"contact":{"email":"luca@example.it","country":"IT"}`, social),
	consentAt("c1", "L1", "2026-11-12T08:00:00Z", "all", "object"),
	consentAt("c2", "L2", "2026-11-13T08:00:00Z", "email_marketing", "grant", grantProof),
	consentAt("c3", "L4", "2026-11-09T09:00:00Z", "profiling", "grant", profGrant),
	consentAt("c4", "L2", "2026-11-14T08:00:00Z", "all", "erase"),
	consentAt("c5", "L1", "2026-11-15T08:00:00Z", "sms_marketing", "withdraw"),
}

// checkChangelogValues is called by the tests' run and apply after every
// event (so over every state of the golden, order and notice scenarios):
// each changed key's value, decoded, is the key's state, and is what the
// JSON of before would have restored.
func checkChangelogValues(t testing.TB, st *State, keys []string) {
	t.Helper()
	for _, k := range keys {
		v, ok := st.Encode(k)
		if !ok {
			continue
		}
		if len(v) == 0 || v[0] != stateCodecV1 {
			t.Fatalf("state key %s: value does not begin with the version byte", k)
		}
		got, want := NewState(), NewState()
		if err := got.Restore(k, v); err != nil {
			t.Fatalf("state key %s: its own value does not restore: %v", k, err)
		}
		if err := want.Restore(k, jsonValue(t, st, k)); err != nil {
			t.Fatal(err)
		}
		if g, w := jsonValue(t, got, k), jsonValue(t, st, k); !bytes.Equal(g, w) {
			t.Fatalf("state key %s comes back other than it was:\n%s\nwant\n%s", k, g, w)
		}
		if !reflect.DeepEqual(got.leads, want.leads) || !reflect.DeepEqual(got.emails, want.emails) {
			t.Fatalf("state key %s: the binary value restores other than the JSON one:\n%#v\nwant\n%#v", k, got.leads, want.leads)
		}
		if again, _ := got.Encode(k); !bytes.Equal(again, v) {
			t.Fatalf("state key %s: a restored state encodes to other bytes", k)
		}
	}
}

// jsonValue is the value the JSON encoding of before wrote for key.
func jsonValue(t testing.TB, st *State, key string) []byte {
	t.Helper()
	var v any = st.emails[strings.TrimPrefix(key, emailPrefix)]
	if k, ok := strings.CutPrefix(key, leadPrefix); ok {
		v = st.leads[k]
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readChangelog reads a changelog of key<TAB>value lines.
func readChangelog(t *testing.T, path string) [][2]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("%s: a line without a tab", path)
		}
		out = append(out, [2]string{k, v})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAChangelogOfJSONValuesWrittenBeforeStillRestores(t *testing.T) {
	// Written by State.Encode of commit dd25d1c (JSON values) from
	// jsonChangelogEvents.
	old := readChangelog(t, "testdata/state_json_changelog.tsv")
	restored := NewState()
	for _, kv := range old {
		if !strings.HasPrefix(kv[1], "{") {
			t.Fatalf("%s: not a JSON value", kv[0])
		}
		if err := restored.Restore(kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	run(t, e, st, jsonChangelogEvents...)
	if restored.Len() != st.Len() || len(old) != st.Len() {
		t.Fatalf("restored %d keys from %d values, want %d", restored.Len(), len(old), st.Len())
	}
	if g, w := jsonOf(t, restored), jsonOf(t, st); g != w {
		t.Errorf("the JSON changelog restores another state:\n%s\nwant\n%s", g, w)
	}
	// jsonValue (checkChangelogValues' JSON of before) is what that commit
	// wrote, byte for byte.
	for _, kv := range old {
		if j := jsonValue(t, st, kv[0]); string(j) != kv[1] {
			t.Errorf("%s: jsonValue gives\n%s\nthe commit before wrote\n%s", kv[0], j, kv[1])
		}
	}
	// Its keys encode in binary from then on, and the same next event gives
	// the same result on both.
	for _, kv := range old {
		if v, _ := restored.Encode(kv[0]); len(v) == 0 || v[0] != stateCodecV1 {
			t.Errorf("%s: a restored key is not written in binary", kv[0])
		}
	}
	next := consentAt("c9", "L3", "2026-11-16T08:00:00Z", "email_marketing", "grant", grantProof)
	a, b := run(t, e, st, next)[0], run(t, e, restored, next)[0]
	if !reflect.DeepEqual(a.Record, b.Record) {
		t.Errorf("results differ after restore: %+v vs %+v", a.Record, b.Record)
	}
}

func TestTheBinaryValueIsSeveralTimesSmallerThanTheJSON(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	for i := 0; i <= 64; i++ {
		apply(t, e, st, historyEvent(0, i))
	}
	k := LeadStateKey(pseudonym.Development().LeadKey("H0"))
	v, _ := st.Encode(k)
	j := jsonValue(t, st, k)
	if len(v)*3 > len(j) {
		t.Errorf("after 64 events the binary value is %d bytes, the JSON %d: not 3 times smaller", len(v), len(j))
	}
}

// hostileValues are values a corrupted or foreign leadpipe.state record
// could hold, each refused with an error.
func TestRestoreRefusesBadBinaryValues(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	run(t, e, st, jsonChangelogEvents...)
	lk := LeadStateKey(pseudonym.Development().LeadKey("L1"))
	ek := ""
	for k := range st.emails {
		ek = emailPrefix + k
		break
	}
	for _, key := range []string{lk, ek} {
		v, _ := st.Encode(key)
		// Every truncation of a good value is refused.
		for n := range len(v) {
			if err := NewState().Restore(key, v[:n]); err == nil {
				t.Errorf("%s: the first %d of %d bytes restore", key[:5], n, len(v))
			}
		}
		if err := NewState().Restore(key, append(bytes.Clone(v), 0)); err == nil {
			t.Errorf("%s: a value with a byte after it restores", key[:5])
		}
	}
	for _, tc := range []struct{ name, key, value string }{
		{"an unknown version byte", lk, "\x02"},
		{"a count larger than the value", ek, "\x01\x00\xff\xff\xff\xff\x0f"},
		{"a number of more than 64 bits", lk, "\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{"a string longer than the value", ek, "\x01\x00\x01\x10ab"},
		{"a vocabulary index never defined", ek, "\x01\x01\x03\x02r\x00\x02\x00\x00"},
		{"a vocabulary index past its bound", ek, "\x01\x01\x7f\x02r\x00\x02\x00\x00"},
		{"unknown flags", ek, "\x01\x08\x00"},
		{"a time with a nanosecond part of a second or more", ek, "\x01\x01\x02o\x02r\x00\x02\x80\xa8\xd6\xb9\x07\x00"},
		{"a time with a zone offset of a day", ek, "\x01\x01\x02o\x02r\x00\x02\x01\x80\xc6\x0a\x00"},
		{"a time after the year 9999", ek, "\x01\x01\x02o\x02r\x00\xfe\xff\xff\xff\xff\x1f\x00\x00"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			err := NewState().Restore(tc.key, []byte(tc.value))
			if !errors.Is(err, errStateValue) {
				t.Errorf("error %v, want a bad state value", err)
			}
		})
	}
}

func TestATimeComesBackWithItsInstantAndZoneOffset(t *testing.T) {
	for _, at := range []time.Time{
		{},
		time.Date(2026, 11, 10, 12, 0, 0, 123456789, time.UTC),
		time.Date(2026, 11, 10, 12, 0, 0, 1, time.FixedZone("", 2*3600)),
		time.Date(2026, 11, 10, 12, 0, 0, 0, time.FixedZone("", -(5*3600+30*60))),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC),
	} {
		d := stateDecoder{s: appendTime(nil, at)}
		got := d.time()
		if err := d.end(); err != nil {
			t.Fatalf("%v: %v", at, err)
		}
		_, o1 := at.Zone()
		_, o2 := got.Zone()
		if !got.Equal(at) || o1 != o2 || got.Format(time.RFC3339Nano) != at.Format(time.RFC3339Nano) {
			t.Errorf("%s came back as %s", at.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
		}
	}
}
