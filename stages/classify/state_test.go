package classify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

func TestStateRestoredFromItsChangelogIsEquivalent(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	events := []string{
		lead("e1", "L1", adultIT, formKind, consents(emailOK)),
		lead("e2", "L2", adultIT, `"source":{"kind":"social","network":"linkedin"}`),
		consent("c1", "L1", "all", "object"),
		consent("c2", "L3", "email_marketing", "grant", grantProof),
		consent("c3", "L2", "email_marketing", "grant", grantProof),
	}
	changelog := map[string][]byte{}
	for _, r := range run(t, e, st, events...) {
		for _, k := range r.Changed {
			v, ok := st.Encode(k)
			if !ok {
				v = nil
			}
			changelog[k] = v
		}
	}
	restored := NewState()
	for k, v := range changelog {
		if err := restored.Restore(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if restored.Len() != st.Len() {
		t.Fatalf("restored %d keys, want %d", restored.Len(), st.Len())
	}
	if !reflect.DeepEqual(jsonOf(t, restored), jsonOf(t, st)) {
		t.Errorf("restored state differs:\n%s\nwant\n%s", jsonOf(t, restored), jsonOf(t, st))
	}
	// The same next event gives the same result on both.
	next := lead("e9", "L1", adultIT, formKind)
	a, b := run(t, e, st, next)[0], run(t, e, restored, next)[0]
	if !reflect.DeepEqual(a.Record, b.Record) {
		t.Errorf("results differ after restore: %+v vs %+v", a.Record, b.Record)
	}
	if a.Record.Decision != DecisionSuppressed {
		t.Errorf("the objecting lead is %s after restore, want suppressed", a.Record.Decision)
	}
}

func TestStateHoldsNoPersonalDataAndNoLeadIdOnceErased(t *testing.T) {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	run(t, e, st, lead("e1", "L1", adultIT, formKind, consents(emailOK)), consent("c1", "L1", "all", "object"))
	s := jsonOf(t, st)
	for _, pd := range []string{"Mario", "mario", "example.it", "1980"} {
		if strings.Contains(s, pd) {
			t.Errorf("state holds %q: %s", pd, s)
		}
	}
	run(t, e, st, consent("c2", "L1", "all", "erase"))
	if s := jsonOf(t, st); strings.Contains(s, `"L1"`) {
		t.Errorf("state of an erased lead holds its raw lead id: %s", s)
	}
}

func TestRestoreRejectsBadRecords(t *testing.T) {
	st := NewState()
	for _, tc := range []struct{ key, value string }{
		{"lead:abc", "{not json"},
		{"email:abc", "[1,2]"},
		{"other:abc", "{}"},
	} {
		if err := st.Restore(tc.key, []byte(tc.value)); err == nil {
			t.Errorf("Restore(%q, %q) succeeded", tc.key, tc.value)
		}
	}
	if err := st.Restore("lead:gone", nil); err != nil {
		t.Errorf("a tombstone of an absent key: %v", err)
	}
}

func jsonOf(t testing.TB, st *State) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"leads": st.leads, "emails": st.emails})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadPolicy(t *testing.T) {
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("a policy that extends the default changes only what it names", func(t *testing.T) {
		p, err := LoadPolicy(write("extends: default\npolicy_version: \"acme-1\"\nage_of_digital_consent:\n  countries: {IT: 16, AT: 14}\nnetworks:\n  mastodon:\n    hosts: [mastodon.social]\n    aliases: [masto]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Version != "acme-1" || p.AgeOfConsent("IT") != 16 || p.AgeOfConsent("AT") != 14 || p.AgeOfConsent("FR") != 15 || p.AgeOfConsent("") != 16 {
			t.Errorf("ages IT %d AT %d FR %d default %d", p.AgeOfConsent("IT"), p.AgeOfConsent("AT"), p.AgeOfConsent("FR"), p.AgeOfConsent(""))
		}
		if o, _, _ := p.originOf(nil); o.Channel != ChannelDirect {
			t.Errorf("origin of nothing: %+v", o)
		}
		if p.network("masto") != "mastodon" || p.network("fb") != "facebook" {
			t.Errorf("networks: masto=%s fb=%s", p.network("masto"), p.network("fb"))
		}
		if p.ClockSkew != DefaultPolicy().ClockSkew {
			t.Errorf("clock skew %v", p.ClockSkew)
		}
	})
	t.Run("a policy that extends the default moves a method from one list to the other", func(t *testing.T) {
		p, err := LoadPolicy(write("extends: default\npolicy_version: \"acme-2\"\naffirmative_methods: [badge_scan]\nnot_affirmative_methods: [email_link]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if p.methodWhy("badge_scan") != "" || p.methodWhy("email_link") == "" || p.methodWhy("checkbox") != "" {
			t.Errorf("badge_scan %q, email_link %q, checkbox %q", p.methodWhy("badge_scan"), p.methodWhy("email_link"), p.methodWhy("checkbox"))
		}
	})
	t.Run("a policy without extends replaces the default whole", func(t *testing.T) {
		p, err := LoadPolicy(write("policy_version: \"tiny-1\"\nage_of_digital_consent: {default: 18}\nconsent_clock_skew: 1m\naffirmative_methods: [signed_form]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if p.AgeOfConsent("IT") != 18 || p.network("fb") != "fb" {
			t.Errorf("replaced policy still has defaults: IT %d fb %s", p.AgeOfConsent("IT"), p.network("fb"))
		}
	})
	for _, tc := range []struct{ name, body, want string }{
		{"a policy without policy_version is refused", "extends: default\n", "policy_version is required"},
		{"a policy that extends an unknown policy is refused", "extends: other\npolicy_version: x\n", "extends"},
		{"a policy with an unknown field is refused", "extends: default\npolicy_version: x\nage_table: {}\n", "age_table"},
		{"a policy without a default age is refused", "policy_version: x\n", "default must be a positive age"},
		{"a policy with a lower-case country is refused", "extends: default\npolicy_version: x\nage_of_digital_consent: {countries: {it: 14}}\n", "alpha-2"},
		{"a complete policy without affirmative_methods is refused", "policy_version: x\nage_of_digital_consent: {default: 16}\n", "affirmative_methods is required"},
		{"a method in both lists is refused", "policy_version: x\nage_of_digital_consent: {default: 16}\naffirmative_methods: [checkbox]\nnot_affirmative_methods: [checkbox]\n", "in both"},
		{"a method not written as matched is refused", "extends: default\npolicy_version: x\naffirmative_methods: [Double Opt-In]\n", "lower case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPolicy(write(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file loads")
	}
}

func TestDefaultPolicyIsTheEmbeddedFile(t *testing.T) {
	p := DefaultPolicy()
	if p.Version != "2026-12.1" || p.ClockSkew.Minutes() != 5 || p.AgeOfConsent("BE") != 13 || p.AgeOfConsent("ES") != 14 {
		t.Errorf("default policy: version %s skew %v BE %d", p.Version, p.ClockSkew, p.AgeOfConsent("BE"))
	}
	if len(DefaultPolicyYAML()) == 0 {
		t.Error("no embedded YAML")
	}
}
