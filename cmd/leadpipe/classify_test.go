package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	cliLead    = `{"type":"lead","event_id":"e1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","contact":{"email":"maria@example.it","first_name":"Maria","country":"IT"},"source":{"kind":"social_lead_form","network":"LinkedIn"}}`
	cliGrant   = `{"type":"consent","event_id":"c1","occurred_at":"2026-11-12T08:00:00Z","lead_id":"L1","purpose":"email_marketing","action":"grant","method":"double_opt_in","text_version":"v3","proof_ref":"doi-1"}`
	cliOrphan  = `{"type":"consent","event_id":"c2","occurred_at":"2026-11-12T08:00:00Z","lead_id":"L9","purpose":"all","action":"object"}`
	cliQuote   = `{"type":"lead","event_id":"e2","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L2","request":{"type":"quote"}}`
	cliBehavio = `{"type":"behavior","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"v","action":"search"}`
)

func TestCmdClassify(t *testing.T) {
	huge := `{"type":"lead","event_id":"e3","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L3","source":{"url":"` + strings.Repeat("a", 70000) + `"}}`
	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  []string // per output line: "decision/rule" or "invalid@N"
	}{
		{"a quarantined social lead is released by a later consent, in order", []string{"--dev-key"}, cliLead + "\n" + cliGrant + "\n", 0,
			[]string{"quarantined/social_no_consent", "accepted/released_by_consent"}},
		{"a consent for a lead never seen gives no_lead", []string{"--dev-key"}, cliOrphan + "\n", 0, []string{"no_lead/no_lead"}},
		{"an invalid line gives its line number, processing goes on and the exit status is 1", []string{"--dev-key"}, cliQuote + "\n{\"type\":\n" + cliLead + "\n", 1,
			[]string{"accepted/accepted", "invalid@2", "quarantined/social_no_consent"}},
		{"a line over the message limit is invalid, not fatal", []string{"--dev-key"}, huge + "\n" + cliQuote, 1, []string{"invalid@1", "accepted/accepted"}},
		{"blank lines are skipped and a last line without newline is read", []string{"--dev-key"}, "\n" + cliQuote + "\n\r\n" + cliGrant, 0, []string{"accepted/accepted", "no_lead/no_lead"}},
		{"an objection reaches a re-import of the address padded, in upper case and with a sub-address; an invisible character is invalid", []string{"--dev-key"},
			`{"type":"lead","event_id":"i1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","contact":{"email":"anna@example.com"}}` + "\n" +
				`{"type":"consent","event_id":"i2","occurred_at":"2026-11-11T12:00:00Z","lead_id":"L1","purpose":"all","action":"object"}` + "\n" +
				`{"type":"lead","event_id":"i3","occurred_at":"2026-11-12T12:00:00Z","lead_id":"L2","contact":{"email":" ANNA+Promo@Example.com "}}` + "\n" +
				`{"type":"lead","event_id":"i4","occurred_at":"2026-11-12T12:00:00Z","lead_id":"L3","contact":{"email":"anna\u200b@example.com"}}` + "\n", 1,
			[]string{"accepted/accepted", "suppressed/suppressed_objection", "suppressed/suppressed_objection", "invalid@4"}},
		{"an objection made under one lead id by phone reaches another lead id with the number written otherwise", []string{"--dev-key"},
			`{"type":"lead","event_id":"p1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L1","contact":{"phone":"+39 333 555 0101","country":"IT"}}` + "\n" +
				`{"type":"consent","event_id":"p2","occurred_at":"2026-11-11T12:00:00Z","lead_id":"L1","purpose":"all","action":"object"}` + "\n" +
				`{"type":"lead","event_id":"p3","occurred_at":"2026-11-12T12:00:00Z","lead_id":"L2","contact":{"phone":"333-5550101","country":"IT","email":"other@example.com"}}` + "\n" +
				`{"type":"lead","event_id":"p4","occurred_at":"2026-11-12T12:00:00Z","lead_id":"L3","contact":{"phone":"333-5550102","country":"IT"}}` + "\n", 0,
			[]string{"accepted/accepted", "suppressed/suppressed_objection", "suppressed/suppressed_objection", "accepted/accepted"}},
		{"only a grant made by an affirmative act releases a social lead: pre-ticked, implied, badge scan and unknown methods do not", []string{"--dev-key"},
			cliLead + "\n" +
				strings.ReplaceAll(cliGrant, "double_opt_in", "pre_ticked") + "\n" +
				strings.ReplaceAll(strings.ReplaceAll(cliGrant, "double_opt_in", "implied"), `"c1"`, `"c2"`) + "\n" +
				strings.ReplaceAll(strings.ReplaceAll(cliGrant, "double_opt_in", "badge_scan"), `"c1"`, `"c3"`) + "\n" +
				strings.ReplaceAll(strings.ReplaceAll(cliGrant, "double_opt_in", "web form"), `"c1"`, `"c4"`) + "\n" +
				strings.ReplaceAll(strings.ReplaceAll(cliGrant, "double_opt_in", "Double Opt-In"), `"c1"`, `"c5"`) + "\n", 0,
			[]string{"quarantined/social_no_consent", "quarantined/social_no_consent", "quarantined/social_no_consent",
				"quarantined/social_no_consent", "quarantined/social_no_consent", "accepted/released_by_consent"}},
		{"a lead quarantined for 30 days of event time without consent is purged before the event that passes the deadline", []string{"--dev-key", "--now", "2027-06-01T00:00:00Z"},
			cliLead + "\n" + strings.ReplaceAll(strings.ReplaceAll(cliQuote, "2026-11-10", "2026-12-11"), `"L2"`, `"L7"`) + "\n", 0,
			[]string{"quarantined/social_no_consent", "purged/quarantine_expired", "accepted/accepted"}},
		{"--quarantine-days 0 keeps it", []string{"--dev-key", "--now", "2027-06-01T00:00:00Z", "--quarantine-days", "0"},
			cliLead + "\n" + strings.ReplaceAll(strings.ReplaceAll(cliQuote, "2026-11-10", "2026-12-11"), `"L2"`, `"L7"`) + "\n", 0,
			[]string{"quarantined/social_no_consent", "accepted/accepted"}},
		{"a counting consent within the retention keeps it", []string{"--dev-key", "--now", "2027-06-01T00:00:00Z"},
			cliLead + "\n" + cliGrant + "\n" + strings.ReplaceAll(strings.ReplaceAll(cliQuote, "2026-11-10", "2027-01-11"), `"L2"`, `"L7"`) + "\n", 0,
			[]string{"quarantined/social_no_consent", "accepted/released_by_consent", "accepted/accepted"}},
		{"a negative --quarantine-days exits 2", []string{"--dev-key", "--quarantine-days", "-1"}, cliQuote, 2, nil},
		{"a grant whose method or text_version is only whitespace does not release a social lead", []string{"--dev-key"},
			cliLead + "\n" + strings.ReplaceAll(cliGrant, `"double_opt_in"`, `"  "`) + "\n" +
				strings.ReplaceAll(strings.ReplaceAll(cliGrant, `"v3"`, `"\t"`), `"c1"`, `"c2"`) + "\n", 0,
			[]string{"quarantined/social_no_consent", "quarantined/social_no_consent", "quarantined/social_no_consent"}},
		{"a birth date after the event or over 120 years before it is invalid, naming the field", []string{"--dev-key"},
			`{"type":"lead","event_id":"b1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L8","contact":{"country":"IT","birth_date":"2027-01-01"}}` + "\n" +
				`{"type":"lead","event_id":"b2","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L9","contact":{"country":"IT","birth_date":"1890-01-01"}}` + "\n", 1,
			[]string{"invalid@1", "invalid@2"}},
		{"a consent to sales_followup without a request of its own does not release a social lead", []string{"--dev-key"},
			cliLead + "\n" + strings.ReplaceAll(cliGrant, "email_marketing", "sales_followup") + "\n", 0,
			[]string{"quarantined/social_no_consent", "quarantined/social_no_consent"}},
		{"keys, types and times escaped in JSON read as written plainly (RFC 8259)", []string{"--dev-key"},
			`{"type":"le\u0061d","event_id":"x1","occurred_at":"2026-11-10T12:00:00\u005a","lead_\u0069d":"L5","request":{"type":"quote"}}` + "\n", 0,
			[]string{"accepted/accepted"}},
		{"an unknown field is invalid and named by its position, not its name", []string{"--dev-key"},
			`{"type":"lead","event_id":"x2","occurred_at":"2026-11-10T12:00:00Z","lead_id":"L6","contact":{"country":"IT","maria_rossi_private":"x"}}` + "\n", 1,
			[]string{"invalid@1"}},
		{"a behavior event is not classified", []string{"--dev-key"}, cliBehavio + "\n", 1, []string{"invalid@1"}},
		{"empty input gives no output and exit status 0", []string{"--dev-key"}, "", 0, nil},
		{"an unknown flag exits 2", []string{"--dev-key", "--colour"}, "", 2, nil},
		{"no key exits 2", nil, cliQuote, 2, nil},
		{"both key sources exit 2", []string{"--dev-key", "--hmac-key-file", "k"}, cliQuote, 2, nil},
		{"a bad --now exits 2", []string{"--dev-key", "--now", "tomorrow"}, cliQuote, 2, nil},
		{"a missing input file exits 2", []string{"--dev-key", "/nonexistent/leads.jsonl"}, "", 2, nil},
		{"a missing policy file exits 2", []string{"--dev-key", "--policy", "/nonexistent/p.yaml"}, "", 2, nil},
	}
	t.Setenv("LEADPIPE_HMAC_KEY", "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"--now", "2026-11-20T10:00:00Z"}, tc.args...)
			code := cmdClassify(context.Background(), args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errb.String())
			}
			got := summarize(t, out.String())
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("output %v, want %v\n%s", got, tc.want, out.String())
			}
			if strings.Contains(out.String(), "maria") || strings.Contains(out.String(), "Maria") || strings.Contains(errb.String(), "maria") {
				t.Errorf("output holds personal data: %s", out.String())
			}
		})
	}
}

