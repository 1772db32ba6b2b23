package classify

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed policy.yaml
var defaultPolicyYAML []byte

// DefaultPolicyYAML returns the text of the default policy, a starting point
// for a policy file that replaces it.
func DefaultPolicyYAML() []byte { return bytes.Clone(defaultPolicyYAML) }

// Policy is the classification policy as data: the age table, the host and
// alias lists of the origin, the request types of sales_followup. Its
// version goes into every record. Build one with DefaultPolicy or
// LoadPolicy; a Policy is read-only after that and safe for concurrent use.
type Policy struct {
	// Extends is "default" in a file that extends the default policy.
	Extends string `yaml:"extends,omitempty"`
	// Version identifies the policy in every record ("2026-12.1").
	Version string `yaml:"policy_version"`
	// Age is the age of digital consent (GDPR Art. 8).
	Age AgeTable `yaml:"age_of_digital_consent"`
	// ClockSkew is how far in the future a consent may be and still count.
	ClockSkew time.Duration `yaml:"consent_clock_skew"`
	// SubAddressing: an address's sub-address (anna+promo@) is left out
	// too when it is matched against the suppression list, so that an
	// objection of anna@ catches anna+promo@ and the other way round. Nil
	// means true: the default errs on the side of the person.
	SubAddressing *bool `yaml:"sub_addressing,omitempty"`
	// SalesFollowupRequests are the request types that ground sales_followup.
	SalesFollowupRequests []string `yaml:"sales_followup_requests"`
	// AffirmativeMethods are the consent methods that are an affirmative
	// act of the person (GDPR Art. 4(11), Recital 32): a grant counts only
	// if its method, normalised (normalMethod), is one of them.
	AffirmativeMethods []string `yaml:"affirmative_methods"`
	// NotAffirmativeMethods are methods known not to be one (a pre-ticked
	// box, opt-out, implied or inferred consent): they never count either,
	// and the audit names them.
	NotAffirmativeMethods []string `yaml:"not_affirmative_methods"`
	// OwnHosts are the site's own hosts: a referrer there is direct traffic.
	OwnHosts []string `yaml:"own_hosts"`
	// Networks are the social networks by normalised name.
	Networks map[string]*HostList `yaml:"networks"`
	// SearchEngines are the search engines by name.
	SearchEngines map[string]*HostList `yaml:"search_engines"`
	// ClickIDs are the click identifiers of origin step 2 by query parameter.
	ClickIDs map[string]ClickID `yaml:"click_ids"`
	// Mediums are utm_medium values by meaning.
	Mediums Mediums `yaml:"mediums"`

	idx *policyIndex
}

// AgeTable is the age of digital consent per country.
type AgeTable struct {
	// Default applies to a country not in Countries, and to no country.
	Default int `yaml:"default"`
	// Countries maps ISO 3166-1 alpha-2 codes to ages.
	Countries map[string]int `yaml:"countries"`
}

// HostList names a network or search engine by its hosts, utm aliases and
// Android app ids.
type HostList struct {
	Hosts   []string `yaml:"hosts"`
	Aliases []string `yaml:"aliases"`
	Apps    []string `yaml:"apps"`
}

// ClickID is what a click identifier in a URL tells of the origin.
type ClickID struct {
	Channel string `yaml:"channel"`
	Network string `yaml:"network"`
	Paid    bool   `yaml:"paid"`
}

// Mediums are utm_medium values by meaning; a value ending in * is a prefix.
type Mediums struct {
	Social   []string `yaml:"social"`
	Email    []string `yaml:"email"`
	Partner  []string `yaml:"partner"`
	Organic  []string `yaml:"organic"`
	Paid     []string `yaml:"paid"`
	Referral []string `yaml:"referral"`
}

var defaultPolicy = func() *Policy {
	p, err := parsePolicy(defaultPolicyYAML, nil)
	if err != nil {
		panic("classify: the embedded default policy is invalid: " + err.Error())
	}
	return p
}()

// DefaultPolicy returns the default policy that ships in the binary.
func DefaultPolicy() *Policy { return defaultPolicy }

// LoadPolicy reads a policy file. A file whose top level has
// `extends: default` changes the default policy: maps merge key by key,
// lists are appended to, single values replace. Any other file replaces the
// default whole and must be complete. Every file must set policy_version.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := parsePolicy(b, defaultPolicy)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// parsePolicy parses b; base is the policy that `extends: default` names.
func parsePolicy(b []byte, base *Policy) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	switch p.Extends {
	case "":
	case "default":
		if base == nil {
			return nil, errors.New("the default policy cannot extend itself")
		}
		p = merge(base, &p)
	default:
		return nil, fmt.Errorf("extends: %q is not a policy; the only one is \"default\"", p.Extends)
	}
	if err := p.validate(); err != nil {
		if p.Extends == "" && base != nil {
			// A partial file without extends replaces the whole default:
			// what it leaves out is missing, and the first missing thing
			// (often the age table) is what the error names.
			return nil, fmt.Errorf("%w (this file replaces the whole default policy; to change only part of it, start it with extends: default)", err)
		}
		return nil, err
	}
	p.idx = buildIndex(&p)
	return &p, nil
}

