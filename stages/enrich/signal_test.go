package enrich

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// consent decodes a behavior event carrying the consent object js, as
// behavior.raw delivers it, and returns its consent.
func consent(t *testing.T, js string) *schemas.PageConsent {
	t.Helper()
	b, err := schemas.DecodeBehavior([]byte(`{"type":"behavior","event_id":"e","occurred_at":"2026-03-02T10:00:00Z","anonymous_id":"c","action":"page_view","consent":`+js+`}`), schemas.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return b.Consent
}

func tcfJSON(purposes, publisher []int, vendors ...int) string {
	return `{"tcf":"` + workload.EncodeTCF(workload.TCF{Purposes: purposes, Vendors: vendors, PublisherPurposes: publisher}) + `"}`
}

// TestEachSignalGrantedDeniedOrUnknownDecidesKeys: for TCF, consent mode
// and a CDP's categories, granted, denied and unknown (no signal), for an
// anonymous visitor and an identified lead with a profiling basis of its
// own: the visitor key only with analytics, the lead key only with
// profiling too, and the signal that decided named on the event.
func TestEachSignalGrantedDeniedOrUnknownDecidesKeys(t *testing.T) {
	keys := pseudonym.Development()
	leads := NewLeads(10)
	leads.Put("lead-1", Lead{Seq: 1, AsOf: at(12), LeadKey: "k1", KeyVersion: "dev", Timeline: []classify.Span{span(9, "accepted", "search", true)}})
	all := []int{1, 2, 3, 4, 7, 8, 9, 10}
	measureOnly := []int{1, 8, 9, 10}
	signals := []struct {
		signal                  string
		granted, denied, noProf string // consent objects: all granted, all denied, analytics without profiling
	}{
		{SignalTCF, tcfJSON(all, all), tcfJSON(nil, nil), tcfJSON(all, measureOnly)},
		{SignalGCM,
			`{"gcm":{"ad_storage":"granted","analytics_storage":"granted","ad_user_data":"granted","ad_personalization":"granted"}}`,
			`{"gcm":{"ad_storage":"denied","analytics_storage":"denied","ad_user_data":"denied","ad_personalization":"denied"}}`,
			`{"gcm":{"ad_storage":"granted","analytics_storage":"granted","ad_user_data":"granted","ad_personalization":"denied"}}`},
		{SignalCDP,
			`{"categories":{"necessary":true,"analytics":true,"personalization":true}}`,
			`{"categories":{"necessary":true,"analytics":false,"personalization":false}}`,
			`{"categories":{"necessary":true,"analytics":true,"personalization":false}}`},
	}
	type want struct {
		visitor, leadKey bool
		signal           string
	}
	for _, sg := range signals {
		for _, st := range []struct {
			name string
			js   string // "" is no consent object: unknown
			want want
		}{
			{"granted", sg.granted, want{true, true, sg.signal}},
			{"denied", sg.denied, want{false, false, sg.signal}},
			{"granted for analytics only", sg.noProf, want{true, false, sg.signal}},
			{"unknown", "", want{false, false, SignalUnknown}},
		} {
			for _, who := range []struct{ name, lead, anon string }{{"anonymous", "", "cookie-1"}, {"identified", "lead-1", ""}} {
				t.Run(sg.signal+" "+st.name+" "+who.name, func(t *testing.T) {
					ev := &schemas.Behavior{ID: "e", OccurredAt: at(10), Lead: who.lead, AnonymousID: who.anon, Action: "product_view"}
					if st.js != "" {
						ev.Consent = consent(t, st.js)
					}
					got, _ := Enrich(ev, leads, keys, sig)
					if (got.VisitorKey != "") != st.want.visitor || got.Analytics != st.want.visitor {
						t.Errorf("visitor key %q, analytics %v; want a key: %v", got.VisitorKey, got.Analytics, st.want.visitor)
					}
					wantLead := st.want.leadKey && who.lead != ""
					if (got.LeadKey != "") != wantLead {
						t.Errorf("lead key %q; want one: %v", got.LeadKey, wantLead)
					}
					if got.Profiling != st.want.leadKey {
						t.Errorf("profiling %v, want %v", got.Profiling, st.want.leadKey)
					}
					if got.AnalyticsSignal != st.want.signal || got.ProfilingSignal != st.want.signal {
						t.Errorf("decided by %s and %s, want %s", got.AnalyticsSignal, got.ProfilingSignal, st.want.signal)
					}
					if got.Decision == "" || got.Channel == "" {
						t.Error("the event lost its decision or channel: it must still count in the aggregates")
					}
				})
			}
		}
	}
}

func TestSignalPolicyDecides(t *testing.T) {
	for _, tc := range []struct {
		name       string
		vendor     int
		js         string
		analytics  bool
		aSignal    string
		profiling  bool
		pSignal    string
		unknownCat int
	}{
		{"gcs G111 allows analytics and says nothing of profiling, which stays unknown", 0, `{"gcs":"G111"}`, true, SignalGCS, false, SignalUnknown, 0},
		{"gcs G110 denies analytics", 0, `{"gcs":"G110"}`, false, SignalGCS, false, SignalUnknown, 0},
		{"gcs G101 allows analytics (y is analytics_storage)", 0, `{"gcs":"G101"}`, true, SignalGCS, false, SignalUnknown, 0},
		{"gcs allowing beside consent mode granting profiling: both", 0,
			`{"gcs":"G111","gcm":{"analytics_storage":"granted","ad_user_data":"granted","ad_personalization":"granted"}}`, true, SignalGCM, true, SignalGCM, 0},
		{"a signal that denies wins over one that allows", 0,
			`{"gcs":"G100","gcm":{"analytics_storage":"granted","ad_user_data":"granted","ad_personalization":"granted"}}`, false, SignalGCS, false, SignalGCS, 0},
		{"a consent mode state left out is denied", 0, `{"gcm":{"ad_user_data":"granted","ad_personalization":"granted"}}`, false, SignalGCM, false, SignalGCM, 0},
		{"profiling granted without analytics feeds no lead key", 0,
			`{"gcm":{"analytics_storage":"denied","ad_user_data":"granted","ad_personalization":"granted"}}`, false, SignalGCM, false, SignalGCM, 0},
		{"unknown CDP categories allow nothing and are counted", 0, `{"categories":{"C0002":true,"C0004":true}}`, false, SignalUnknown, false, SignalUnknown, 2},
		{"an empty consent object is unknown", 0, `{}`, false, SignalUnknown, false, SignalUnknown, 0},
		{"TCF without a vendor id reads the publisher segment", 0, tcfJSON([]int{1, 3, 4, 8}, nil, 42), false, SignalTCF, false, SignalTCF, 0},
		{"TCF with a vendor id needs the vendor's consent", 42, tcfJSON([]int{1, 3, 4, 8}, nil, 42), true, SignalTCF, true, SignalTCF, 0},
		{"TCF with a vendor id not in vendorConsents denies", 43, tcfJSON([]int{1, 3, 4, 8}, []int{1, 3, 4, 8}, 42), false, SignalTCF, false, SignalTCF, 0},
		{"TCF purpose 8 missing denies the visitor key", 0, tcfJSON(nil, []int{1, 3, 4, 7}), false, SignalTCF, false, SignalTCF, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := DefaultSignalPolicy(tc.vendor).Decide(consent(t, tc.js))
			if v.Analytics != tc.analytics || v.AnalyticsSignal != tc.aSignal || v.Profiling != tc.profiling || v.ProfilingSignal != tc.pSignal || v.UnknownCategories != tc.unknownCat {
				t.Errorf("got %+v, want analytics %v by %s, profiling %v by %s, %d unknown categories", v, tc.analytics, tc.aSignal, tc.profiling, tc.pSignal, tc.unknownCat)
			}
		})
	}
}

