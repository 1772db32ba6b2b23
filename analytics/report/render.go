package report

import (
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/leadpipe/leadpipe/stages/classify"
)

// Formats are the forms Write renders, the first the default.
var Formats = []string{"md", "html", "json"}

//go:embed page.html report.md
var templatesFS embed.FS

// funcs are the templates' helpers: the same words and figures in HTML
// and Markdown.
var funcs = map[string]any{
	"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"day":     func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"lastday": lastDay,
	"wait": func(v any) string {
		switch v := v.(type) {
		case int64:
			return Wait(v)
		case uint64:
			return Wait(int64(v))
		}
		return fmt.Sprint(v)
	},
	"short":  func(id string) string { return id[:min(16, len(id))] },
	"reason": reasonText,
	"cell":   mdCell,
}

var (
	htmlPage = htmltemplate.Must(htmltemplate.New("page.html").Funcs(funcs).ParseFS(templatesFS, "page.html"))
	mdPage   = texttemplate.Must(texttemplate.New("report.md").Funcs(funcs).ParseFS(templatesFS, "report.md"))
)

// Write renders r in format (one of Formats) to w.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "html":
		return htmlPage.Execute(w, r)
	case "md":
		return mdPage.Execute(w, r)
	}
	return fmt.Errorf("format %q is not one of %s", format, strings.Join(Formats, ", "))
}

// lastDay names the end of a period as a reader gives it: the day before
// an end at midnight (the last day included), else the time.
func lastDay(end time.Time) string {
	end = end.UTC()
	if end.Equal(end.Truncate(24 * time.Hour)) {
		return end.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return end.Format("2006-01-02 15:04 UTC")
}

// Wait writes a duration of seconds as a reader reads it: "4d 0h",
// "2h 5m", "1m 0s".
func Wait(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dm %ds", d/time.Minute, d%time.Minute/time.Second)
}

// reasonText says what a category of ignored grants means.
func reasonText(reason string) string {
	switch reason {
	case classify.IgnoredMethodNotAffirmative:
		return "method not affirmative: not an act of the person the policy lists (Art. 4(11), Recital 32; CJEU C-673/17 Planet49)"
	case classify.IgnoredProofMissing:
		return "proof missing: no at, method, text_version, or collection_point or proof_ref (Art. 7(1))"
	case classify.IgnoredFutureDated:
		return "dated in the future, beyond the policy's clock skew"
	case classify.IgnoredNotSpecific:
		return "a grant of every purpose at once: consent must be specific (Art. 4(11))"
	case classify.IgnoredMinor:
		return "the lead is under the age of digital consent, without parental consent (Art. 8)"
	case classify.IgnoredSuppressed:
		return "the lead is on the suppression list (objection, withdrawal of all, erasure by email or phone)"
	case classify.IgnoredErased:
		return "the lead is erased (Art. 17)"
	}
	return "a reason this version of leadpipe does not know (an audit record of another version)"
}

// mdCell escapes what would end a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// IgnoredTotal is the number of grants ignored in the period.
func (r *Report) IgnoredTotal() uint64 {
	var n uint64
	for _, g := range r.IgnoredGrants {
		n += g.Grants
	}
	return n
}

// Channels lists the origin channels with their leads by decision and,
// per purpose, the leads with a basis other than none.
func (r *Report) Channels() []ChannelRow {
	var out []ChannelRow
	find := func(ch string) *ChannelRow {
		for i := range out {
			if out[i].Channel == ch {
				return &out[i]
			}
		}
		out = append(out, ChannelRow{Channel: ch, Decisions: map[string]uint64{}, Based: map[string]uint64{}})
		return &out[len(out)-1]
	}
	for _, d := range r.Origins.Decisions {
		c := find(d.Channel)
		c.Leads += d.Leads
		c.Decisions[d.Decision] += d.Leads
	}
	for _, b := range r.Origins.Bases {
		if b.Basis != classify.BasisNone {
			find(b.Channel).Based[b.Purpose] += b.Leads
		}
	}
	return out
}

// ChannelRow is one origin channel of the period.
type ChannelRow struct {
	Channel   string
	Leads     uint64
	Decisions map[string]uint64 // decision → leads
	Based     map[string]uint64 // purpose → leads with a basis
}

// Purposes are the purposes in the order the policy lists them.
func (r *Report) Purposes() []string {
	var out []string
	for _, p := range r.Policy.Purposes {
		out = append(out, p.Purpose)
	}
	return out
}
