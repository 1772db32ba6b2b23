package classify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// PolicyChange is one difference between two policies' texts: the setting
// (as policy.yaml names it), what the older policy held and what the newer
// one holds ("" for nothing).
type PolicyChange struct {
	Setting string `json:"setting"`
	Was     string `json:"was"`
	Now     string `json:"now"`
}

// ComparePolicies lists what changed from policy a to policy b, setting by
// setting, in the order of policy.yaml: the rule text behind a change of
// policy_version, for the accountability report. It says what differs,
// not whom it moves (DiffPolicies does that, on events).
func ComparePolicies(a, b *Policy) []PolicyChange {
	var out []PolicyChange
	add := func(setting, was, now string) {
		if was != now {
			out = append(out, PolicyChange{Setting: setting, Was: was, Now: now})
		}
	}
	add("policy_version", a.Version, b.Version)
	add("age_of_digital_consent.default", strconv.Itoa(a.Age.Default), strconv.Itoa(b.Age.Default))
	for _, c := range unionKeys(a.Age.Countries, b.Age.Countries) {
		add("age_of_digital_consent.countries."+c, ageOf(a.Age.Countries, c), ageOf(b.Age.Countries, c))
	}
	add("consent_clock_skew", a.ClockSkew.String(), b.ClockSkew.String())
	add("sub_addressing", strconv.FormatBool(a.subAddressing()), strconv.FormatBool(b.subAddressing()))
	listChange(&out, "sales_followup_requests", a.SalesFollowupRequests, b.SalesFollowupRequests)
	listChange(&out, "affirmative_methods", a.AffirmativeMethods, b.AffirmativeMethods)
	listChange(&out, "not_affirmative_methods", a.NotAffirmativeMethods, b.NotAffirmativeMethods)
	listChange(&out, "own_hosts", a.OwnHosts, b.OwnHosts)
	for _, lists := range []struct {
		name string
		a, b map[string]*HostList
	}{{"networks", a.Networks, b.Networks}, {"search_engines", a.SearchEngines, b.SearchEngines}} {
		for _, n := range unionKeys(lists.a, lists.b) {
			ha, hb := lists.a[n], lists.b[n]
			switch {
			case ha == nil:
				add(lists.name+"."+n, "", "added")
			case hb == nil:
				add(lists.name+"."+n, "present", "")
			default:
				listChange(&out, lists.name+"."+n+".hosts", ha.Hosts, hb.Hosts)
				listChange(&out, lists.name+"."+n+".aliases", ha.Aliases, hb.Aliases)
				listChange(&out, lists.name+"."+n+".apps", ha.Apps, hb.Apps)
			}
		}
	}
	for _, id := range unionKeys(a.ClickIDs, b.ClickIDs) {
		add("click_ids."+id, clickIDText(a.ClickIDs, id), clickIDText(b.ClickIDs, id))
	}
	for _, m := range []struct {
		name string
		a, b []string
	}{
		{"social", a.Mediums.Social, b.Mediums.Social}, {"email", a.Mediums.Email, b.Mediums.Email},
		{"partner", a.Mediums.Partner, b.Mediums.Partner}, {"organic", a.Mediums.Organic, b.Mediums.Organic},
		{"paid", a.Mediums.Paid, b.Mediums.Paid}, {"referral", a.Mediums.Referral, b.Mediums.Referral},
	} {
		listChange(&out, "mediums."+m.name, m.a, m.b)
	}
	return out
}

// listChange adds the change of a list as the items it lost and gained
// ("- a, b" and "+ c"), when the two hold different items.
func listChange(out *[]PolicyChange, setting string, a, b []string) {
	var lost, gained []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			lost = append(lost, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			gained = append(gained, x)
		}
	}
	if len(lost) == 0 && len(gained) == 0 {
		return
	}
	c := PolicyChange{Setting: setting}
	if len(lost) > 0 {
		c.Was = "- " + strings.Join(lost, ", ")
	}
	if len(gained) > 0 {
		c.Now = "+ " + strings.Join(gained, ", ")
	}
	*out = append(*out, c)
}

func unionKeys[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func ageOf(m map[string]int, c string) string {
	if a, ok := m[c]; ok {
		return strconv.Itoa(a)
	}
	return ""
}

func clickIDText(m map[string]ClickID, id string) string {
	c, ok := m[id]
	if !ok {
		return ""
	}
	s := fmt.Sprintf("%s/%s", c.Channel, c.Network)
	if c.Paid {
		s += " paid"
	}
	return s
}

// PolicyTerms are the settings of a policy that decide a lead's bases, for
// the accountability report: the ages of digital consent, the clock skew,
// the consent methods and the requests that ground sales_followup.
type PolicyTerms struct {
	Version               string         `json:"version"`
	AgeDefault            int            `json:"age_of_digital_consent_default"`
	AgeCountries          []CountryAge   `json:"age_of_digital_consent_countries"`
	ClockSkew             string         `json:"consent_clock_skew"`
	ConsentCounts         string         `json:"consent_counts"`
	SubAddressing         bool           `json:"sub_addressing"`
	AffirmativeMethods    []string       `json:"affirmative_methods"`
	NotAffirmativeMethods []string       `json:"not_affirmative_methods"`
	SalesFollowupRequests []string       `json:"sales_followup_requests"`
	Purposes              []PurposeBases `json:"purposes"`
	Rules                 []RuleSource   `json:"rules"`
}

// CountryAge is a country's age of digital consent (Art. 8(1)).
type CountryAge struct {
	Country string `json:"country"`
	Age     int    `json:"age"`
}

// Terms returns the policy's terms.
func (p *Policy) Terms() PolicyTerms {
	t := PolicyTerms{
		Version: p.Version, AgeDefault: p.Age.Default, ClockSkew: p.ClockSkew.String(), ConsentCounts: p.ConsentTerms(), SubAddressing: p.subAddressing(),
		AffirmativeMethods: nonNil(p.AffirmativeMethods), NotAffirmativeMethods: nonNil(p.NotAffirmativeMethods),
		SalesFollowupRequests: nonNil(p.SalesFollowupRequests), Purposes: p.Lawfulness(), Rules: Rules(),
		AgeCountries: []CountryAge{},
	}
	for _, c := range sortedCountries(p.Age.Countries) {
		t.AgeCountries = append(t.AgeCountries, CountryAge{Country: c, Age: p.Age.Countries[c]})
	}
	return t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// sortedCountries lists an age table's countries in order, for output.
func sortedCountries(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