func TestAPublisherRestrictionOfTheVendorDeniesItsPurpose(t *testing.T) {
	tc := &schemas.TCString{PurposeConsents: []uint16{1, 3, 4, 8}, VendorConsents: []uint16{42},
		PublisherRestrictions: []schemas.TCFRestriction{{PurposeID: 3, RestrictionType: 0, VendorIDs: []uint16{42}}}}
	p := DefaultSignalPolicy(42)
	if p.tcf(tc, p.TCF.AnalyticsPurposes) != allows || p.tcf(tc, p.TCF.ProfilingPurposes) != denies {
		t.Error("a restriction of purpose 3 for the vendor must deny profiling and leave analytics")
	}
}

func TestAnUnknownDefaultThatAllowsIsThePolicysChoice(t *testing.T) {
	p := DefaultSignalPolicy(0)
	p.Unknown = Permissions{Analytics: true}
	if v := p.Decide(nil); !v.Analytics || v.Profiling || v.AnalyticsSignal != SignalUnknown {
		t.Errorf("got %+v", v)
	}
}

func TestSignalPolicyErrorsNameTheLine(t *testing.T) {
	base := string(DefaultSignalPolicyYAML())
	for _, tc := range []struct{ name, from, to, want string }{
		{"a purpose out of range", "analytics_purposes: [1, 8]", "analytics_purposes: [1, 12]", "tcf.analytics_purposes: 12 is not a TCF purpose"},
		{"an unknown consent mode state", "profiling: [ad_user_data, ad_personalization]", "profiling: [ad_user_data, ad_personalisation]", `gcm.profiling: "ad_personalisation" is not a consent mode state`},
		{"a gcs state it does not carry", "analytics: analytics_storage\n", "analytics: ad_user_data\n", "gcs.analytics must be"},
		{"an unknown field", "unknown:\n", "unknwon:\n", "field unknwon not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.from) {
				t.Fatalf("the default policy lacks %q", tc.from)
			}
			path := filepath.Join(t.TempDir(), "signals.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(base, tc.from, tc.to, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSignalPolicy(path, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line ") {
				t.Errorf("err = %v, want one naming the line and %q", err, tc.want)
			}
		})
	}
}
