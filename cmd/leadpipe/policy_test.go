package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/stages/classify"
)

// policyWorkload writes a seeded workload of lead and consent events to a
// JSONL file and returns its path and the raw lead ids and emails in it.
func policyWorkload(t *testing.T, leads int) (path string, personal []string) {
	t.Helper()
	wl := workload.DefaultConfig()
	wl.Leads, wl.BehaviorPerLead, wl.MalformedRate = leads, 0, 0
	events, err := workload.All(wl)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, e := range events {
		if e.Kind == workload.KindBehavior {
			continue
		}
		buf.Write(e.Value)
		buf.WriteByte('\n')
		var ev struct {
			Lead    string `json:"lead_id"`
			Contact *struct {
				Email string `json:"email"`
			} `json:"contact"`
		}
		if json.Unmarshal(e.Value, &ev) == nil {
			personal = append(personal, `"`+ev.Lead+`"`)
			if ev.Contact != nil && ev.Contact.Email != "" {
				personal = append(personal, ev.Contact.Email)
			}
		}
	}
	path = filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, personal
}

// runPolicyDiff runs leadpipe policy diff --format json and returns its
// exit status and report.
func runPolicyDiff(t *testing.T, args ...string) (int, classify.PolicyDiff, string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"diff", "--dev-key", "--now", "2026-11-20T10:00:00Z", "--format", "json"}, args...)
	code := cmdPolicy(context.Background(), args, nil, &out, &errb)
	var d classify.PolicyDiff
	if code == 0 || code == 2 {
		if err := json.Unmarshal(out.Bytes(), &d); err != nil {
			t.Fatalf("output: %v\n%s", err, out.String())
		}
	}
	return code, d, out.String() + errb.String()
}