func TestCmdClassifyReadsAFileWithAKeyFileAndExplains(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "leads.jsonl")
	key := filepath.Join(dir, "key")
	policy := filepath.Join(dir, "policy.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(in, cliQuote+"\n")
	write(key, "0123456789abcdef0123456789abcdef\n")
	write(policy, "extends: default\npolicy_version: \"acme-7\"\n")
	var out, errb bytes.Buffer
	code := cmdClassify(context.Background(), []string{"--hmac-key-file", key, "--hmac-key-version", "k7", "--policy", policy, "--explain", in}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rec struct {
		PolicyVersion string            `json:"policy_version"`
		KeyVersion    string            `json:"key_version"`
		LeadKey       string            `json:"lead_key"`
		Explain       []json.RawMessage `json:"explain"`
	}
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.PolicyVersion != "acme-7" || rec.KeyVersion != "k7" || len(rec.LeadKey) != 64 || len(rec.Explain) == 0 {
		t.Errorf("record %+v", rec)
	}
}

// summarize turns output lines into "decision/rule" or "invalid@line".
func summarize(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var v struct {
			Line     int    `json:"line"`
			Decision string `json:"decision"`
			Rule     string `json:"rule"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		if v.Decision == "invalid" {
			if v.Error == "" {
				t.Errorf("invalid line without error: %s", line)
			}
			got = append(got, "invalid@"+strconv.Itoa(v.Line))
			continue
		}
		got = append(got, v.Decision+"/"+v.Rule)
	}
	return got
}
