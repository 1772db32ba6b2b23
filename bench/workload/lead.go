package workload

// This file stays whole (about 500 lines): it generates one lead's life,
// its contact, origin, consents and later events, from one seeded source,
// and the tables of weights it draws from.

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Channels of the lead mix, and their weights in percent.
const (
	chSocial = iota
	chSearch
	chEmail
	chReferral
	chDirect
	chEvent
	chImport
	chPurchased
	chPartner
	chOffline
)

var channelWeights = []int{33, 17, 10, 7, 8, 5, 6, 6, 5, 3}

var purposes = []string{"email_marketing", "sms_marketing", "phone_marketing", "profiling", "third_party_sharing", "sales_followup"}

// purposeWeights: how often a consent is about each purpose.
var purposeWeights = []int{45, 14, 9, 20, 7, 5}

var requestTypes = []string{"quote", "demo", "contact", "download", "purchase", "support", "newsletter"}
var requestWeights = []int{20, 10, 25, 15, 5, 10, 15}

// contact is one lead's person, the same in every lead event of that lead.
type contact struct {
	first, last name
	email       string
	phone       string
	company     string
	jobTitle    string
	country     string
	birth       time.Time
	business    bool
	minor       bool
}

// newContact draws the lead's person from a stream of its own, so a
// re-submission repeats it exactly.
func (g *generator) newContact(a *actor) contact {
	var cr rand.PCG
	cr.Seed(mix64(g.cfg.Seed^0xc0ffee), mix64(uint64(a.idx)))
	r := &cr
	var c contact
	c.first, c.last = pick(r, firstNames), pick(r, lastNames)
	c.business = percent(r, 40)
	signup := time.UnixMilli(a.tLead).UTC()
	switch {
	case !c.business && percent(r, 5):
		// A teenager, 13 to 15: mostly under the country's age of digital
		// consent, sometimes just at or over it (a boundary case).
		c.minor = true
		mc := pick(r, minorCountries)
		c.country = mc.code
		age := 13 + intn(r, 3)
		if below := mc.age - 13; below > 0 && percent(r, 75) {
			age = 13 + intn(r, min(below, 3))
		}
		c.birth = signup.AddDate(-age, 0, -(1 + intn(r, 360)))
	default:
		c.country = countries[weighted(r, countryWeights)].code
		if percent(r, 25) {
			c.birth = signup.AddDate(-(18 + intn(r, 58)), 0, -(1 + intn(r, 360)))
		}
	}
	var co company
	if c.business {
		co = pick(r, companies)
		c.company, c.jobTitle = co.name, pick(r, jobTitles)
	}
	if percent(r, 96) {
		b := make([]byte, 0, 48)
		f, l := c.first.ascii, c.last.ascii
		switch intn(r, 5) {
		case 0:
			b = append(append(append(b, f...), '.'), l...)
		case 1:
			b = append(append(append(b, f[0]), '.'), l...)
		case 2:
			b = appendDigits(append(append(b, f...), l...), r, 2)
		case 3:
			b = append(append(append(b, f...), '_'), l...)
		default:
			b = appendDigits(append(append(append(b, f...), '.'), l...), r, 2)
		}
		b = append(b, '@')
		if c.business {
			b = append(append(b, co.slug...), pick(r, []string{".example.com", ".example.org", ".example.net"})...)
		} else {
			b = append(b, pick(r, mailDomains)...)
		}
		c.email = string(b)
	}
	if percent(r, 70) {
		cc := countryByCode(c.country)
		b := make([]byte, 0, 24)
		b = append(append(b, cc.prefix...), ' ')
		b = appendDigits(append(b, cc.mobile...), r, 2)
		b = appendDigits(append(b, " 555 "...), r, 4)
		c.phone = string(b)
	}
	return c
}

// source mirrors the lead event's source object; empty fields are omitted.
type source struct {
	kind, network, url, referrer               string
	utm                                        [5]string // source, medium, campaign, term, content
	formID, listID, supplier, partnerID, event string
	importBatch                                string
}

