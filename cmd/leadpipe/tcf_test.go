package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The specification's example string (TCFv2, "Consent string and vendor
// list formats v2"), with policy version 5 (TCF 2.3), and as published,
// with policy version 2.
const (
	tcfGood = "CQSbk4AQSbk4ANwAAAENAwFgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA"
	tcfOld  = "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA"
)

func TestTCFDecode(t *testing.T) {
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), args, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	t.Run("a string prints as indented JSON with the reference library's field names", func(t *testing.T) {
		code, out, errs := run("", "tcf", "decode", tcfGood)
		var got map[string]any
		if code != 0 || errs != "" || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
		if got["policyVersion"] != 5.0 || got["cmpId"] != 880.0 || !strings.Contains(out, "\n  \"vendorsDisclosed\": [\n    1,") {
			t.Errorf("stdout %s", out)
		}
	})
	t.Run("a string that breaks a rule prints the field and the rule, and exits 1", func(t *testing.T) {
		code, out, errs := run("", "tcf", "decode", tcfOld)
		if code != 1 || out != "" || errs != "leadpipe tcf: policyVersion: is 2: TCF 2.2 requires 4 or more (strings of older policies are invalid since 30 September 2023)\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("with - it decodes a line at a time, reports a bad line by number and goes on", func(t *testing.T) {
		code, out, errs := run(tcfGood+"\n\n"+tcfOld+"\r\n"+tcfGood+"\n", "tcf", "decode", "-")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[1], `{"version":2,`) {
			t.Errorf("exit %d, stdout %q", code, out)
		}
		if !strings.HasPrefix(errs, "leadpipe tcf: line 3: policyVersion: is 2") || strings.Count(errs, "\n") != 1 {
			t.Errorf("stderr %q", errs)
		}
	})
	t.Run("--help prints the usage to stdout", func(t *testing.T) {
		code, out, _ := run("", "tcf", "--help")
		if code != 0 || !strings.Contains(out, "Usage: leadpipe tcf decode STRING") {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("no string is a usage error", func(t *testing.T) {
		if code, _, errs := run("", "tcf", "decode"); code != 2 || !strings.Contains(errs, "decode STRING") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
}
