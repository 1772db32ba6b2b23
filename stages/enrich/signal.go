package enrich

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/leadpipe/leadpipe/schemas"
)

// The signals a permission can be decided by, the values of an enriched
// event's analytics_signal and profiling_signal: a bounded set, fit for a
// metric label.
const (
	SignalTCF     = "tcf"     // an IAB TCF TC string
	SignalGCM     = "gcm"     // Google Consent Mode v2 states
	SignalGCS     = "gcs"     // Google's gcs hit parameter
	SignalCDP     = "cdp"     // a CDP's category map
	SignalUnknown = "unknown" // no signal said anything: the policy's unknown decided
)

// Signals are the values of SignalTCF to SignalUnknown, in the order a
// permission is looked up in an event's signals.
var Signals = []string{SignalTCF, SignalGCM, SignalGCS, SignalCDP, SignalUnknown}

//go:embed signals.yaml
var defaultSignalsYAML []byte

// SignalPolicy says what each consent signal on a page allows a behavior
// event to feed: a visitor key (analytics) and its lead's key (profiling).
// Build one with DefaultSignalPolicy or LoadSignalPolicy; it is read-only
// after that and safe for concurrent use. signals.yaml documents every
// field.
type SignalPolicy struct {
	Version string `yaml:"signal_policy_version"`
	// Unknown is what a permission no signal speaks of allows.
	Unknown Permissions `yaml:"unknown"`
	TCF     struct {
		AnalyticsPurposes []int `yaml:"analytics_purposes"`
		ProfilingPurposes []int `yaml:"profiling_purposes"`
	} `yaml:"tcf"`
	GCM struct {
		Analytics []string `yaml:"analytics"`
		Profiling []string `yaml:"profiling"`
	} `yaml:"gcm"`
	GCS struct {
		Analytics string `yaml:"analytics"`
	} `yaml:"gcs"`
	CDP struct {
		Analytics []string `yaml:"analytics"`
		Profiling []string `yaml:"profiling"`
	} `yaml:"cdp"`

	// VendorID is the controller's IAB vendor id (--tcf-vendor-id); 0
	// reads the TC string's publisher segment instead.
	VendorID int `yaml:"-"`
}

// Permissions are what a visitor's signals allow.
type Permissions struct {
	Analytics bool `yaml:"analytics"`
	Profiling bool `yaml:"profiling"`
}

// Verdict is what an event's signals allow, and which signal decided
// each permission (one of Signals).
type Verdict struct {
	Analytics       bool
	AnalyticsSignal string
	Profiling       bool
	ProfilingSignal string
	// UnknownCategories counts the event's CDP categories that the policy
	// maps to neither permission: they counted for nothing.
	UnknownCategories int
}

var defaultSignalPolicy = func() *SignalPolicy {
	p, err := parseSignalPolicy(defaultSignalsYAML)
	if err != nil {
		panic("enrich: the embedded signal policy is invalid: " + err.Error())
	}
	return p
}()

// DefaultSignalPolicy returns a copy of the signal policy that ships in
// the binary (signals.yaml), for the controller vendorID (0: none).
func DefaultSignalPolicy(vendorID int) *SignalPolicy {
	p := *defaultSignalPolicy
	p.VendorID = vendorID
	return &p
}

// DefaultSignalPolicyYAML returns the text of the default signal policy.
func DefaultSignalPolicyYAML() []byte { return bytes.Clone(defaultSignalsYAML) }

// LoadSignalPolicy reads a signal policy file, which replaces the default
// whole, for the controller vendorID. Its errors name the line.
func LoadSignalPolicy(path string, vendorID int) (*SignalPolicy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signal policy: %w", err)
	}
	p, err := parseSignalPolicy(b)
	if err != nil {
		return nil, fmt.Errorf("signal policy %s: %w", path, err)
	}
	p.VendorID = vendorID
	return p, nil
}

func parseSignalPolicy(b []byte) (*SignalPolicy, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	var p SignalPolicy
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	at := func(path ...string) string {
		return fmt.Sprintf("line %d: %s", lineOf(&root, path...), strings.Join(path, "."))
	}
	if p.Version == "" {
		return nil, errors.New(at("signal_policy_version") + " is required")
	}
	for _, f := range []struct {
		name string
		ps   []int
	}{{"analytics_purposes", p.TCF.AnalyticsPurposes}, {"profiling_purposes", p.TCF.ProfilingPurposes}} {
		if len(f.ps) == 0 {
			return nil, errors.New(at("tcf", f.name) + " must name at least one TCF purpose")
		}
		for _, n := range f.ps {
			if n < 1 || n > 11 {
				return nil, fmt.Errorf("%s: %d is not a TCF purpose (1 to 11)", at("tcf", f.name), n)
			}
		}
	}
	states := []string{"ad_storage", "analytics_storage", "ad_user_data", "ad_personalization"}
	for _, f := range []struct {
		name string
		ss   []string
	}{{"analytics", p.GCM.Analytics}, {"profiling", p.GCM.Profiling}} {
		if len(f.ss) == 0 {
			return nil, errors.New(at("gcm", f.name) + " must name at least one consent mode state")
		}
		for _, s := range f.ss {
			if !slices.Contains(states, s) {
				return nil, fmt.Errorf("%s: %q is not a consent mode state (%s)", at("gcm", f.name), s, strings.Join(states, ", "))
			}
		}
	}
	if p.GCS.Analytics != "analytics_storage" && p.GCS.Analytics != "ad_storage" {
		return nil, errors.New(at("gcs", "analytics") + " must be analytics_storage or ad_storage, the states gcs carries")
	}
	for _, f := range []struct {
		name string
		cs   []string
	}{{"analytics", p.CDP.Analytics}, {"profiling", p.CDP.Profiling}} {
		for _, c := range f.cs {
			if strings.TrimSpace(c) == "" {
				return nil, errors.New(at("cdp", f.name) + " holds an empty category name")
			}
		}
	}
	return &p, nil
}