func (p *Policy) validate() error {
	if p.Version == "" {
		return errors.New("policy_version is required, so that every record can name the policy that decided it")
	}
	if p.Age.Default <= 0 {
		return errors.New("age_of_digital_consent.default must be a positive age")
	}
	for c, a := range p.Age.Countries {
		if len(c) != 2 || strings.ToUpper(c) != c || a <= 0 {
			return fmt.Errorf("age_of_digital_consent.countries: %q: %d must be an upper-case ISO 3166-1 alpha-2 code and a positive age", c, a)
		}
	}
	if p.ClockSkew < 0 {
		return errors.New("consent_clock_skew must not be negative")
	}
	if len(p.AffirmativeMethods) == 0 {
		return errors.New("affirmative_methods is required: without it no consent counts")
	}
	for _, list := range []struct {
		name    string
		methods []string
	}{{"affirmative_methods", p.AffirmativeMethods}, {"not_affirmative_methods", p.NotAffirmativeMethods}} {
		for _, m := range list.methods {
			if m == "" || normalMethod(m) != m {
				return fmt.Errorf("%s: %q must be written as it is matched: lower case, words joined by _", list.name, m)
			}
		}
	}
	for _, m := range p.AffirmativeMethods {
		if slices.Contains(p.NotAffirmativeMethods, m) {
			return fmt.Errorf("method %q is in both affirmative_methods and not_affirmative_methods", m)
		}
	}
	for id, c := range p.ClickIDs {
		switch c.Channel {
		case "social", "search", "email", "referral", "partner":
		default:
			return fmt.Errorf("click_ids.%s: channel %q must be social, search, email, referral or partner", id, c.Channel)
		}
	}
	return nil
}

// merge returns base changed by ext.
func merge(base, ext *Policy) Policy {
	p := Policy{
		Version:               ext.Version,
		Age:                   AgeTable{Default: base.Age.Default, Countries: map[string]int{}},
		ClockSkew:             base.ClockSkew,
		SubAddressing:         base.SubAddressing,
		SalesFollowupRequests: union(base.SalesFollowupRequests, ext.SalesFollowupRequests),
		// A method the extension names in one list leaves the other.
		AffirmativeMethods:    without(union(base.AffirmativeMethods, ext.AffirmativeMethods), ext.NotAffirmativeMethods),
		NotAffirmativeMethods: without(union(base.NotAffirmativeMethods, ext.NotAffirmativeMethods), ext.AffirmativeMethods),
		OwnHosts:              union(base.OwnHosts, ext.OwnHosts),
		Networks:              mergeHostLists(base.Networks, ext.Networks),
		SearchEngines:         mergeHostLists(base.SearchEngines, ext.SearchEngines),
		ClickIDs:              map[string]ClickID{},
		Mediums: Mediums{
			Social:   union(base.Mediums.Social, ext.Mediums.Social),
			Email:    union(base.Mediums.Email, ext.Mediums.Email),
			Partner:  union(base.Mediums.Partner, ext.Mediums.Partner),
			Organic:  union(base.Mediums.Organic, ext.Mediums.Organic),
			Paid:     union(base.Mediums.Paid, ext.Mediums.Paid),
			Referral: union(base.Mediums.Referral, ext.Mediums.Referral),
		},
	}
	if ext.Age.Default != 0 {
		p.Age.Default = ext.Age.Default
	}
	for _, m := range []map[string]int{base.Age.Countries, ext.Age.Countries} {
		for k, v := range m {
			p.Age.Countries[k] = v
		}
	}
	if ext.ClockSkew != 0 {
		p.ClockSkew = ext.ClockSkew
	}
	if ext.SubAddressing != nil {
		p.SubAddressing = ext.SubAddressing
	}
	for _, m := range []map[string]ClickID{base.ClickIDs, ext.ClickIDs} {
		for k, v := range m {
			p.ClickIDs[k] = v
		}
	}
	return p
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func mergeHostLists(a, b map[string]*HostList) map[string]*HostList {
	out := map[string]*HostList{}
	for _, m := range []map[string]*HostList{a, b} {
		for name, h := range m {
			if h == nil {
				continue
			}
			cur := out[name]
			if cur == nil {
				cur = &HostList{}
				out[name] = cur
			}
			cur.Hosts = union(cur.Hosts, h.Hosts)
			cur.Aliases = union(cur.Aliases, h.Aliases)
			cur.Apps = union(cur.Apps, h.Apps)
		}
	}
	return out
}

// AgeOfConsent returns the age of digital consent in country.
func (p *Policy) AgeOfConsent(country string) int {
	if a, ok := p.Age.Countries[country]; ok {
		return a
	}
	return p.Age.Default
}

// without returns a without the elements of b.
func without(a, b []string) []string {
	return slices.DeleteFunc(a, func(s string) bool { return slices.Contains(b, s) })
}

// normalMethod is a consent method as the policy lists it: trimmed, lower
// case, spaces and hyphens turned into underscores ("Double Opt-In" is
// double_opt_in).
func normalMethod(m string) string {
	m = strings.ToLower(strings.TrimSpace(m))
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, m)
}

