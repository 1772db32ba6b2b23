// Package sources turns what the platforms that capture leads send (Meta
// Lead Ads, LinkedIn Lead Sync, Google Ads lead forms, Segment and
// RudderStack messages, CSV list files) into leadpipe's own events, as
// pure functions: no Kafka, no HTTP, no logging. `leadpipe import` runs
// them over a file, `leadpipe intake` (pipeline/intake) over webhooks.
//
// Nothing is guessed. A platform states consent in its own terms (Meta: a
// checkbox key of a form, "1" or ""); what a checkbox grants is written
// in sources.yaml per form (per category for a CDP, per column for a
// list). An unmapped form, checkbox or category, and a CDP message without
// its consent envelope, give no consent
// (a social lead is then quarantined), and a box the form ticks by default
// is never a consent (CJEU C-673/17, Planet49): its statement carries the
// method pre_ticked, which the policy does not count, so the audit says
// why. Each such case is counted in the Report.
package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/leadpipe/leadpipe/schemas"
)

// Config is sources.yaml: per platform, per form, what its consent
// boxes grant.
//
//	meta:
//	  forms:
//	    "1234567890":                        # the Meta form id
//	      text_version: signup-2026-11       # the consent text's version (default: meta:form:ID)
//	      collection_point: fb-spring-promo  # default: meta:form:ID
//	      checkboxes:
//	        optional_1:
//	          purposes: [email_marketing]
//	        optional_2:
//	          purposes: [profiling]
//	          checked_by_default: true       # the form ticks it: never a consent
type Config struct {
	Meta        MetaConfig     `yaml:"meta"`
	LinkedIn    LinkedInConfig `yaml:"linkedin"`
	Segment     CDPConfig      `yaml:"segment"`
	RudderStack CDPConfig      `yaml:"rudderstack"`
	CSV         CSVConfig      `yaml:"csv"`
}

// CSVConfig maps list files, by the name `leadpipe import --list` gives.
type CSVConfig struct {
	Lists map[string]CSVList `yaml:"lists"`
}

// LinkedInConfig maps LinkedIn Lead Gen Forms.
//
//	linkedin:
//	  forms:
//	    "7234246":                 # the leadGenForm id of versionedLeadGenFormUrn
//	      questions:               # questionId: predefinedField, as the form lists them
//	        "307234246": EMAIL
//	      consents:                # legalInfo.consents[].id: what accepting it grants
//	        "0":
//	          purposes: [email_marketing]
type LinkedInConfig struct {
	Forms map[string]LinkedInForm `yaml:"forms"`
}

// LinkedInForm is what one LinkedIn lead form's questions are and its
// consents grant: the form's definition (content.questions,
// content.legalInfo.consents) as far as leadpipe needs it.
type LinkedInForm struct {
	// TextVersion of the consent texts; default "linkedin:form:ID,VERSION:consent:CONSENT".
	TextVersion string `yaml:"text_version"`
	// CollectionPoint; default "linkedin:form:ID".
	CollectionPoint string `yaml:"collection_point"`
	// Questions maps a questionId to its predefinedField (EMAIL,
	// WORK_EMAIL, FIRST_NAME, LAST_NAME, PHONE_NUMBER, JOB_TITLE,
	// COMPANY_NAME, COUNTRY); other questions are left out.
	Questions map[string]string `yaml:"questions"`
	// Consents by legalInfo consent id.
	Consents map[string]LinkedInConsent `yaml:"consents"`
}

// LinkedInConsent is one consent of a form's legal info.
type LinkedInConsent struct {
	Purposes []string `yaml:"purposes"`
}

// linkedInFieldOf maps the predefined fields leadpipe reads.
var linkedInFieldOf = map[string]contactField{
	"EMAIL": fieldEmail, "WORK_EMAIL": fieldEmail, "PHONE_NUMBER": fieldPhone, "WORK_PHONE_NUMBER": fieldPhone,
	"FIRST_NAME": fieldFirstName, "LAST_NAME": fieldLastName, "JOB_TITLE": fieldJobTitle,
	"COMPANY_NAME": fieldCompany, "COUNTRY": fieldCountry,
}

// MetaConfig maps Meta lead forms.
type MetaConfig struct {
	// Forms by Meta form id.
	Forms map[string]MetaForm `yaml:"forms"`
}

// MetaForm is what one Meta lead form's consent boxes grant.
type MetaForm struct {
	// TextVersion is the version of the form's consent text; default
	// "meta:form:ID".
	TextVersion string `yaml:"text_version"`
	// CollectionPoint names the form where consent is collected; default
	// "meta:form:ID".
	CollectionPoint string `yaml:"collection_point"`
	// Checkboxes by checkbox_key.
	Checkboxes map[string]MetaCheckbox `yaml:"checkboxes"`
}

// MetaCheckbox is one consent box of a form.
type MetaCheckbox struct {
	// Purposes the box grants when the person ticks it.
	Purposes []string `yaml:"purposes"`
	// CheckedByDefault: the form shows the box ticked
	// (is_checked_by_default in the form's custom_disclaimer): a ticked
	// box is then no consent.
	CheckedByDefault bool `yaml:"checked_by_default"`
}

// LoadConfig reads and validates a sources.yaml. An error names the file,
// the line and the field.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return c, nil
}

// ParseConfig parses and validates the bytes of a sources.yaml. An error
// starts with the line (":12: meta.forms.123.checkboxes.optional_1.purposes: ...").
func ParseConfig(b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%d: %w", yamlLine(err), err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty Config
		return nil, fmt.Errorf("%d: %w", yamlLine(err), err)
	}
	if err := c.validate(&root); err != nil {
		return nil, err
	}
	return &c, nil
}

