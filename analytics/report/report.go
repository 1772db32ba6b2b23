// Package report is the accountability report of `leadpipe report`: what
// the controller hands a DPO, an auditor or the Garante to demonstrate
// compliance (GDPR Art. 5(2), Art. 24) for a period. It sits at the end of
// the data flow and reads what the stages left: ClickHouse's tables
// (analytics.ReadAccountability), the policy in force and the files of its
// earlier versions (stages/classify), and the decision ledger's
// verification, through a LedgerVerifier the caller provides.
//
// Build assembles a Report; Write renders it as HTML (html/template, no
// script), JSON (the stable schema of docs/report.schema.json) or
// Markdown, for a DPIA. The report holds counts, times, policy terms and
// erasure ids, never a lead id, email, phone or name.
package report

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/stages/classify"
)

// SchemaVersion names the JSON form of a Report. It changes only when a
// field is removed or changes meaning; fields may be added within it.
const SchemaVersion = "leadpipe.report/v1"

// Report is the accountability report of one period. Its JSON form is
// described by docs/report.schema.json.
type Report struct {
	Schema         string         `json:"schema"`
	GeneratedAt    time.Time      `json:"generated_at"`
	Period         Period         `json:"period"`
	Database       string         `json:"database"`
	Policy         Policy         `json:"policy"`
	DataCategories []DataCategory `json:"data_categories"`
	Origins        Origins        `json:"origins"`
	Quarantine     Quarantine     `json:"quarantine"`
	Requests       Requests       `json:"requests"`
	IgnoredGrants  []IgnoredGrant `json:"ignored_grants"`
	PolicyVersions PolicyVersions `json:"policy_versions"`
	Removals       []Removal      `json:"removals"`
	Ledger         LedgerSection  `json:"ledger"`
}

// Period is the period covered: From inclusive, To exclusive, UTC.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Policy is the policy in force when the report was made: where it was
// read from ("built-in", or the file given), and its terms.
type Policy struct {
	Source string `json:"source"`
	classify.PolicyTerms
}

// DataCategory is one store of leadpipe's: what it holds and how long.
type DataCategory struct {
	Store string `json:"store"`
	Holds string `json:"holds"`
	Kept  string `json:"kept"`
}

// Origins are the leads first seen in the period, as of its end.
type Origins struct {
	Leads     uint64           `json:"leads"`
	Decisions []OriginDecision `json:"by_decision"`
	Bases     []OriginBasis    `json:"by_basis"`
}

// OriginDecision counts the leads of an origin channel with a decision.
type OriginDecision struct {
	Channel  string `json:"channel"`
	Decision string `json:"decision"`
	Leads    uint64 `json:"leads"`
}

// OriginBasis counts the leads of an origin channel whose purpose rests
// on a basis ("none": no basis, the purpose is not carried out).
type OriginBasis struct {
	Channel string `json:"channel"`
	Purpose string `json:"purpose"`
	Basis   string `json:"basis"`
	Article string `json:"article"`
	Leads   uint64 `json:"leads"`
}

// Quarantine is the quarantine flow of the period.
type Quarantine struct {
	Entered           uint64 `json:"entered"`
	Released          uint64 `json:"released"`
	Purged            uint64 `json:"purged"`
	WaitingAtEnd      uint64 `json:"waiting_at_end"`
	MedianWaitSeconds uint64 `json:"median_wait_seconds"`
	RetentionDays     int    `json:"retention_days"`
}

// Requests are the data subjects' requests of the period.
type Requests struct {
	// The limit is one calendar month (Art. 12(3)), whose length varies:
	// each request carries its own deadline.
	Erasure ErasureRequests `json:"erasure"`
	Access  AccessRequests  `json:"access"`
}

// ErasureRequests are the erasures (Art. 17) requested in the period.
type ErasureRequests struct {
	Receipts []ErasureReceipt `json:"receipts"`
	Pending  []PendingErasure `json:"pending"`
	// Late counts the receipts written more than a month after their
	// request, Overdue the pending requests older than a month at
	// GeneratedAt.
	Late    int `json:"late"`
	Overdue int `json:"overdue"`
}

// ErasureReceipt is one erasure (one request and lead) with its time to
// receipt against the one-month limit.
type ErasureReceipt struct {
	ErasureID   string    `json:"erasure_id"`
	RequestedAt time.Time `json:"requested_at"`
	CompletedAt time.Time `json:"completed_at"`
	Seconds     int64     `json:"seconds_to_receipt"`
	Deadline    time.Time `json:"deadline"`
	Late        bool      `json:"late"`
	Verified    bool      `json:"verified"`
}

// PendingErasure is a request without a receipt yet.
type PendingErasure struct {
	RequestedAt time.Time `json:"requested_at"`
	Leads       uint64    `json:"leads"`
	Deadline    time.Time `json:"deadline"`
	Overdue     bool      `json:"overdue"`
}