// lineOf is the line of the value at path in the document root, or of the
// deepest part of the path that is there.
func lineOf(root *yaml.Node, path ...string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				n, line, found = n.Content[i+1], n.Content[i].Line, true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}

// tri is what one signal says of a permission.
type tri int8

const (
	silent tri = iota
	allows
	denies
)

// Decide returns what the consent signals c allow (c may be nil: no
// signal). A signal that denies a permission wins over one that allows
// it; a permission no signal speaks of is what Unknown says. Profiling is
// allowed only with analytics: without analytics an event carries no key
// of any kind.
func (p *SignalPolicy) Decide(c *schemas.PageConsent) Verdict {
	var said [4][2]tri // per signal in the order of Signals: analytics, profiling
	var v Verdict
	if c != nil {
		if tc := c.TC(); tc != nil {
			said[0] = [2]tri{p.tcf(tc, p.TCF.AnalyticsPurposes), p.tcf(tc, p.TCF.ProfilingPurposes)}
		}
		if m := c.GCM; m != nil {
			said[1] = [2]tri{gcm(m, p.GCM.Analytics), gcm(m, p.GCM.Profiling)}
		}
		if len(c.GCS) == 4 {
			bit := c.GCS[3] // analytics_storage
			if p.GCS.Analytics == "ad_storage" {
				bit = c.GCS[2]
			}
			said[2][0] = denies
			if bit == '1' {
				said[2][0] = allows
			}
		}
		if len(c.Categories) > 0 {
			said[3] = [2]tri{cdp(c.Categories, p.CDP.Analytics), cdp(c.Categories, p.CDP.Profiling)}
			for name := range c.Categories {
				if !slices.Contains(p.CDP.Analytics, name) && !slices.Contains(p.CDP.Profiling, name) {
					v.UnknownCategories++
				}
			}
		}
	}
	decide := func(k int, unknown bool) (bool, string) {
		for _, want := range []tri{denies, allows} {
			for s := range said {
				if said[s][k] == want {
					return want == allows, Signals[s]
				}
			}
		}
		return unknown, SignalUnknown
	}
	v.Analytics, v.AnalyticsSignal = decide(0, p.Unknown.Analytics)
	v.Profiling, v.ProfilingSignal = decide(1, p.Unknown.Profiling)
	if v.Profiling && !v.Analytics {
		v.Profiling, v.ProfilingSignal = false, v.AnalyticsSignal
	}
	return v
}

// tcf says whether every purpose of ps is consented for the controller:
// the vendor VendorID, or without one the publisher.
func (p *SignalPolicy) tcf(tc *schemas.TCString, ps []int) tri {
	for _, n := range ps {
		id := uint16(n)
		if p.VendorID == 0 {
			if !slices.Contains(tc.PublisherConsents, id) {
				return denies
			}
			continue
		}
		if !slices.Contains(tc.PurposeConsents, id) || !slices.Contains(tc.VendorConsents, uint16(p.VendorID)) {
			return denies
		}
		for _, r := range tc.PublisherRestrictions {
			// Not allowed at all (0), or only on legitimate interest (2):
			// the visitor's consent does not count for the vendor.
			if r.PurposeID == n && r.RestrictionType != 1 && slices.Contains(r.VendorIDs, uint16(p.VendorID)) {
				return denies
			}
		}
	}
	return allows
}

// gcm says whether every state of states is granted; a state the page did
// not set is not.
func gcm(m *schemas.ConsentMode, states []string) tri {
	for _, s := range states {
		var v string
		switch s {
		case "ad_storage":
			v = m.AdStorage
		case "analytics_storage":
			v = m.AnalyticsStorage
		case "ad_user_data":
			v = m.AdUserData
		case "ad_personalization":
			v = m.AdPersonalization
		}
		if v != "granted" {
			return denies
		}
	}
	return allows
}

// cdp says whether one of the categories cats is granted in m, denied when
// some are present and none granted, silent when none is present.
func cdp(m map[string]bool, cats []string) tri {
	out := silent
	for _, c := range cats {
		if granted, ok := m[c]; ok {
			if granted {
				return allows
			}
			out = denies
		}
	}
	return out
}