// classifyFinal runs leadpipe classify under policy (the default when
// "") and returns the last record of every lead by lead key.
func classifyFinal(t *testing.T, input, policy string) map[string]classify.Record {
	t.Helper()
	args := []string{"--dev-key", "--now", "2026-11-20T10:00:00Z"}
	if policy != "" {
		args = append(args, "--policy", policy)
	}
	var out, errb bytes.Buffer
	if code := cmdClassify(context.Background(), append(args, input), nil, &out, &errb); code != 0 {
		t.Fatalf("leadpipe classify exited %d: %s", code, errb.String())
	}
	final := map[string]classify.Record{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec classify.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Decision == classify.DecisionNoLead || rec.Decision == classify.DecisionDuplicate {
			continue
		}
		if old, ok := final[rec.LeadKey]; !ok || rec.Seq >= old.Seq {
			final[rec.LeadKey] = rec
		}
	}
	return final
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyDiffOfTheDefaultPolicyAgainstItselfIsEmpty(t *testing.T) {
	input, _ := policyWorkload(t, 300)
	def := writeFile(t, "default.yaml", string(classify.DefaultPolicyYAML()))
	for _, args := range [][]string{{"--policy", def}, {"--policy", def, "--base", def}} {
		code, d, out := runPolicyDiff(t, append(args, input)...)
		if code != 0 || d.Moved != 0 || len(d.MovedLeads) != 0 || d.Leads < 300 {
			t.Errorf("%v: exit %d, %d of %d leads moved, want exit 0 and none\n%s", args, code, d.Moved, d.Leads, out)
		}
	}
}

// TestPolicyDiffDroppingCheckboxMovesExactlyTheLeadsClassifyMoves is the
// done-when line of issue 27: a policy without checkbox among the
// affirmative methods moves exactly the leads whose only counting consent
// for some purpose was given by checkbox, as leadpipe classify run under
// both policies says lead by lead.
func TestPolicyDiffDroppingCheckboxMovesExactlyTheLeadsClassifyMoves(t *testing.T) {
	input, personal := policyWorkload(t, 400)
	def := string(classify.DefaultPolicyYAML())
	line := regexp.MustCompile(`(?m)^  - checkbox .*\n`)
	if len(line.FindAllString(def, -1)) != 1 {
		t.Fatal("the default policy no longer lists checkbox on a line of its own: fix the test")
	}
	noCheckbox := writeFile(t, "no-checkbox.yaml", strings.Replace(line.ReplaceAllString(def, ""), `policy_version: "2026-12.1"`, `policy_version: "no-checkbox"`, 1))

	// The leads that move, by leadpipe classify under both policies.
	before, after := classifyFinal(t, input, ""), classifyFinal(t, input, noCheckbox)
	var want []string
	for k, b := range before {
		a, ok := after[k]
		if !ok {
			t.Fatalf("lead %s classified under the default policy only", k[:8])
		}
		moved := a.Decision != b.Decision
		for _, p := range []string{"email_marketing", "sms_marketing", "phone_marketing", "profiling", "third_party_sharing", "sales_followup"} {
			moved = moved || a.Purposes.Get(p).Basis != b.Purposes.Get(p).Basis
		}
		if moved {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	if len(want) < 10 {
		t.Fatalf("only %d leads move: the workload proves little", len(want))
	}

	code, d, out := runPolicyDiff(t, "--policy", noCheckbox, input)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (leads moved)\n%s", code, out)
	}
	var got []string
	for _, m := range d.MovedLeads {
		got = append(got, m.LeadKey)
	}
	if !slices.Equal(got, want) {
		t.Errorf("policy diff moves %d leads, leadpipe classify under both policies %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	if d.Moved != len(want) || d.Leads != len(before) || d.CandidatePolicy != "no-checkbox" || d.BasePolicy != classify.DefaultPolicy().Version {
		t.Errorf("summary %d of %d moved, %s → %s", d.Moved, d.Leads, d.BasePolicy, d.CandidatePolicy)
	}

	// Each moved lead lost a basis that rested on a grant made by checkbox,
	// and the candidate ignored that grant: the cause is named.
	methods := consentMethods(t, input)
	evidence := regexp.MustCompile(`event=(\S+)(?: consents\[(\d+)\])?$`)
	sum := 0
	for _, m := range d.MovedLeads {
		lost := false
		for _, p := range m.Purposes {
			if p.From != classify.BasisConsent {
				continue
			}
			e := evidence.FindStringSubmatch(p.EvidenceFrom)
			if e == nil {
				t.Fatalf("lead %s: evidence %q names no event", m.LeadKey[:8], p.EvidenceFrom)
			}
			lost = lost || methods[e[1]+"/"+e[2]] == "checkbox"
		}
		if !lost {
			t.Errorf("lead %s moved without losing a checkbox consent: %+v", m.LeadKey[:8], m.Purposes)
		}
		if !slices.ContainsFunc(m.Ignored, func(ic classify.IgnoredChange) bool { return ic.Under == "candidate" }) {
			t.Errorf("lead %s: no consent ignored under the candidate named as the cause", m.LeadKey[:8])
		}
	}
	for _, tr := range d.Bases {
		sum += tr.Leads
	}
	if sum == 0 || len(d.Decisions) == 0 {
		t.Errorf("transitions: decisions %v, bases %v", d.Decisions, d.Bases)
	}

	// Text and JSON name leads by key only.
	var text, errb bytes.Buffer
	if code := cmdPolicy(context.Background(), []string{"diff", "--dev-key", "--now", "2026-11-20T10:00:00Z", "--policy", noCheckbox, input}, nil, &text, &errb); code != 2 {
		t.Fatalf("text: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(text.String(), want[0]) || !strings.Contains(text.String(), "→") {
		t.Errorf("text output lacks the moved lead %s:\n%s", want[0], text.String())
	}
	for _, s := range personal {
		if strings.Contains(out, s) || strings.Contains(text.String(), s) {
			t.Fatalf("the output holds personal data %q", s)
		}
	}
}

// consentMethods maps the consent statements of the input to their method:
// "<event_id>/<index>" for a lead event's consents[index], "<event_id>/"
// for a consent event.
func consentMethods(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var ev struct {
			ID       string `json:"event_id"`
			Method   string `json:"method"`
			Consents []struct {
				Method string `json:"method"`
			} `json:"consents"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		out[ev.ID+"/"] = ev.Method
		for i, c := range ev.Consents {
			out[ev.ID+"/"+strconv.Itoa(i)] = c.Method
		}
	}
	return out
}

func TestPolicyDiffRefusesWhatItCannotRun(t *testing.T) {
	input, _ := policyWorkload(t, 5)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a candidate policy with an unknown field exits 1 naming the field and its line", []string{"--policy", writeFile(t, "p.yaml", "extends: default\npolicy_version: x\naffirmative_method: [checkbox]\n"), input}, 1, "line 3: field affirmative_method not found"},
		{"a candidate policy without policy_version exits 1 saying so", []string{"--policy", writeFile(t, "p.yaml", "extends: default\n"), input}, 1, "policy_version is required"},
		{"a base policy that does not load exits 1 naming --base", []string{"--policy", writeFile(t, "p.yaml", "extends: default\npolicy_version: x\n"), "--base", "/nonexistent/base.yaml", input}, 1, "--base: policy"},
		{"no --policy exits 1", []string{input}, 1, "--policy: give the candidate policy file"},
		{"an unknown --format exits 1", []string{"--policy", writeFile(t, "p.yaml", "extends: default\npolicy_version: x\n"), "--format", "yaml", input}, 1, "--format"},
		{"an unknown flag exits 1, not 2 (which means leads moved)", []string{"--colour"}, 1, "unknown flag"},
		{"a missing input file exits 1", []string{"--policy", writeFile(t, "p.yaml", "extends: default\npolicy_version: x\n"), "/nonexistent/in.jsonl"}, 1, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cmdPolicy(context.Background(), append([]string{"diff", "--dev-key"}, tc.args...), nil, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errb.String(), tc.code, tc.want)
			}
		})
	}
	var out bytes.Buffer
	if code := cmdPolicy(context.Background(), []string{"diff", "--help"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "Exit status: 0 when no lead moves, 2 when some do") || !strings.Contains(out.String(), "--base") {
		t.Errorf("--help: exit %d\n%s", code, out.String())
	}
	if code := dispatch(context.Background(), []string{"policy", "diff", "--dev-key", "--policy", writeFile(t, "p.yaml", "extends: default\npolicy_version: x\n"), "-"}, strings.NewReader(""), &out, &out); code != 0 {
		t.Errorf("an empty standard input: exit %d, want 0", code)
	}
}