// lead writes a lead event for a.
func (g *generator) lead(w *jw, a *actor) eventFacts {
	r := &a.rng
	resubmit := a.sp[a.isp].resubmit
	c := g.newContact(a)
	at := a.next
	var ef eventFacts
	ef.id = a.appendLeadID(g.key[:0])

	w.begin()
	w.str("type", "lead")
	ef.eventID = g.appendEventID(g.eventID[:0])
	w.raw("event_id", ef.eventID)
	w.ts("occurred_at", at)
	w.raw("lead_id", ef.id)

	w.obj("contact")
	w.str("email", c.email)
	w.str("phone", c.phone)
	w.str("first_name", c.first.text)
	w.str("last_name", c.last.text)
	w.str("company", c.company)
	w.str("job_title", c.jobTitle)
	w.str("country", c.country)
	if !c.birth.IsZero() {
		w.date("birth_date", c.birth)
	}
	w.boolean("is_business", c.business)
	w.end()

	ch := channelWeights
	if resubmit {
		ch = []int{0, 0, 50, 0, 50}
	}
	channel := weighted(r, ch)
	s := g.source(r, channel, at)
	writeSource(w, &s)

	withConsents := percent(r, 50)

	// The fields after the consents go first into their own buffer, so that
	// the number of consents can keep the event within maxLeadBytes.
	t := jw{b: g.tail[:0], comma: true}
	if !resubmit {
		switch {
		case percent(r, 12):
			t.obj("relationship")
			t.boolean("customer", true)
			t.boolean("email_from_purchase", percent(r, 80))
			t.tsSec("last_purchase_at", at-between(r, 24*3600_000, 400*24*3600_000))
			t.end()
		case percent(r, 10):
			t.obj("relationship")
			t.boolean("customer", false)
			t.end()
		}
	}
	if resubmit || percent(r, 35) {
		t.obj("request")
		t.str("type", requestTypes[weighted(r, requestWeights)])
		t.end()
	}
	if c.minor && percent(r, 40) {
		t.obj("parental_consent")
		t.tsSec("at", at-between(r, 3600_000, 60*24*3600_000))
		t.str("method", pick(r, []string{"signed_form", "email_verification", "id_check_video"}))
		if percent(r, 85) {
			t.str("proof_ref", proofRef(r))
		}
		t.end()
	}
	g.tail = t.b[:0]

	if withConsents {
		ef.consents = true
		g.leadConsents(w, r, channel, at, &s, maxLeadBytes-len(t.b)-2)
	}
	w.b = append(w.b, t.b...)
	w.comma = true
	w.end()
	return ef
}

// maxLeadBytes bounds a lead event: one with long fields asks for fewer
// purposes.
const maxLeadBytes = 800

func writeSource(w *jw, s *source) {
	w.obj("source")
	w.str("kind", s.kind)
	w.str("network", s.network)
	w.str("url", s.url)
	w.str("referrer", s.referrer)
	if s.utm != [5]string{} {
		w.obj("utm")
		for i, k := range [5]string{"source", "medium", "campaign", "term", "content"} {
			w.str(k, s.utm[i])
		}
		w.end()
	}
	w.str("form_id", s.formID)
	w.str("list_id", s.listID)
	w.str("supplier", s.supplier)
	w.str("partner_id", s.partnerID)
	w.str("event_name", s.event)
	w.str("import_batch", s.importBatch)
	w.end()
}

var (
	socialNetworks  = []string{"facebook", "instagram", "linkedin", "tiktok"}
	socialUTMSource = []string{"fb", "ig", "linkedin", "lnkd", "facebook", "instagram", "twitter", "t.co", "tiktok", "yt"}
	socialUTMMedium = []string{"paid_social", "social", "paid_social", "social-media", "sm", "paidsocial", "social-network"}
	socialReferrers = []string{
		"https://l.facebook.com/", "https://lm.facebook.com/", "https://m.facebook.com/", "https://www.facebook.com/",
		"https://l.instagram.com/", "https://www.linkedin.com/", "https://lnkd.in/", "https://t.co/",
		"android-app://com.linkedin.android/", "https://www.tiktok.com/", "https://www.youtube.com/",
		"https://www.reddit.com/", "https://www.xing.com/", "https://www.threads.net/", "https://web.whatsapp.com/",
		"https://x.com/", "https://it.pinterest.com/",
	}
	searchReferrers = []string{
		"https://www.google.it/", "https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
		"https://www.ecosia.org/", "https://it.search.yahoo.com/", "https://www.google.de/",
	}
	emailUTMSource = []string{"newsletter", "mailchimp", "brevo", "crm", "hubspot"}
	emailUTMMedium = []string{"email", "newsletter", "e-mail", "email"}
	webKinds       = []string{"web_form", "web_form", "web_form", "landing_page", "chat"}
)

// clickID is a query parameter and the shape of its values.
type clickID struct {
	param, prefix, alphabet string
	n                       int
}

var socialClickIDs = []clickID{
	{"fbclid", "IwAR", b64url, 56}, {"fbclid", "IwZXh0bgNhZW0", b64url, 48}, {"li_fat_id", "", hexdigits, 32},
	{"ttclid", "E.C.P.", b64url, 40}, {"twclid", "2-", alnum, 25}, {"igshid", "", alnum, 16},
}