// AccessRequests say whether access requests (Art. 15) are on record.
type AccessRequests struct {
	Recorded bool   `json:"recorded"`
	Note     string `json:"note"`
}

// accessNote says plainly what leadpipe records of access requests.
const accessNote = "leadpipe keeps no record of access requests (Art. 15): `leadpipe lead` answers one " +
	"from what is held and writes nothing. Their dates and times to answer must come from the controller's own register of requests."

// IgnoredGrant counts the grants that did not count for one reason.
type IgnoredGrant struct {
	Reason    string         `json:"reason"`
	Grants    uint64         `json:"grants"`
	ByPurpose []PurposeCount `json:"by_purpose"`
}

// PurposeCount is a count for one purpose ("all" for a grant of every
// purpose).
type PurposeCount struct {
	Purpose string `json:"purpose"`
	Grants  uint64 `json:"grants"`
}

// PolicyVersions are the versions that decided in the period and what
// changed between each and the next.
type PolicyVersions struct {
	Versions []PolicyVersion `json:"versions"`
	Changes  []PolicyStep    `json:"changes"`
	// History is the folder of earlier policy files given
	// (--policy-history), "" when none.
	History string `json:"history"`
}

// PolicyVersion is one version's decisions in the period.
type PolicyVersion struct {
	Version       string    `json:"version"`
	FirstDecision time.Time `json:"first_decision"`
	LastDecision  time.Time `json:"last_decision"`
	Decisions     uint64    `json:"decisions"`
	// Known: its text was found (the policy in force or a history file).
	Known bool `json:"known"`
}

// PolicyStep is the change from one version to the next. Changes is empty
// when either text is unknown (Known false).
type PolicyStep struct {
	From    string                  `json:"from"`
	To      string                  `json:"to"`
	Known   bool                    `json:"known"`
	Changes []classify.PolicyChange `json:"changes"`
}

// Removal is what one kind of run (retention, erasure,
// quarantine_expired) removed from one table in the period.
type Removal struct {
	Reason string `json:"reason"`
	Table  string `json:"table"`
	Action string `json:"action"`
	Runs   uint64 `json:"runs"`
	Rows   uint64 `json:"rows"`
}

// LedgerSection is the verification of the decision ledger (the hash
// chains of leadpipe.audit and their anchors) over the period. Checked is
// false when no verification ran (Note says why); Break is the first break
// found, nil when none.
type LedgerSection struct {
	Checked         bool  `json:"checked"`
	Partitions      int   `json:"partitions"`
	Records         int64 `json:"records"`
	Anchors         int   `json:"anchors"`
	SignedAnchors   int   `json:"signed_anchors"`
	ErasedAccounted int   `json:"erased_accounted"`
	// Unchained are the period's decisions rows that landed before the
	// ledger existed (migration 0011): no chain vouches for them.
	Unchained int64        `json:"unchained"`
	Break     *LedgerBreak `json:"break"`
	Note      string       `json:"note"`
}

// Status is the verification in two words: "not checked", "broken", "not
// chained" (checked, and no row of the period is in a chain) or "whole".
func (l LedgerSection) Status() string {
	switch {
	case !l.Checked:
		return "not checked"
	case l.Break != nil:
		return "broken"
	case l.Records == 0 && l.Unchained > 0:
		return "not chained"
	}
	return "whole"
}

// LedgerBreak is where a ledger's chain breaks: the audit partition and
// offset, and the kind of break (a record deleted, altered, reordered or
// inserted, as the ledger names it).
type LedgerBreak struct {
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Kind      string `json:"kind"`
}

// LedgerVerifier verifies the decision ledger over a period. The caller
// wires it to the ledger; a nil one leaves the section "not checked".
type LedgerVerifier func(ctx context.Context, from, to time.Time) (LedgerSection, error)

// Options are what a report is built from besides ClickHouse.
type Options struct {
	From, To time.Time
	// Now is when the report is made: pending erasures older than a
	// month at Now are overdue.
	Now      time.Time
	Database string
	// Policy is the policy in force, read from PolicySource.
	Policy       *classify.Policy
	PolicySource string
	// History holds earlier policies by version (--policy-history
	// HistoryDir), for what changed between versions.
	History    map[string]*classify.Policy
	HistoryDir string
	// Retention and QuarantineDays are the periods the stores are kept
	// for, as leadpipe retention and leadpipe run are given them.
	Retention      analytics.RetentionPolicy
	QuarantineDays int
	// Ledger verifies the ledger; nil: not checked.
	Ledger LedgerVerifier
}

