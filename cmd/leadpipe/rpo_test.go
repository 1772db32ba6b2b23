package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// rpoLead is a lead event of an Italian lead with phone, granting
// phone_marketing at consentAt.
func rpoLead(leadID, phone, consentAt string) string {
	return `{"type":"lead","event_id":"e-` + leadID + `","occurred_at":"2026-11-10T12:00:00Z","lead_id":"` + leadID +
		`","contact":{"phone":"` + phone + `","country":"IT"},"request":{"type":"quote"},"consents":[{"purpose":"phone_marketing","status":"granted","at":"` + consentAt +
		`","method":"recorded_call","text_version":"call-v1","proof_ref":"rec-` + leadID + `"}]}`
}

// The check: registered numbers in several forms, the leads writing them
// in others.
const (
	rpoCheckedAt = "2026-11-15T09:00:00Z"
	rpoCSV       = "number,registered_at\n" +
		"+39 333 1110001,2026-10-01\n" + // before the consent of LA
		"+39 333 1110002,2026-11-01T00:00:00Z\n" + // after the consent of LB
		"+39 333 1110003,2026-09-01\n" + // before the consent of LC, which postdates it
		"0039 333 1110004,2026-09-01\n" + // a leading 0039
		"3331110005,2026-09-01\n" + // no country code
		"+39 333 1110008\n" // no registration date: counts as of the check
)

var rpoEvents = []string{
	rpoLead("LA", "333 111 0001", "2026-09-01T10:00:00Z"),
	rpoLead("LB", "333 111 0002", "2026-10-15T10:00:00Z"),
	rpoLead("LC", "333 111 0003", "2026-10-10T10:00:00Z"),
	rpoLead("LD", "+39 333 111 0004", "2026-10-10T10:00:00Z"),  // registered 2026-09-01 as 0039…: the consent postdates it
	rpoLead("LE", "+393331110005", "2026-08-10T10:00:00Z"),     // registered 2026-09-01 without +39: the consent predates it
	rpoLead("LF", "333 111 0006", "2026-10-10T10:00:00Z"),      // not registered, consent before the check
	rpoLead("LG", "333 111 0007", "2026-11-16T10:00:00Z"),      // not registered, consent after the check
	rpoLead("LH", "0039 333-111-0008", "2026-11-10T10:00:00Z"), // registered, date unknown: as of the check
	rpoLead("LU", "+44 20 7946 0958", "2026-10-10T10:00:00Z"),  // not an Italian number
}

// loadRPO runs leadpipe rpo load on csv and returns the RPO file.
func loadRPO(t *testing.T, csv string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rpo.json")
	var stdout, stderr bytes.Buffer
	code := cmdRPO(context.Background(), []string{"load", "-", "--checked-at", rpoCheckedAt, "--dev-key", "--out", out}, strings.NewReader(csv), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("leadpipe rpo load exited %d: %s", code, stderr.String())
	}
	return out
}

// phoneBases runs leadpipe classify --explain over events at now (with
// --rpo file unless "") and returns each lead's phone_marketing basis and
// its evidence, by lead id, and whether its explanation matched the RPO.
func phoneBases(t *testing.T, rpoFile, now string, events []string) map[string][2]string {
	t.Helper()
	args := []string{"--dev-key", "--explain", "--now", now}
	if rpoFile != "" {
		args = append(args, "--rpo", rpoFile)
	}
	var out, errb bytes.Buffer
	if code := cmdClassify(context.Background(), args, strings.NewReader(strings.Join(events, "\n")), &out, &errb); code != 0 {
		t.Fatalf("leadpipe classify exited %d: %s", code, errb.String())
	}
	got := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec classify.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		b := rec.Purposes.PhoneMarketing
		named := slices.ContainsFunc(rec.Explain, func(s classify.Step) bool {
			return s.Rule == "rpo_opposition_register" && s.Matched && strings.Contains(s.Why, "Registro Pubblico delle Opposizioni")
		})
		if (b.Basis == classify.BasisNone) != named && rpoFile != "" {
			t.Errorf("lead %s: phone_marketing %s, but the explanation names the RPO: %v", rec.LeadID, b.Basis, named)
		}
		got[rec.LeadID] = [2]string{b.Basis, b.Evidence}
	}
	return got
}

