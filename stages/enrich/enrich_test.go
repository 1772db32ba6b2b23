package enrich

import (
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

func at(h int) time.Time { return time.Date(2026, 3, 2, h, 0, 0, 0, time.UTC) }

func span(h int, decision, channel string, profiling bool) classify.Span {
	return classify.Span{From: at(h), Decision: decision, Channel: channel, Profiling: profiling}
}

// granted is a consent signal that allows analytics and profiling, for the
// tests of what the lead's own basis decides.
var granted = &schemas.PageConsent{GCM: &schemas.ConsentMode{
	AdStorage: "granted", AnalyticsStorage: "granted", AdUserData: "granted", AdPersonalization: "granted"}}

var sig = DefaultSignalPolicy(0)

func TestEnrich(t *testing.T) {
	keys := pseudonym.Development()
	leads := NewLeads(10)
	leads.Put("lead-1", Lead{Seq: 2, AsOf: at(12), LeadKey: "k1", KeyVersion: "dev", Timeline: []classify.Span{
		span(9, "accepted", "search", true), span(12, "suppressed", "search", false)}})
	leads.Put("lead-2", Lead{Seq: 1, AsOf: at(9), LeadKey: "k2", Timeline: []classify.Span{span(9, "accepted", "email", false)}})
	leads.Put("lead-3", Lead{Seq: 1, AsOf: at(9), LeadKey: "k3", Timeline: []classify.Span{span(9, "quarantined", "social", false)}})
	// Out of order: the record of the release comes first, the quarantine's
	// (a lower seq) after; the release's timeline is kept.
	leads.Put("lead-4", Lead{Seq: 2, AsOf: at(11), LeadKey: "k4", Timeline: []classify.Span{
		span(9, "quarantined", "social", false), span(11, "accepted", "social", true)}})
	leads.Put("lead-4", Lead{Seq: 1, AsOf: at(9), LeadKey: "k4", Timeline: []classify.Span{span(9, "quarantined", "social", false)}})
	leads.Put("lead-5", Lead{Seq: 3, AsOf: at(10), LeadKey: "k5", Timeline: []classify.Span{{Decision: "erased"}}})

	for _, tc := range []struct {
		name             string
		lead, anon       string
		hour             int
		wantKey, wantDec string
		wantChannel      string
	}{
		{"an event of a lead with a profiling basis carries its lead key", "lead-1", "", 10, "k1", "accepted", "search"},
		{"an event before the lead's first lead event is anonymous", "lead-1", "", 8, "", DecisionUnknown, ChannelUnknown},
		{"an event after the lead's objection carries no key", "lead-1", "", 13, "", "suppressed", "search"},
		{"an event of an erased lead carries no key, whenever it happened", "lead-5", "", 8, "", "erased", ChannelUnknown},
		{"an accepted lead without a profiling basis carries no key", "lead-2", "", 10, "", "accepted", "email"},
		{"a quarantined lead carries no key even with a profiling basis", "lead-3", "", 10, "", "quarantined", "social"},
		{"the record with the highest seq wins, whatever the order of the puts", "lead-4", "", 10, "", "quarantined", "social"},
		{"a released lead carries its key after the release", "lead-4", "", 11, "k4", "accepted", "social"},
		{"an unknown lead is anonymous", "lead-9", "", 10, "", DecisionUnknown, ChannelUnknown},
		{"an anonymous visitor is anonymous", "", "cookie-1", 10, "", DecisionAnonymous, ChannelUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &schemas.Behavior{ID: "e", OccurredAt: at(tc.hour), Lead: tc.lead, AnonymousID: tc.anon, Action: "page_view", Consent: granted}
			got, _ := Enrich(ev, leads, keys, sig)
			if got.LeadKey != tc.wantKey || got.Decision != tc.wantDec || got.Channel != tc.wantChannel {
				t.Errorf("got key %q decision %q channel %q, want %q %q %q", got.LeadKey, got.Decision, got.Channel, tc.wantKey, tc.wantDec, tc.wantChannel)
			}
			if got.VisitorKey == "" || got.VisitorKey == tc.lead || got.VisitorKey == tc.anon {
				t.Errorf("visitor key %q is not a pseudonym", got.VisitorKey)
			}
		})
	}
}

func TestTheVisitorKeyChangesEveryDay(t *testing.T) {
	keys := pseudonym.Development()
	leads := NewLeads(1)
	a, _ := Enrich(&schemas.Behavior{OccurredAt: at(10), AnonymousID: "c", Consent: granted}, leads, keys, sig)
	b, _ := Enrich(&schemas.Behavior{OccurredAt: at(23), AnonymousID: "c", Consent: granted}, leads, keys, sig)
	c, _ := Enrich(&schemas.Behavior{OccurredAt: at(10).AddDate(0, 0, 1), AnonymousID: "c", Consent: granted}, leads, keys, sig)
	if a.VisitorKey != b.VisitorKey || a.VisitorKey == c.VisitorKey {
		t.Errorf("visitor keys %s %s %s: want one per day", a.VisitorKey[:8], b.VisitorKey[:8], c.VisitorKey[:8])
	}
}

func TestAnEvictedLeadIsAnonymousAgain(t *testing.T) {
	leads := NewLeads(1)
	leads.Put("lead-1", Lead{Seq: 1, AsOf: at(9), LeadKey: "k1", Timeline: []classify.Span{span(9, "accepted", "", true)}})
	leads.Put("lead-2", Lead{Seq: 1, AsOf: at(9), LeadKey: "k2", Timeline: []classify.Span{span(9, "accepted", "", true)}})
	got, settled := Enrich(&schemas.Behavior{OccurredAt: at(10), Lead: "lead-1", Consent: granted}, leads, pseudonym.Development(), sig)
	if settled || got.LeadKey != "" {
		t.Errorf("an evicted lead kept its key %q", got.LeadKey)
	}
}

func TestAnEventIsSettledOnlyOnceClassifyAppliedItsLeadUpToItsTime(t *testing.T) {
	leads := NewLeads(10)
	leads.Put("lead-1", Lead{Seq: 1, AsOf: at(9), LeadKey: "k1", Timeline: []classify.Span{span(9, "accepted", "web", true)}})
	keys := pseudonym.Development()
	if _, settled := Enrich(&schemas.Behavior{OccurredAt: at(9), Lead: "lead-1"}, leads, keys, sig); !settled {
		t.Error("an event at the lead's as_of is not settled")
	}
	if _, settled := Enrich(&schemas.Behavior{OccurredAt: at(10), Lead: "lead-1"}, leads, keys, sig); settled {
		t.Error("an event after the lead's as_of is settled")
	}
	if _, settled := Enrich(&schemas.Behavior{OccurredAt: at(10), AnonymousID: "c"}, leads, keys, sig); !settled {
		t.Error("an anonymous event is not settled")
	}
}

// TestForgetDropsAPurgedHistoryButNotANewerOne: a purged lead is
// forgotten; a record of the lead's new history, read before the purge,
// is kept.
func TestForgetDropsAPurgedHistoryButNotANewerOne(t *testing.T) {
	l := NewLeads(10)
	t0 := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	l.Put("L1", Lead{Seq: 3, AsOf: t0})
	l.Forget("L1", t0)
	if l.Len() != 0 {
		t.Error("the purged lead is still held")
	}
	l.Put("L1", Lead{Seq: 1, AsOf: t0.AddDate(0, 2, 0)}) // the new history, read first
	l.Forget("L1", t0)
	if l.Len() != 1 {
		t.Error("the purge dropped the lead's new history")
	}
}
