package sources_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// csvFair reads testdata/csv/fair.csv with its sources.yaml: per line,
// the lead as JSON, or the error.
func csvFair(t *testing.T) map[int]string {
	t.Helper()
	cfg, err := sources.LoadConfig(filepath.Join("testdata", "csv", "sources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "csv", "fair.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list := cfg.CSV.Lists["fair-2026"]
	out := map[int]string{}
	err = sources.CSVRows(f, "fair-2026", "fair.csv", &list, func(line int, lead *schemas.Lead, rep sources.Report, err error) error {
		if err == nil {
			var raw []byte
			raw, err = json.Marshal(lead)
			if err == nil {
				_, err = schemas.Decode(raw, schemas.DefaultLimits())
			}
			if err == nil {
				out[line] = string(raw) + fmt.Sprintf(" unreadable=%v", rep.Unreadable)
				return nil
			}
		}
		out[line] = "error: " + err.Error()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCSVListRowsBecomeLeadsWithTheirMappedColumnsAndConsents(t *testing.T) {
	rows := csvFair(t)
	for _, c := range []struct {
		name string
		line int
		want []string
	}{
		{"a granted newsletter box is an email_marketing grant with its proof", 2, []string{`"event_id":"csv:fair-2026-milan:B-0001"`, `"email":"giulia.verdi@example.com"`,
			`"kind":"event","list_id":"fair-2026-milan","import_batch":"fair.csv"`, `"consents":[{"purpose":"email_marketing","status":"granted","at":"2026-03-02T09:10:00Z","method":"paper_form","collection_point":"fair-2026-booth","text_version":"fair-2026-privacy-v1","proof_ref":"scan-0001"}]`}},
		{"a denied box is a denial", 3, []string{`"status":"denied"`}},
		{"an invalid address rejects the row, naming the field", 4, []string{"error: contact.email"}},
		{"an answer neither yes nor no gives no consent, reported", 5, []string{`"event_id":"csv:fair-2026-milan:B-0004"`, "unreadable=[Newsletter]"}},
		{"a row without its id names the id column", 6, []string{`error: column "Badge" (id_column): empty`}},
		{"a time that cannot be read names its column", 7, []string{`error: column "Scanned At" (occurred_at)`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, w := range c.want {
				if !strings.Contains(rows[c.line], w) {
					t.Errorf("line %d: %s\nwant it to hold %s", c.line, rows[c.line], w)
				}
			}
			if strings.HasPrefix(rows[c.line], "error:") && strings.Contains(rows[c.line], "@") {
				t.Errorf("line %d: the error holds a value: %s", c.line, rows[c.line])
			}
		})
	}
	if strings.Contains(rows[5], `"consents"`) {
		t.Errorf("line 5 (answer maybe) has a consent: %s", rows[5])
	}
}

func TestCSVMappingErrorsNameTheLineAndField(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"a list without its kind", "csv:\n  lists:\n    l:\n      occurred_at: 2026-01-01T00:00:00Z\n", "3: csv.lists.l"},
		{"neither occurred_at nor its column", "csv:\n  lists:\n    l:\n      kind: event\n", "3: csv.lists.l: give occurred_at_column"},
		{"a column of no contact field", "csv:\n  lists:\n    l:\n      kind: event\n      occurred_at: 2026-01-01T00:00:00Z\n      columns:\n        mail: E-mail\n", "7: csv.lists.l.columns.mail"},
		{"a consent without its text version", "csv:\n  lists:\n    l:\n      kind: event\n      occurred_at: 2026-01-01T00:00:00Z\n      consents:\n        - purpose: email_marketing\n          column: N\n          granted: [yes]\n", "text_version"},
		{"a Segment category of no purpose", "segment:\n  categories:\n    C0004: [ads]\n", "3: segment.categories.C0004"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sources.ParseConfig([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want it to hold %q", err, c.want)
			}
		})
	}
}