func TestRPOLimitsPhoneMarketing(t *testing.T) {
	t.Setenv("LEADPIPE_HMAC_KEY", "")
	file := loadRPO(t, rpoCSV)
	const fresh, stale = "2026-11-20T10:00:00Z", "2026-12-01T10:00:00Z" // 5 and 16 days after the check
	cases := []struct {
		name string
		now  string
		lead string
		want string // the basis of phone_marketing
		why  string // in its evidence
	}{
		{"a number registered before the consent has no basis", fresh, "LA", "none", "registering cancels the consent of 2026-09-01T10:00:00Z"},
		{"a number registered after the consent has none either: registering cancels the consents given before", fresh, "LB", "none", "registered 2026-11-01T00:00:00Z"},
		{"a consent given after the registration holds", fresh, "LC", "consent", "proof_ref=rec-LC"},
		{"a number registered as 0039… matches the lead's +39 …, and the later consent holds", fresh, "LD", "consent", "proof_ref=rec-LD"},
		{"a number registered without country code matches the lead's +39…: the earlier consent goes", fresh, "LE", "none", "Registro Pubblico delle Opposizioni"},
		{"a registration of unknown date counts as of the check", fresh, "LH", "none", "registered 2026-11-15T09:00:00Z"},
		{"a number not registered keeps its consent while the check is fresh", fresh, "LF", "consent", "proof_ref=rec-LF"},
		{"a check older than 15 days leaves no basis from a consent given before it", stale, "LF", "none", "older than 15 days"},
		{"a check older than 15 days cancels a consent that postdates the registration but predates the check", stale, "LC", "none", "older than 15 days"},
		{"a check older than 15 days keeps a consent given after the check", stale, "LG", "consent", "proof_ref=rec-LG"},
		{"the RPO does not touch a number that is not Italian, even when the check is stale", stale, "LU", "consent", "proof_ref=rec-LU"},
	}
	got := map[string]map[string][2]string{fresh: phoneBases(t, file, fresh, rpoEvents), stale: phoneBases(t, file, stale, rpoEvents)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := got[tc.now][tc.lead]
			if g[0] != tc.want || !strings.Contains(g[1], tc.why) {
				t.Errorf("phone_marketing %s (%s), want %s with %q", g[0], g[1], tc.want, tc.why)
			}
		})
	}

	t.Run("without --rpo every phone consent holds", func(t *testing.T) {
		for lead, g := range phoneBases(t, "", stale, rpoEvents) {
			if g[0] != "consent" {
				t.Errorf("lead %s: phone_marketing %s without an RPO", lead, g[0])
			}
		}
	})
	t.Run("the decisions do not depend on the order of the events", func(t *testing.T) {
		rev := slices.Clone(rpoEvents)
		slices.Reverse(rev)
		for _, now := range []string{fresh, stale} {
			if r := phoneBases(t, file, now, rev); !mapsEqual(r, got[now]) {
				t.Errorf("at %s, reversed: %v\nin order: %v", now, r, got[now])
			}
		}
	})
	t.Run("the RPO file holds keys, never a number", func(t *testing.T) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"1110001", "111 0001", "1110005", "1110008"} {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("the RPO file holds the number %s", n)
			}
		}
		var r classify.RPO
		if err := json.Unmarshal(b, &r); err != nil || len(r.Registered) != 6 {
			t.Fatalf("%d entries (%v), want the 6 numbers", len(r.Registered), err)
		}
		if k := pseudonym.Development().PhoneKey("+393331110004"); !slices.ContainsFunc(r.Registered, func(e classify.RPOEntry) bool { return e.PhoneKey == k }) {
			t.Errorf("0039 333 1110004 is not keyed as classify keys +393331110004")
		}
	})
}

func mapsEqual(a, b map[string][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRPOLoadRefusesWhatItCannotRead(t *testing.T) {
	t.Setenv("LEADPIPE_HMAC_KEY", "")
	cases := []struct {
		name string
		args []string
		csv  string
		code int
		want string
	}{
		{"a number that is not Italian exits 1 naming the line, not the number", nil, "+39 333 1110001\n+44 20 7946 0958\n", 1, "line 2: number: not an Italian phone number"},
		{"a bad registration date exits 1 naming the line", nil, "+39 333 1110001,yesterday\n", 1, "line 1: registered_at"},
		{"a registration after the check exits 1", nil, "+39 333 1110001,2026-12-20\n", 1, "is after the check"},
		{"no --checked-at exits 2", []string{"load", "-", "--dev-key"}, "", 2, "--checked-at"},
		{"no input file exits 2", []string{"load", "--checked-at", rpoCheckedAt, "--dev-key"}, "", 2, "give one input FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = []string{"load", "-", "--checked-at", rpoCheckedAt, "--dev-key", "--out", filepath.Join(t.TempDir(), "rpo.json")}
			}
			var out, errb bytes.Buffer
			code := cmdRPO(context.Background(), args, strings.NewReader(tc.csv), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errb.String(), tc.code, tc.want)
			}
			if strings.Contains(errb.String(), "7946") || strings.Contains(errb.String(), "1110001") {
				t.Errorf("the error holds the number: %s", errb.String())
			}
		})
	}
	t.Run("classify refuses an RPO file keyed under another key", func(t *testing.T) {
		file := loadRPO(t, rpoCSV)
		key := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := cmdClassify(context.Background(), []string{"--hmac-key-file", key, "--rpo", file}, strings.NewReader(rpoEvents[0]), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "run leadpipe rpo load again with the current key") {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	})
	var out bytes.Buffer
	if code := dispatch(context.Background(), []string{"rpo", "load", "--help"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "number[,registered_at]") || !strings.Contains(out.String(), "15 days") {
		t.Errorf("--help: exit %d\n%s", code, out.String())
	}
}
