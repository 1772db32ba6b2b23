package classify

import (
	"cmp"
	"slices"
)

// PolicyDiff is what a candidate policy would change against the policy
// in force, over the same events evaluated by the same engine
// (`leadpipe policy diff`): the leads whose decision, or whose basis for
// any purpose, differs, counted by transition, and each moved lead by its
// lead key. It names leads only by their pseudonymous key, never by lead
// id, email or phone.
type PolicyDiff struct {
	// BasePolicy and CandidatePolicy are the two policy_versions.
	BasePolicy      string `json:"base_policy"`
	CandidatePolicy string `json:"candidate_policy"`
	// Leads is the number of leads compared; Moved, of those that moved.
	Leads int `json:"leads"`
	Moved int `json:"moved"`
	// Decisions count the moved leads by decision transition (only those
	// whose decision changed).
	Decisions []Transition `json:"decisions"`
	// Bases count the moved leads by purpose and basis transition.
	Bases []Transition `json:"bases"`
	// MovedLeads are the moved leads, ordered by lead key.
	MovedLeads []Move `json:"moved_leads"`
}

// Transition is a count of leads moved from one value to another: a
// decision, or the basis of Purpose.
type Transition struct {
	Purpose string `json:"purpose,omitempty"`
	From    string `json:"from"`
	To      string `json:"to"`
	Leads   int    `json:"leads"`
}

// Move is one lead that a candidate policy moves, with what changed and
// why.
type Move struct {
	LeadKey    string `json:"lead_key"`
	KeyVersion string `json:"key_version"`
	// Decision and Rule are the lead's decision and deciding rule under
	// the base and the candidate policy.
	Decision Change `json:"decision"`
	Rule     Change `json:"rule"`
	// Purposes are the purposes whose basis changed.
	Purposes []PurposeChange `json:"purposes,omitempty"`
	// Explain are the steps of the explanation that changed.
	Explain []StepChange `json:"explain,omitempty"`
	// Ignored are the consent statements one policy ignored and the other
	// did not, with why: usually the cause of the move.
	Ignored []IgnoredChange `json:"ignored,omitempty"`
}

// Change is a value under the base (From) and the candidate (To) policy.
type Change struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// PurposeChange is the basis of one purpose under both policies, with
// the evidence each rests on.
type PurposeChange struct {
	Purpose      string `json:"purpose"`
	From         string `json:"from"`
	To           string `json:"to"`
	EvidenceFrom string `json:"evidence_from"`
	EvidenceTo   string `json:"evidence_to"`
}

// StepChange is one step of the explanation under both policies; From
// or To is nil where that policy's explanation has no such step.
type StepChange struct {
	Rule string `json:"rule"`
	From *Step  `json:"from,omitempty"`
	To   *Step  `json:"to,omitempty"`
}

// IgnoredChange is a consent statement ignored under only one policy:
// Under is "base" or "candidate".
type IgnoredChange struct {
	Under string `json:"under"`
	IgnoredConsent
}

// Outcome is what one policy decided of one lead: its last record, and
// the consent statements ignored over all its events.
type Outcome struct {
	Record  Record
	Ignored []IgnoredConsent
}

// DiffPolicies compares, lead key by lead key, the outcomes of the same
// events under a base and a candidate policy. A lead with a record under
// one policy only compares against an empty outcome; one with a record
// under neither (only consents, no lead event) is left out.
func DiffPolicies(baseVersion, candVersion string, base, cand map[string]*Outcome) PolicyDiff {
	d := PolicyDiff{BasePolicy: baseVersion, CandidatePolicy: candVersion, Decisions: []Transition{}, Bases: []Transition{}, MovedLeads: []Move{}}
	var keys []string
	for _, m := range []map[string]*Outcome{base, cand} {
		for k, o := range m {
			if o.Record.Decision != "" {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	d.Leads = len(keys)
	count := func(list *[]Transition, purpose, from, to string) {
		for i := range *list {
			if t := &(*list)[i]; t.Purpose == purpose && t.From == from && t.To == to {
				t.Leads++
				return
			}
		}
		*list = append(*list, Transition{Purpose: purpose, From: from, To: to, Leads: 1})
	}
	for _, k := range keys {
		b, c := base[k], cand[k]
		if b == nil {
			b = &Outcome{}
		}
		if c == nil {
			c = &Outcome{}
		}
		m, moved := diffOutcome(b, c)
		if !moved {
			continue
		}
		m.LeadKey = k
		d.Moved++
		if m.Decision.From != m.Decision.To {
			count(&d.Decisions, "", m.Decision.From, m.Decision.To)
		}
		for _, p := range m.Purposes {
			count(&d.Bases, p.Purpose, p.From, p.To)
		}
		d.MovedLeads = append(d.MovedLeads, m)
	}
	byCount := func(a, b Transition) int {
		return cmp.Or(cmp.Compare(b.Leads, a.Leads), cmp.Compare(a.Purpose, b.Purpose), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	}
	slices.SortFunc(d.Decisions, byCount)
	slices.SortFunc(d.Bases, byCount)
	return d
}

// diffOutcome returns what differs between the outcomes of one lead, and
// whether the lead moved: its decision or the basis of a purpose differs.
func diffOutcome(b, c *Outcome) (Move, bool) {
	rb, rc := &b.Record, &c.Record
	m := Move{
		KeyVersion: cmp.Or(rc.KeyVersion, rb.KeyVersion),
		Decision:   Change{rb.Decision, rc.Decision},
		Rule:       Change{rb.Rule, rc.Rule},
	}
	for _, name := range purposeNames {
		pb, pc := rb.Purposes.Get(name), rc.Purposes.Get(name)
		if pb.Basis != pc.Basis {
			m.Purposes = append(m.Purposes, PurposeChange{Purpose: name, From: pb.Basis, To: pc.Basis, EvidenceFrom: pb.Evidence, EvidenceTo: pc.Evidence})
		}
	}
	if m.Decision.From == m.Decision.To && len(m.Purposes) == 0 {
		return Move{}, false
	}
	m.Explain = diffSteps(rb.Explain, rc.Explain)
	for _, ic := range b.Ignored {
		if !slices.Contains(c.Ignored, ic) {
			m.Ignored = append(m.Ignored, IgnoredChange{"base", ic})
		}
	}
	for _, ic := range c.Ignored {
		if !slices.Contains(b.Ignored, ic) {
			m.Ignored = append(m.Ignored, IgnoredChange{"candidate", ic})
		}
	}
	return m, true
}

// diffSteps pairs the steps of two explanations by rule, in the order the
// candidate's lists them, then the base's left over, and returns the pairs
// that differ.
func diffSteps(b, c []Step) []StepChange {
	var out []StepChange
	used := make([]bool, len(b))
	for i := range c {
		j := slices.IndexFunc(b, func(s Step) bool { return s.Rule == c[i].Rule })
		for j >= 0 && used[j] {
			k := slices.IndexFunc(b[j+1:], func(s Step) bool { return s.Rule == c[i].Rule })
			if k < 0 {
				j = -1
				break
			}
			j += 1 + k
		}
		if j < 0 {
			out = append(out, StepChange{Rule: c[i].Rule, To: &c[i]})
			continue
		}
		used[j] = true
		if b[j] != c[i] {
			out = append(out, StepChange{Rule: c[i].Rule, From: &b[j], To: &c[i]})
		}
	}
	for j := range b {
		if !used[j] {
			out = append(out, StepChange{Rule: b[j].Rule, From: &b[j]})
		}
	}
	return out
}