// yamlLine is the line a yaml error names, or 0.
func yamlLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	var n int
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i+len("line "):], "%d", &n)
	}
	return n
}

// validate checks every purpose and id, naming the line of the field.
func (c *Config) validate(root *yaml.Node) error {
	for id, f := range c.Meta.Forms {
		path := []string{"meta", "forms", id}
		if strings.TrimSpace(id) == "" || strings.ContainsAny(id, " \t/") {
			return fieldError(root, path, "a Meta form id is the form's number, without spaces or slashes")
		}
		if len(f.Checkboxes) == 0 {
			return fieldError(root, append(path, "checkboxes"), "a form needs at least one checkbox: without one, list nothing and its leads have no consent")
		}
		for key, box := range f.Checkboxes {
			if err := checkPurposes(root, append(slices.Clone(path), "checkboxes", key, "purposes"), box.Purposes, "a checkbox"); err != nil {
				return err
			}
		}
	}
	for id, f := range c.LinkedIn.Forms {
		path := []string{"linkedin", "forms", id}
		if !digits.MatchString(id) {
			return fieldError(root, path, "a LinkedIn form id is the number of its leadGenForm URN")
		}
		for q, field := range f.Questions {
			if _, ok := linkedInFieldOf[field]; !ok {
				known := slices.Sorted(maps.Keys(linkedInFieldOf))
				return fieldError(root, append(slices.Clone(path), "questions", q), fmt.Sprintf("%q is not a predefined field leadpipe reads (%s)", field, strings.Join(known, ", ")))
			}
		}
		for id, consent := range f.Consents {
			if err := checkPurposes(root, append(slices.Clone(path), "consents", id, "purposes"), consent.Purposes, "a consent"); err != nil {
				return err
			}
		}
	}
	for _, src := range []struct {
		name string
		c    *CDPConfig
	}{{"segment", &c.Segment}, {"rudderstack", &c.RudderStack}} {
		path := []string{src.name}
		if k := src.c.SourceKind; k != "" && !slices.Contains(schemas.SourceKinds, k) {
			return fieldError(root, append(path, "source_kind"), fmt.Sprintf("%q is not a source kind (%s)", k, strings.Join(schemas.SourceKinds, ", ")))
		}
		for cat, purposes := range src.c.Categories {
			if err := checkPurposes(root, []string{src.name, "categories", cat}, purposes, "a category"); err != nil {
				return err
			}
		}
	}
	for name, l := range c.CSV.Lists {
		path := []string{"csv", "lists", name}
		if !slices.Contains(schemas.SourceKinds, l.Kind) {
			return fieldError(root, append(path, "kind"), fmt.Sprintf("a list needs its source kind, one of %s", strings.Join(schemas.SourceKinds, ", ")))
		}
		if (l.OccurredAtColumn == "") == l.OccurredAt.IsZero() {
			return fieldError(root, path, "give occurred_at_column (each row's time) or occurred_at (the whole list's), one of them")
		}
		if utf8.RuneCountInString(l.Delimiter) > 1 {
			return fieldError(root, append(path, "delimiter"), "a delimiter is one character")
		}
		for field, column := range l.Columns {
			if _, ok := csvFields[field]; !ok {
				known := slices.Sorted(maps.Keys(csvFields))
				return fieldError(root, append(slices.Clone(path), "columns", field), fmt.Sprintf("%q is not a contact field (%s)", field, strings.Join(known, ", ")))
			}
			if column == "" {
				return fieldError(root, append(slices.Clone(path), "columns", field), "names no column")
			}
		}
		for i, cc := range l.Consents {
			cpath := append(slices.Clone(path), "consents")
			switch {
			case !slices.Contains(schemas.Purposes, cc.Purpose):
				return fieldError(root, cpath, fmt.Sprintf("consent %d: purpose %q is not a purpose (%s)", i+1, cc.Purpose, strings.Join(schemas.Purposes, ", ")))
			case cc.Column == "" || len(cc.Granted) == 0:
				return fieldError(root, cpath, fmt.Sprintf("consent %d: needs its column and the answers that grant (granted)", i+1))
			case cc.TextVersion == "":
				return fieldError(root, cpath, fmt.Sprintf("consent %d: needs the text_version of the consent text the list's people saw", i+1))
			}
		}
	}
	return nil
}

// checkPurposes checks the purposes a box or consent (what) grants: at
// least one, each one of schemas.Purposes.
func checkPurposes(root *yaml.Node, path, purposes []string, what string) error {
	if len(purposes) == 0 {
		return fieldError(root, path, what+" grants at least one purpose")
	}
	for _, purpose := range purposes {
		if !slices.Contains(schemas.Purposes, purpose) {
			return fieldError(root, path, fmt.Sprintf("%q is not a purpose (%s)", purpose, strings.Join(schemas.Purposes, ", ")))
		}
	}
	return nil
}

// fieldError is an error naming the line of the node at path, and the path.
func fieldError(root *yaml.Node, path []string, why string) error {
	line := find(root, path).Line
	return fmt.Errorf("%d: %s: %s", line, strings.Join(path, "."), why)
}

// find is the node at path under root (a document), or the deepest node
// of path that exists (a missing field is reported at its parent).
func find(root *yaml.Node, path []string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return n
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				if next.Kind == yaml.MappingNode || next.Kind == yaml.ScalarNode && next.Value == "" {
					next.Line = n.Content[i].Line // the key's line, where a reader looks
				}
				break
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}