// Build reads the period's accountability from w's database, verifies the
// ledger when o.Ledger is set, and assembles the report.
func Build(ctx context.Context, w *analytics.Writer, o Options) (*Report, error) {
	a, err := analytics.ReadAccountability(ctx, w, o.From, o.To)
	if err != nil {
		return nil, err
	}
	ledger := LedgerSection{Note: "not checked: this build of leadpipe report has no ledger verification wired in"}
	if o.Ledger != nil {
		ledger, err = o.Ledger(ctx, o.From, o.To)
		if err != nil {
			ledger = LedgerSection{Note: "not checked: the verification failed: " + err.Error()}
		}
	}
	return Assemble(a, o, ledger), nil
}

// Assemble builds the report of o's period from what ClickHouse answered
// and the ledger's section.
func Assemble(a *analytics.Accountability, o Options, ledger LedgerSection) *Report {
	r := &Report{
		Schema: SchemaVersion, GeneratedAt: o.Now.UTC().Truncate(time.Second), Database: o.Database,
		Period: Period{From: o.From.UTC(), To: o.To.UTC()},
		Policy: Policy{Source: o.PolicySource, PolicyTerms: o.Policy.Terms()},
		Ledger: ledger,
	}
	r.DataCategories = categories(o.Retention, o.QuarantineDays)
	r.Origins = Origins{Decisions: []OriginDecision{}, Bases: []OriginBasis{}}
	for _, d := range a.OriginDecisions {
		r.Origins.Decisions = append(r.Origins.Decisions, OriginDecision{Channel: d.Channel, Decision: d.Decision, Leads: d.Leads})
		r.Origins.Leads += d.Leads
	}
	for _, b := range a.OriginBases {
		r.Origins.Bases = append(r.Origins.Bases, OriginBasis{Channel: b.Channel, Purpose: b.Purpose, Basis: b.Basis, Article: articleOf(b.Basis), Leads: b.Leads})
	}
	q := a.Quarantine
	r.Quarantine = Quarantine{Entered: q.Entered, Released: q.Released, Purged: q.Purged, WaitingAtEnd: q.WaitingAtEnd,
		MedianWaitSeconds: uint64(q.MedianWait / time.Second), RetentionDays: o.QuarantineDays}

	e := ErasureRequests{Receipts: []ErasureReceipt{}, Pending: []PendingErasure{}}
	for _, x := range a.Erasures {
		deadline := OneMonthAfter(x.Requested)
		late := x.Completed.After(deadline)
		e.Receipts = append(e.Receipts, ErasureReceipt{ErasureID: x.ErasureID, RequestedAt: x.Requested, CompletedAt: x.Completed,
			Seconds: int64(x.Completed.Sub(x.Requested) / time.Second), Deadline: deadline, Late: late, Verified: x.Verified})
		if late {
			e.Late++
		}
	}
	for _, p := range a.PendingErasures {
		deadline := OneMonthAfter(p.Requested)
		overdue := o.Now.After(deadline)
		e.Pending = append(e.Pending, PendingErasure{RequestedAt: p.Requested, Leads: p.Leads, Deadline: deadline, Overdue: overdue})
		if overdue {
			e.Overdue++
		}
	}
	r.Requests = Requests{Erasure: e, Access: AccessRequests{Recorded: false, Note: accessNote}}

	byReason := map[string]*IgnoredGrant{}
	for _, reason := range classify.IgnoredReasons {
		g := &IgnoredGrant{Reason: reason, ByPurpose: []PurposeCount{}}
		byReason[reason] = g
	}
	for _, g := range a.IgnoredGrants {
		x := byReason[classify.IgnoredReasonOf(g.Why)]
		x.Grants += g.Grants
		i := slices.IndexFunc(x.ByPurpose, func(p PurposeCount) bool { return p.Purpose == g.Purpose })
		if i < 0 {
			x.ByPurpose = append(x.ByPurpose, PurposeCount{Purpose: g.Purpose})
			i = len(x.ByPurpose) - 1
		}
		x.ByPurpose[i].Grants += g.Grants
	}
	for _, reason := range classify.IgnoredReasons {
		g := byReason[reason]
		slices.SortFunc(g.ByPurpose, func(a, b PurposeCount) int { return strings.Compare(a.Purpose, b.Purpose) })
		r.IgnoredGrants = append(r.IgnoredGrants, *g)
	}

	r.PolicyVersions = policyVersions(a.PolicyVersions, o)
	r.Removals = []Removal{}
	for _, m := range a.Removals {
		r.Removals = append(r.Removals, Removal{Reason: m.Reason, Table: m.Table, Action: m.Action, Runs: m.Runs, Rows: m.Rows})
	}
	return r
}

