package classify

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// RPOValidity is how long a check of the Registro Pubblico delle
// Opposizioni holds: a list checked more than 15 days ago no longer
// grounds a call (DPR 178/2010 as amended by DPR 26/2022).
const RPOValidity = 15 * 24 * time.Hour

// rpoFormat names the form of an RPO file, so that a file of another
// form is refused rather than misread.
const rpoFormat = "leadpipe-rpo/1"

// RPO is the result of one check of Italy's Registro Pubblico delle
// Opposizioni (RPO): the numbers found registered, by their phone key,
// and when. It holds no phone number: each is keyed as classify keys a
// lead's phone (schemas.NormalizePhone in Italy, pseudonym.Keyer.PhoneKey),
// under the current HMAC key and every previous one. Build one with
// ParseRPOCheck (`leadpipe rpo load`), keep it with WriteTo, read it back
// with LoadRPO (`leadpipe classify --rpo`, `leadpipe run --rpo`); set it
// as Engine.RPO. Read-only once built, safe for concurrent use.
//
// What it changes (rule 5, the basis of phone_marketing, for a lead whose
// phone number is Italian):
//   - a registered number has no basis for phone_marketing unless its
//     consent postdates the registration: registering cancels the consents
//     given before it; a registration of unknown date counts as of the
//     check;
//   - once the check is older than RPOValidity, phone_marketing rests only
//     on a consent given after the check.
//
// Both are judged as of the time of the view: the processing time for a
// lead's record, each event's time for its timeline.
type RPO struct {
	Format string `json:"format"`
	// CheckedAt is when the register was checked.
	CheckedAt time.Time `json:"checked_at"`
	// KeyVersions are the versions of the HMAC keys the numbers are keyed
	// under: the current key's first.
	KeyVersions []string `json:"key_versions"`
	// Registered are the numbers found registered, sorted by key.
	Registered []RPOEntry `json:"registered"`

	index map[string]time.Time
}

// RPOEntry is one registered number.
type RPOEntry struct {
	// PhoneKey is the number's key (pseudonym.Keyer.PhoneKey of its E.164).
	PhoneKey string `json:"phone_key"`
	// RegisteredAt is when it was registered; zero when the check did not
	// say: then it counts as registered at CheckedAt.
	RegisteredAt time.Time `json:"registered_at,omitzero"`
}

// ParseRPOCheck reads the result of a check of the RPO checked at
// checkedAt: CSV lines of number[,registered_at], the numbers found
// registered. A number is Italian, written in any usual form ("+39 333
// 1234567", "0039 333 1234567", "3331234567"); registered_at is RFC 3339,
// or a date (YYYY-MM-DD), which counts as the end of that day in UTC (a
// consent of that day may predate the registration). Blank lines, lines
// starting with # and a first line "number,registered_at" are skipped.
// Errors name the line, never the number.
func ParseRPOCheck(r io.Reader, checkedAt time.Time, k *pseudonym.Keyer) (*RPO, error) {
	if checkedAt.IsZero() {
		return nil, errors.New("checked_at: the time of the check is required")
	}
	keyers := append([]*pseudonym.Keyer{k}, k.Previous()...)
	rpo := &RPO{Format: rpoFormat, CheckedAt: checkedAt.UTC(), Registered: []RPOEntry{}}
	for _, kk := range keyers {
		rpo.KeyVersions = append(rpo.KeyVersions, kk.Version())
	}
	since := map[string]time.Time{} // E.164 → registration, zero when unknown
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || n == 1 && strings.EqualFold(strings.ReplaceAll(line, " ", ""), "number,registered_at") {
			continue
		}
		num, at, _ := strings.Cut(line, ",")
		e164, ok := schemas.NormalizePhone(strings.TrimSpace(num), "IT")
		if !ok || !strings.HasPrefix(e164, "+39") {
			return nil, fmt.Errorf("line %d: number: not an Italian phone number (the RPO registers Italian numbers)", n)
		}
		var reg time.Time
		if at = strings.TrimSpace(at); at != "" {
			var err error
			if reg, err = parseRegisteredAt(at); err != nil {
				return nil, fmt.Errorf("line %d: registered_at: %v", n, err)
			}
			if reg.After(rpo.CheckedAt.Add(24 * time.Hour)) {
				return nil, fmt.Errorf("line %d: registered_at: is after the check (checked_at %s)", n, rpo.CheckedAt.Format(time.RFC3339))
			}
		}
		if old, seen := since[e164]; seen && (old.IsZero() || !reg.IsZero() && reg.Before(old)) {
			continue // the latest registration cancels the most
		}
		since[e164] = reg
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	for e164, reg := range since {
		for _, kk := range keyers {
			rpo.Registered = append(rpo.Registered, RPOEntry{PhoneKey: kk.PhoneKey(e164), RegisteredAt: reg})
		}
	}
	slices.SortFunc(rpo.Registered, func(a, b RPOEntry) int { return strings.Compare(a.PhoneKey, b.PhoneKey) })
	rpo.buildIndex()
	return rpo, nil
}