// methodWhy returns why a grant made by method does not count, or "" when
// the method is an affirmative act (GDPR Art. 4(11), Recital 32; CJEU
// C-673/17 Planet49: a pre-ticked box is no consent). The reason names the
// method only when the policy does: a method it does not know may be free
// text.
func (p *Policy) methodWhy(method string) string {
	m := normalMethod(method)
	switch {
	case slices.Contains(p.AffirmativeMethods, m):
		return ""
	case slices.Contains(p.NotAffirmativeMethods, m):
		return "method " + m + " is not an affirmative act of the person (GDPR Recital 32; CJEU C-673/17 Planet49)"
	default:
		return "its method is not one the policy lists as an affirmative act (GDPR Art. 4(11), Recital 32)"
	}
}

// MethodLabel names a consent method as the policy knows it, for a metric
// or a summary: the method normalized when one of the policy's lists
// holds it, else "other" (a method the policy does not know may be free
// text, so the set of labels stays bounded); affirmative tells whether a
// grant made by it counts.
func (p *Policy) MethodLabel(method string) (label string, affirmative bool) {
	m := normalMethod(method)
	switch {
	case slices.Contains(p.AffirmativeMethods, m):
		return m, true
	case slices.Contains(p.NotAffirmativeMethods, m):
		return m, false
	}
	return "other", false
}

func (p *Policy) salesFollowup(requestType string) bool {
	return requestType != "" && slices.Contains(p.SalesFollowupRequests, requestType)
}

// hostClass is what a host or alias is known as.
type hostClass struct {
	channel string // "social", "search" or "own"
	name    string // the network or search engine
}

type policyIndex struct {
	hosts    map[string]hostClass // exact hosts; subdomains are found by walking up
	wildcard map[string]hostClass // "google" of "google.*"
	aliases  map[string]hostClass
	apps     map[string]hostClass
	mediums  map[string]string // exact medium -> meaning
	prefixes [][2]string       // medium prefix, meaning
}

func buildIndex(p *Policy) *policyIndex {
	x := &policyIndex{
		hosts: map[string]hostClass{}, wildcard: map[string]hostClass{},
		aliases: map[string]hostClass{}, apps: map[string]hostClass{}, mediums: map[string]string{},
	}
	add := func(channel string, lists map[string]*HostList) {
		for _, name := range sortedKeys(lists) {
			h := lists[name]
			if h == nil {
				continue
			}
			c := hostClass{channel, name}
			for _, host := range h.Hosts {
				host = strings.ToLower(host)
				if base, ok := strings.CutSuffix(host, ".*"); ok {
					x.wildcard[base] = c
				} else {
					x.hosts[host] = c
				}
			}
			x.aliases[name] = c
			for _, a := range h.Aliases {
				x.aliases[strings.ToLower(a)] = c
			}
			for _, a := range h.Apps {
				x.apps[strings.ToLower(a)] = c
			}
		}
	}
	add("search", p.SearchEngines)
	add("social", p.Networks)
	for _, h := range p.OwnHosts {
		x.hosts[strings.ToLower(h)] = hostClass{channel: "own"}
	}
	for _, m := range []struct {
		meaning string
		values  []string
	}{
		{"social", p.Mediums.Social}, {"email", p.Mediums.Email}, {"partner", p.Mediums.Partner},
		{"organic", p.Mediums.Organic}, {"paid", p.Mediums.Paid}, {"referral", p.Mediums.Referral},
	} {
		for _, v := range m.values {
			v = strings.ToLower(v)
			if pre, ok := strings.CutSuffix(v, "*"); ok {
				x.prefixes = append(x.prefixes, [2]string{pre, m.meaning})
			} else if _, dup := x.mediums[v]; !dup {
				x.mediums[v] = m.meaning
			}
		}
	}
	return x
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// host classifies a lower-case host: its own entry, a parent domain's, or
// a "name.*" entry with one or two labels after name.
func (x *policyIndex) host(h string) (hostClass, bool) {
	for s := h; ; {
		if c, ok := x.hosts[s]; ok {
			return c, true
		}
		dot := strings.IndexByte(s, '.')
		if dot < 0 {
			break
		}
		s = s[dot+1:]
	}
	labels := strings.Split(h, ".")
	for i := len(labels) - 2; i >= 0 && i >= len(labels)-3; i-- {
		if c, ok := x.wildcard[labels[i]]; ok {
			return c, true
		}
	}
	return hostClass{}, false
}

// medium returns the meaning of a lower-case utm_medium, or "".
func (x *policyIndex) medium(m string) string {
	if v, ok := x.mediums[m]; ok {
		return v
	}
	for _, p := range x.prefixes {
		if strings.HasPrefix(m, p[0]) {
			return p[1]
		}
	}
	return ""
}

// subAddressing reports whether sub-addresses are left out in suppression
// matching (SubAddressing; true unless the policy says false).
func (p *Policy) subAddressing() bool { return p.SubAddressing == nil || *p.SubAddressing }