// policyVersions lists the versions of the period and, for each one after
// the first, what changed from the one before, when both texts are known.
func policyVersions(used []analytics.PolicyVersionUse, o Options) PolicyVersions {
	text := func(v string) *classify.Policy {
		if o.Policy != nil && o.Policy.Version == v {
			return o.Policy
		}
		return o.History[v]
	}
	pv := PolicyVersions{Versions: []PolicyVersion{}, Changes: []PolicyStep{}, History: o.HistoryDir}
	for i, u := range used {
		pv.Versions = append(pv.Versions, PolicyVersion{Version: u.Version, FirstDecision: u.First, LastDecision: u.Last,
			Decisions: u.Decisions, Known: text(u.Version) != nil})
		if i == 0 {
			continue
		}
		step := PolicyStep{From: used[i-1].Version, To: u.Version, Changes: []classify.PolicyChange{}}
		if a, b := text(step.From), text(step.To); a != nil && b != nil {
			step.Known = true
			step.Changes = append(step.Changes, classify.ComparePolicies(a, b)...)
		}
		pv.Changes = append(pv.Changes, step)
	}
	return pv
}

// OneMonthAfter is the end of the one-month period of Art. 12(3) that
// starts at t: the same day and time of the next month, or the last day
// of that month when it has no such day (Regulation 1182/71, Art. 3(2)(c)):
// a request of 31 January is due on 28 (or 29) February.
func OneMonthAfter(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	firstOfNext := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	last := firstOfNext.AddDate(0, 1, -1).Day()
	return time.Date(firstOfNext.Year(), firstOfNext.Month(), min(d, last), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// articleOf is the point of GDPR Art. 6(1) of a basis, "" for none.
func articleOf(basis string) string {
	switch basis {
	case classify.BasisConsent:
		return "Art. 6(1)(a)"
	case classify.BasisContract:
		return "Art. 6(1)(b)"
	case classify.BasisLegalObligation:
		return "Art. 6(1)(c)"
	case classify.BasisVitalInterests:
		return "Art. 6(1)(d)"
	case classify.BasisPublicTask:
		return "Art. 6(1)(e)"
	case classify.BasisLegitimateInterests:
		return "Art. 6(1)(f)"
	}
	return ""
}

// categories are leadpipe's stores, what each holds and how long, with
// the periods leadpipe retention and leadpipe run are given.
func categories(p analytics.RetentionPolicy, quarantineDays int) []DataCategory {
	months := func(n int, flag string) string { return strconv.Itoa(n) + " months (" + flag + ")" }
	mk, pr := months(p.MarketingMonths, "--marketing-months"), months(p.ProfilingMonths, "--profiling-months")
	quarantine := "kept while the lead waits in quarantine"
	if quarantineDays > 0 {
		quarantine = fmt.Sprintf("purged after %d days in quarantine without a counting consent (--quarantine-days)", quarantineDays)
	}
	return []DataCategory{
		{"Kafka leads.raw, consents.raw, behavior.raw", "the events as received: contact data (email, phone, name), consents with their proofs, behavior",
			"the topics' retention.ms (Kafka's setting, outside leadpipe)"},
		{"Kafka leadpipe.state (compacted)", "per lead: its lead id, email and phone keys (HMAC), its events' facts and consent statements",
			"until the lead is erased (a tombstone); a quarantined lead " + quarantine},
		{"Kafka leads.classified, leads.quarantine (compacted)", "each lead's current classification: lead id and key, origin, country, decision, bases with their evidence",
			"until the lead is erased or purged (a tombstone)"},
		{"Kafka leadpipe.audit, behavior.enriched", "one audit record per decision (lead key, rule, policy version, consent proofs, ignored grants); enriched behavior",
			"the topics' retention.ms (Kafka's setting, outside leadpipe)"},
		{"ClickHouse classifications", "each classification: lead key (HMAC), origin channel, network, source, medium, campaign, country, decision, rule, the basis of each purpose",
			mk + " of event time; an erased lead's rows at once; a quarantined lead's " + quarantine},
		{"ClickHouse leads", "one current row per lead key, as classifications", "until not updated for " + mk + "; deleted on erasure and purge"},
		{"ClickHouse behavior_events", "actions, products, categories, values, a daily visitor key; the lead key only with a basis for profiling",
			mk + "; the lead key cleared after " + pr + ", on erasure and on purge"},
		{"ClickHouse category_affinity", "interest scores per lead key and month (profiling)", pr + "; deleted on erasure and purge"},
		{"ClickHouse decisions", "the audit trail: one row per decision, with the lead key, rule, policy version, consent proofs and ignored grants",
			"kept: the record of what was decided (Art. 5(2)); the lead key cleared on erasure and purge"},
		{"ClickHouse pending_erasures", "the erasures not carried out yet: lead key, request event id and time", "until carried out (every --erasure-every)"},
		{"ClickHouse erasure_receipts, retention_runs", "receipts (erasure id, times, rows removed per table) and what retention removed; no lead key",
			"kept: the proof of erasure and retention"},
		{"ClickHouse marketing database", "the marketers' answers by week: counts, no key, no group under k", "the last two snapshots"},
	}
}