var searchClickIDs = []clickID{
	{"gclid", "Cj0KCQiA", b64url, 60}, {"gclid", "EAIaIQobChMI", b64url, 48}, {"gbraid", "0AAAAA", b64url, 30},
	{"wbraid", "Cj0KCQ", b64url, 34}, {"msclkid", "", hexdigits, 32}, {"dclid", "CL", b64url, 24},
}

func (g *generator) landing(r *rand.PCG) []byte {
	b := make([]byte, 0, 256)
	b = append(append(b, "https://"...), g.cfg.Domain...)
	return append(b, pick(r, landingPaths)...)
}

func appendParam(b []byte, k, v string) []byte {
	if len(b) > 0 && containsByte(b, '?') {
		b = append(b, '&')
	} else {
		b = append(b, '?')
	}
	return append(append(append(b, k...), '='), v...)
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

func appendClickID(b []byte, r *rand.PCG, c clickID) []byte {
	b = appendParam(b, c.param, c.prefix)
	return appendRandom(b, r, c.alphabet, c.n)
}

func appendUTM(b []byte, utm [5]string) []byte {
	for i, k := range [5]string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"} {
		if utm[i] != "" {
			b = appendParam(b, k, utm[i])
		}
	}
	return b
}

// source draws where a lead of the given channel came from, as real traffic
// shows it: an explicit kind, a click id, UTM tags or only a referrer.
func (g *generator) source(r *rand.PCG, channel int, at int64) source {
	var s source
	campaign := pick(r, campaigns)
	switch channel {
	case chSocial:
		switch weighted(r, []int{25, 10, 20, 15, 10, 20}) {
		case 0: // a lead form inside the social network
			s.kind = "social_lead_form"
			s.network = pick(r, socialNetworks)
			s.formID = s.network[:2] + "-form-" + strconv.Itoa(1000+intn(r, 9000))
		case 1: // a contact found on the network and added by a salesperson
			s.kind = "social"
			s.network = pick(r, []string{"linkedin", "linkedin", "facebook", "instagram", "xing", "x"})
		case 2: // a web form reached from an ad: the click id says which network
			s.kind = pick(r, webKinds)
			u := appendClickID(g.landing(r), r, pick(r, socialClickIDs))
			s.url = string(u)
			s.formID = pick(r, formIDs)
		case 3: // UTM tags recorded by the form
			s.kind = "web_form"
			s.url = string(g.landing(r))
			s.utm = [5]string{pick(r, socialUTMSource), pick(r, socialUTMMedium), campaign, "", pick(r, []string{"", "carousel_a", "video_15s", "story"})}
			s.formID = pick(r, formIDs)
		case 4: // UTM tags only in the landing page's URL
			s.kind = "web_form"
			s.url = string(appendUTM(g.landing(r), [5]string{pick(r, socialUTMSource), pick(r, socialUTMMedium), campaign, "", ""}))
			s.formID = pick(r, formIDs)
		default: // only the referrer tells
			s.kind = pick(r, []string{"web_form", "landing_page", "chat", ""})
			s.url = string(g.landing(r))
			ref := pick(r, socialReferrers)
			switch ref {
			case "https://lnkd.in/", "https://t.co/":
				ref = string(appendRandom([]byte(ref), r, b64url[:62], 10))
			}
			s.referrer = ref
			s.formID = pick(r, formIDs)
		}
	case chSearch:
		s.kind = pick(r, webKinds)
		s.formID = pick(r, formIDs)
		switch weighted(r, []int{40, 25, 35}) {
		case 0:
			s.url = string(appendClickID(g.landing(r), r, pick(r, searchClickIDs)))
			s.referrer = pick(r, searchReferrers)
		case 1:
			utm := [5]string{pick(r, []string{"google", "bing"}), pick(r, []string{"cpc", "ppc", "cpc", "organic"}), campaign, pick(r, searchTerms), ""}
			if percent(r, 50) {
				s.utm = utm
				s.url = string(g.landing(r))
			} else {
				s.url = string(appendUTM(g.landing(r), utm))
			}
		default:
			s.url = string(g.landing(r))
			s.referrer = pick(r, searchReferrers)
		}
	case chEmail:
		if percent(r, 20) {
			s.kind = "email"
			s.utm = [5]string{"", "", campaign, "", ""}
			break
		}
		s.kind = "web_form"
		s.formID = pick(r, formIDs)
		utm := [5]string{pick(r, emailUTMSource), pick(r, emailUTMMedium), campaign, "", pick(r, []string{"", "header_cta", "footer_link", "hero_banner"})}
		if percent(r, 50) {
			s.utm = utm
			s.url = string(g.landing(r))
		} else {
			s.url = string(appendUTM(g.landing(r), utm))
		}
	case chReferral:
		s.kind = pick(r, webKinds)
		s.formID = pick(r, formIDs)
		s.url = string(g.landing(r))
		if percent(r, 70) {
			s.referrer = pick(r, referralReferrers)
		} else {
			s.utm = [5]string{pick(r, []string{"blog_partner", "forum", "review_site"}), "referral", campaign, "", ""}
		}
	case chDirect:
		s.kind = pick(r, []string{"web_form", "landing_page", "chat", ""})
		s.formID = pick(r, formIDs)
		s.url = string(g.landing(r))
		if percent(r, 40) {
			s.referrer = "https://" + g.cfg.Domain + pick(r, []string{"/", "/it/", "/it/novita/", "/account/login"})
		}
	case chEvent:
		s.kind = "event"
		s.event = pick(r, events)
		s.formID = pick(r, []string{"badge-scan", "event-signup", "stand-tablet"})
	case chImport:
		s.kind = "import"
		day := time.UnixMilli(at - between(r, 0, 3*24*3600_000)).UTC()
		s.importBatch = "imp-" + day.Format("20060102") + "-" + pick(r, []string{"crm-legacy", "erp-customers", "ecommerce-v1", "trade-fair-2025"})
	case chPurchased:
		s.kind = "purchased_list"
		s.listID = "list-" + strconv.Itoa(100+intn(r, 900))
		if percent(r, 70) {
			s.supplier = pick(r, suppliers)
		}
	case chPartner:
		if percent(r, 70) {
			s.kind = "partner"
		} else {
			s.kind = "web_form"
			s.url = string(g.landing(r))
			s.utm = [5]string{pick(r, []string{"partner_site", "affiliate_network", "cashback"}), pick(r, []string{"affiliate", "partner"}), campaign, "", ""}
		}
		if percent(r, 80) {
			s.partnerID = "ptn-" + strconv.Itoa(1000+intn(r, 9000))
		}
	default: // offline
		s.kind = pick(r, []string{"phone", "store", "offline"})
		if s.kind == "store" {
			s.formID = pick(r, []string{"store-milano-01", "store-roma-02", "store-torino-03"})
		}
	}
	return s
}

