package enrich

import (
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

func at(h int) time.Time { return time.Date(2026, 3, 2, h, 0, 0, 0, time.UTC) }

func TestEnrich(t *testing.T) {
	keys := pseudonym.Development()
	leads := NewLeads(10)
	leads.Put("lead-1", Classification{At: at(9), Decision: "accepted", Channel: "search", Profiling: true, LeadKey: "k1", KeyVersion: "dev"})
	leads.Put("lead-1", Classification{At: at(12), Decision: "erased", Channel: "search", LeadKey: "k1", KeyVersion: "dev"})
	leads.Put("lead-2", Classification{At: at(9), Decision: "accepted", Channel: "email", Profiling: false, LeadKey: "k2"})
	leads.Put("lead-3", Classification{At: at(9), Decision: "quarantined", Channel: "social", Profiling: true, LeadKey: "k3"})
	// Out of order: the release comes first, the quarantine it ends after.
	leads.Put("lead-4", Classification{At: at(11), Decision: "accepted", Channel: "social", Profiling: true, LeadKey: "k4"})
	leads.Put("lead-4", Classification{At: at(9), Decision: "quarantined", Channel: "social", LeadKey: "k4"})

	for _, tc := range []struct {
		name             string
		lead, anon       string
		hour             int
		wantKey, wantDec string
		wantChannel      string
	}{
		{"an event of a lead with a profiling basis carries its lead key", "lead-1", "", 10, "k1", "accepted", "search"},
		{"an event before the lead was classified is anonymous", "lead-1", "", 8, "", DecisionUnknown, ChannelUnknown},
		{"an event after the lead's erasure carries no key", "lead-1", "", 13, "", "erased", "search"},
		{"an accepted lead without a profiling basis carries no key", "lead-2", "", 10, "", "accepted", "email"},
		{"a quarantined lead carries no key even with a profiling basis", "lead-3", "", 10, "", "quarantined", "social"},
		{"classifications put out of order are read in time order", "lead-4", "", 10, "", "quarantined", "social"},
		{"a released lead carries its key after the release", "lead-4", "", 11, "k4", "accepted", "social"},
		{"an unknown lead is anonymous", "lead-9", "", 10, "", DecisionUnknown, ChannelUnknown},
		{"an anonymous visitor is anonymous", "", "cookie-1", 10, "", DecisionAnonymous, ChannelUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &schemas.Behavior{ID: "e", OccurredAt: at(tc.hour), Lead: tc.lead, AnonymousID: tc.anon, Action: "page_view"}
			got, _ := Enrich(ev, leads, keys)
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
	a, _ := Enrich(&schemas.Behavior{OccurredAt: at(10), AnonymousID: "c"}, leads, keys)
	b, _ := Enrich(&schemas.Behavior{OccurredAt: at(23), AnonymousID: "c"}, leads, keys)
	c, _ := Enrich(&schemas.Behavior{OccurredAt: at(10).AddDate(0, 0, 1), AnonymousID: "c"}, leads, keys)
	if a.VisitorKey != b.VisitorKey || a.VisitorKey == c.VisitorKey {
		t.Errorf("visitor keys %s %s %s: want one per day", a.VisitorKey[:8], b.VisitorKey[:8], c.VisitorKey[:8])
	}
}

func TestAnEvictedLeadIsAnonymousAgain(t *testing.T) {
	leads := NewLeads(1)
	leads.Put("lead-1", Classification{At: at(9), Decision: "accepted", Profiling: true, LeadKey: "k1"})
	leads.Put("lead-2", Classification{At: at(9), Decision: "accepted", Profiling: true, LeadKey: "k2"})
	got, known := Enrich(&schemas.Behavior{OccurredAt: at(10), Lead: "lead-1"}, leads, pseudonym.Development())
	if known || got.LeadKey != "" {
		t.Errorf("an evicted lead kept its key %q", got.LeadKey)
	}
}
