package sources

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leadpipe/leadpipe/schemas"
)

// CSVList maps the columns of a list file (a purchased or partner list,
// event badge scans, a CRM export) to leads: sources.yaml's csv.lists.NAME.
//
//	csv:
//	  lists:
//	    fair-2026:                   # --list NAME
//	      kind: event                # source.kind (schemas.SourceKinds)
//	      list_id: fair-2026-milan   # source.list_id (default: NAME)
//	      supplier: acme-data        # source.supplier, for a bought list
//	      partner_id: ""             # source.partner_id, for a partner's list
//	      id_column: Badge           # event and lead ids from it (default: the file and row)
//	      occurred_at_column: Scanned At   # or occurred_at: 2026-03-02T00:00:00Z for the whole list
//	      columns: {email: E-mail, phone: Mobile, first_name: Name, last_name: Surname, company: Company, job_title: Role, country: Country}
//	      consents:
//	        - purpose: email_marketing
//	          column: Newsletter     # the person's answer
//	          granted: [yes, "1", x] # answers that grant (case-insensitive); no: [no, "0"] deny
//	          denied: [no, "0"]
//	          at_column: Consent At  # default: the row's occurred_at
//	          proof_column: Consent Ref
//	          text_version: fair-2026-privacy-v1
//	          collection_point: fair-2026-booth   # default csv:LIST
//	          method: paper_form     # default checkbox
type CSVList struct {
	Kind             string            `yaml:"kind"`
	ListID           string            `yaml:"list_id"`
	Supplier         string            `yaml:"supplier"`
	PartnerID        string            `yaml:"partner_id"`
	IDColumn         string            `yaml:"id_column"`
	OccurredAtColumn string            `yaml:"occurred_at_column"`
	OccurredAt       time.Time         `yaml:"occurred_at"`
	Delimiter        string            `yaml:"delimiter"`
	Columns          map[string]string `yaml:"columns"`
	Consents         []CSVConsent      `yaml:"consents"`
}

// CSVConsent is one consent column of a list.
type CSVConsent struct {
	Purpose         string   `yaml:"purpose"`
	Column          string   `yaml:"column"`
	Granted         []string `yaml:"granted"`
	Denied          []string `yaml:"denied"`
	AtColumn        string   `yaml:"at_column"`
	ProofColumn     string   `yaml:"proof_column"`
	TextVersion     string   `yaml:"text_version"`
	CollectionPoint string   `yaml:"collection_point"`
	Method          string   `yaml:"method"`
}

// csvFields are the contact fields a list's columns map to.
var csvFields = map[string]contactField{
	"email": fieldEmail, "phone": fieldPhone, "first_name": fieldFirstName, "last_name": fieldLastName, "full_name": fieldFullName,
	"company": fieldCompany, "job_title": fieldJobTitle, "country": fieldCountry, "birth_date": fieldBirthDate,
}

// CSVRows reads a list file with its mapping (name is the list's name in
// sources.yaml, file the file's base name) and calls fn with each row's
// line and its lead, or the row's error, which names the line and the
// column, never the value. Event ids derive from the id column, else from
// the list, file and row, so that importing the same file again makes no
// second lead.
func CSVRows(r io.Reader, name, file string, l *CSVList, fn func(line int, lead *schemas.Lead, rep Report, err error) error) error {
	cr := csv.NewReader(r)
	if l.Delimiter != "" {
		cr.Comma, _ = utf8.DecodeRuneInString(l.Delimiter)
	}
	cr.FieldsPerRecord = -1 // a short row is the row's error, not the file's
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("the header line: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, c := range l.columns() {
		if _, ok := col[c]; !ok {
			return fmt.Errorf("the header line has no column %q, which sources.yaml's csv.lists.%s names", c, name)
		}
	}
	listID := or(l.ListID, name)
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return err
			}
			if err := fn(pe.Line, nil, Report{Source: "csv", Form: listID}, fmt.Errorf("not a CSV row: %v", pe.Err)); err != nil {
				return err
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		lead, rep, err := l.row(row, col, line, listID, file)
		if err := fn(line, lead, rep, err); err != nil {
			return err
		}
	}
}

// columns are the columns the mapping reads.
func (l *CSVList) columns() []string {
	var out []string
	for _, c := range l.Columns {
		out = append(out, c)
	}
	for _, c := range l.Consents {
		out = append(out, c.Column, c.AtColumn, c.ProofColumn)
	}
	out = append(out, l.IDColumn, l.OccurredAtColumn)
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func (l *CSVList) row(row []string, col map[string]int, line int, listID, file string) (*schemas.Lead, Report, error) {
	rep := Report{Source: "csv", Form: listID}
	cell := func(name string) string {
		if i, ok := col[name]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	for _, v := range row {
		if !utf8.ValidString(v) {
			return nil, rep, errors.New("not valid UTF-8")
		}
	}
	id := fmt.Sprintf("csv:%s:%s:%d", listID, file, line)
	if l.IDColumn != "" {
		v := cell(l.IDColumn)
		if v == "" {
			return nil, rep, fmt.Errorf("column %q (id_column): empty", l.IDColumn)
		}
		id = "csv:" + listID + ":" + v
	}
	at := l.OccurredAt
	if l.OccurredAtColumn != "" {
		t, err := csvTime(cell(l.OccurredAtColumn))
		if err != nil {
			return nil, rep, fmt.Errorf("column %q (occurred_at): %w", l.OccurredAtColumn, err)
		}
		at = t
	}
	var b contactBuilder
	for _, field := range sortedKeys(l.Columns) {
		b.set(csvFields[field], cell(l.Columns[field]))
	}
	lead := &schemas.Lead{Type: schemas.TypeLead, ID: id, OccurredAt: at.UTC(), Lead: id, Contact: b.contact(schemas.Contact{}),
		Source: &schemas.Source{Kind: l.Kind, ListID: listID, Supplier: l.Supplier, PartnerID: l.PartnerID, ImportBatch: file}}
	for _, c := range l.Consents {
		answer := cell(c.Column)
		status := ""
		switch {
		case answer == "":
			continue // no answer: no consent
		case containsFold(c.Granted, answer):
			status = "granted"
		case containsFold(c.Denied, answer):
			status = "denied"
		default:
			rep.Unreadable = append(rep.Unreadable, c.Column)
			continue
		}
		cat := lead.OccurredAt
		if c.AtColumn != "" {
			t, err := csvTime(cell(c.AtColumn))
			if err != nil {
				return nil, rep, fmt.Errorf("column %q (consent at): %w", c.AtColumn, err)
			}
			cat = t
		}
		e := schemas.ConsentEntry{Purpose: c.Purpose, Status: status, At: cat.UTC(), Method: or(c.Method, "checkbox"),
			CollectionPoint: or(c.CollectionPoint, "csv:"+listID), TextVersion: c.TextVersion}
		if c.ProofColumn != "" {
			e.ProofRef = cell(c.ProofColumn)
		}
		lead.Consents = append(lead.Consents, e)
	}
	return lead, rep, nil
}

// csvTime reads a time as RFC 3339, "2006-01-02 15:04:05" (UTC) or a date.
func csvTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, time.DateTime, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			if !inEra(t) {
				return time.Time{}, errors.New("not a time from 1970 to 9999")
			}
			return t, nil
		}
	}
	if v == "" {
		return time.Time{}, errors.New("empty")
	}
	return time.Time{}, errors.New("not a time like 2026-03-02T09:00:00Z, 2026-03-02 09:00:00 or 2026-03-02")
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
}