// leadConsents writes the consents array: one to three purposes, mostly
// granted, now and then without a field the policy needs. It leaves out a
// second or third entry that would take the event past limit bytes.
func (g *generator) leadConsents(w *jw, r *rand.PCG, channel int, at int64, s *source, limit int) {
	n := 1 + weighted(r, []int{65, 25, 10})
	var chosen [3]int
	w.arr("consents")
	for i := range n {
		p := weighted(r, purposeWeights)
		for j := 0; j < i; j++ {
			if chosen[j] == p {
				p = (p + 1) % len(purposes)
				j = -1
			}
		}
		chosen[i] = p
		mark := len(w.b)
		w.elem()
		w.str("purpose", purposes[p])
		status := "granted"
		if percent(r, 10) {
			status = "denied"
		}
		w.str("status", status)
		var cAt int64
		method, point := pick(r, consentMethods), s.formID
		switch channel {
		case chImport, chPurchased, chPartner:
			cAt = at - between(r, 30*24*3600_000, 300*24*3600_000)
			method, point = pick(r, []string{"checkbox", "double_opt_in"}), pick(r, []string{"partner-form", "supplier-lp", "crm-optin"})
		case chEvent:
			cAt = at - between(r, 0, 600_000)
			method = pick(r, []string{"paper_form", "badge_scan"})
		case chOffline:
			cAt = at - between(r, 0, 600_000)
			method = "recorded_call"
		default:
			cAt = at - between(r, 0, 600_000)
			if s.kind == "social_lead_form" {
				method = "lead_form_checkbox"
			}
		}
		if point == "" {
			point = "form-" + strconv.Itoa(100+intn(r, 900))
		}
		missing := -1
		if percent(r, 12) {
			missing = intn(r, 4)
		}
		if missing != 0 {
			w.tsSec("at", cAt)
		}
		if missing != 1 {
			w.str("method", method)
		}
		if missing != 3 {
			w.str("collection_point", point)
		}
		if missing != 2 {
			w.str("text_version", pick(r, textVersions))
		}
		if missing != 3 {
			w.str("proof_ref", proofRef(r))
		}
		w.end()
		if i > 0 && len(w.b) > limit {
			w.b = w.b[:mark]
			break
		}
	}
	w.endArr()
}

// proofRef is a reference into the consent-proof store.
func proofRef(r *rand.PCG) string {
	b := make([]byte, 0, 20)
	b = append(b, "prf-"...)
	return string(appendRandom(b, r, hexdigits, 12))
}