// parseRegisteredAt reads an RFC 3339 time, or a date as the end of that
// day in UTC.
func parseRegisteredAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("is not an RFC 3339 time or a date (YYYY-MM-DD)")
	}
	return d.Add(24 * time.Hour), nil
}

// WriteTo writes the RPO as JSON: only keys and times.
func (r *RPO) WriteTo(w io.Writer) (int64, error) {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return 0, err
	}
	n, err := w.Write(append(b, '\n'))
	return int64(n), err
}

// LoadRPO reads an RPO file that WriteTo wrote, for an engine keying
// with k: the file must be keyed under k's version.
func LoadRPO(path string, k *pseudonym.Keyer) (*RPO, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rpo: %w", err)
	}
	var r RPO
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("rpo %s: %w", path, err)
	}
	switch {
	case r.Format != rpoFormat:
		return nil, fmt.Errorf("rpo %s: format: %q is not %q; write it with leadpipe rpo load", path, r.Format, rpoFormat)
	case r.CheckedAt.IsZero():
		return nil, fmt.Errorf("rpo %s: checked_at is required", path)
	case !slices.Contains(r.KeyVersions, k.Version()):
		return nil, fmt.Errorf("rpo %s: its numbers are keyed under key version(s) %v, not the current %q: run leadpipe rpo load again with the current key", path, r.KeyVersions, k.Version())
	}
	for i, e := range r.Registered {
		if len(e.PhoneKey) != 64 {
			return nil, fmt.Errorf("rpo %s: registered[%d].phone_key: is not a key", path, i)
		}
	}
	r.buildIndex()
	return &r, nil
}

func (r *RPO) buildIndex() {
	r.index = make(map[string]time.Time, len(r.Registered))
	for _, e := range r.Registered {
		reg := e.RegisteredAt
		if reg.IsZero() {
			reg = r.CheckedAt
		}
		r.index[e.PhoneKey] = reg
	}
}

// registration returns the latest registration of those of keys found
// registered (the check's time for one of unknown date).
func (r *RPO) registration(keys []string) (time.Time, bool) {
	var since time.Time
	found := false
	for _, k := range keys {
		if t, ok := r.index[k]; ok && (!found || t.After(since)) {
			since, found = t, true
		}
	}
	return since, found
}

// rpoWhy returns why the RPO cancels s, the granted standing statement of
// phone_marketing of view v, or "" when it does not (or no RPO is set).
func (e *Engine) rpoWhy(v *view, s *statement) string {
	r := e.RPO
	if r == nil || v.facts == nil || !v.facts.PhoneIT {
		return ""
	}
	day := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	if since, ok := r.registration(v.contacts); ok && !v.at.Before(since) && !s.At.After(since) {
		return "RPO: the number is in the Registro Pubblico delle Opposizioni (registered " + day(since) +
			", check of " + day(r.CheckedAt) + "); registering cancels the consent of " + day(s.At) + " given before it (DPR 26/2022)"
	}
	if v.at.After(r.CheckedAt.Add(RPOValidity)) && !s.At.After(r.CheckedAt) {
		return "RPO: the check of the Registro Pubblico delle Opposizioni of " + day(r.CheckedAt) + " is older than " +
			strconv.Itoa(int(RPOValidity/(24*time.Hour))) + " days; only a consent given after it grounds phone_marketing, not that of " + day(s.At)
	}
	return ""
}
