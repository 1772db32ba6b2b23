package workload

import (
	"math/rand/v2"
	"strconv"
)

// product is one article of the shop's catalogue.
type product struct {
	id       string
	category string
	path     string // the product page's path
	cents    int64
}

// newCatalogue builds the seed's catalogue of 400 products in 16 categories.
func newCatalogue(seed uint64) []product {
	var r rand.PCG
	r.Seed(mix64(seed^0xca7a1065), 42)
	ps := make([]product, 400)
	for i := range ps {
		cat := categories[i%len(categories)]
		id := "sku-" + cat + "-" + strconv.Itoa(1000+i)
		slug := pick(&r, productWords) + "-" + pick(&r, productWords) + "-" + cat
		ps[i] = product{
			id:       id,
			category: cat,
			path:     "/it/" + cat + "/" + slug + "-" + id + ".html",
			cents:    between(&r, 5, 400)*100 + int64(pick(&r, []int{0, 50, 90, 99})),
		}
	}
	return ps
}

const (
	bPageView = iota
	bProductView
	bAddToCart
	bPurchase
	bEmailOpen
	bEmailClick
	bSearch
)

var behaviorActions = []string{"page_view", "product_view", "add_to_cart", "purchase", "email_open", "email_click", "search"}
var behaviorWeights = []int{40, 25, 8, 3, 8, 5, 11}
var anonymousWeights = []int{40, 25, 8, 3, 0, 0, 11} // no email without an identity

// landingUTM are the campaign tags of a landing page view and the click id
// or linker the ad network or mail tool adds to the same URL.
var landingUTM = []struct {
	utm   string
	click clickID
}{
	{"?utm_source=fb&utm_medium=paid_social", clickID{"fbclid", "IwAR", b64url, 56}},
	{"?utm_source=ig&utm_medium=social", clickID{"igshid", "", alnum, 16}},
	{"?utm_source=google&utm_medium=cpc", clickID{"gclid", "Cj0KCQiA", b64url, 60}},
	{"?utm_source=newsletter&utm_medium=email", clickID{"mc_eid", "", hexdigits, 10}},
	{"?utm_source=linkedin&utm_medium=paid_social", clickID{"li_fat_id", "", hexdigits, 32}},
	{"?utm_source=bing&utm_medium=cpc", clickID{"msclkid", "", hexdigits, 32}},
	{"?utm_source=google&utm_medium=organic", clickID{"srsltid", "AfmBOo", b64url, 44}},
	{"?utm_source=tiktok&utm_medium=paid_social", clickID{"ttclid", "E.C.P.", b64url, 40}},
}

// Values of the listing, search and recommendation parameters.
var (
	colors       = []string{"nero", "bianco", "blu", "rosso", "verde", "beige"}
	sizes        = []string{"xs", "s", "m", "l", "xl", "38", "40", "42", "44"}
	brands       = []string{"atelier-nord", "casa-vela", "monte-rosa", "linea-uno", "studio-arco", "terra-viva"}
	recLists     = []string{"recs_home", "recs_pdp_similar", "recs_cart_upsell", "search_results", "category_grid", "email_picks"}
	shipMethods  = []string{"standard", "express", "click_and_collect", "pickup_point"}
	emailClients = []string{"gmail", "apple_mail", "outlook", "yahoo_mail", "thunderbird"}
)

var pagePaths = []string{
	"/", "/it/", "/it/novita/", "/it/saldi/fino-al-50/", "/it/b2b/listino-rivenditori/", "/it/negozi/milano-corso-como/",
	"/it/chi-siamo/", "/it/spedizioni-e-resi/", "/it/magazine/guida-alle-taglie-scarpe/",
	"/it/magazine/come-scegliere-una-lampada-da-tavolo/", "/it/servizio-clienti/domande-frequenti/", "/it/carta-regalo/",
}

// behavior writes one behavior event: a page view, a product view, an add to
// cart, a purchase, an email open or click, or a search.
func (g *generator) behavior(w *jw, a *actor) eventFacts {
	r := &a.rng
	var ef eventFacts
	ef.anonymous = r.Uint64()>>11 < g.anonT
	idKey := "lead_id"
	if ef.anonymous {
		idKey = "anonymous_id"
		ef.id = a.appendAnonID(g.key[:0], g.cfg.Seed)
	} else {
		ef.id = a.appendLeadID(g.key[:0])
	}
	ws := behaviorWeights
	if ef.anonymous {
		ws = anonymousWeights
	}
	action := weighted(r, ws)

	w.begin()
	w.str("type", "behavior")
	ef.eventID = g.appendEventID(g.eventID[:0])
	w.raw("event_id", ef.eventID)
	w.ts("occurred_at", a.next)
	w.raw(idKey, ef.id)
	w.str("action", behaviorActions[action])

	w.key("url")
	b := append(w.b, `"https://`...)
	b = append(b, g.cfg.Domain...)
	var p *product
	var qty int64 // of a purchase
	switch action {
	case bPageView:
		switch weighted(r, []int{25, 45, 30}) {
		case 0: // a landing page reached from a campaign, with its click id
			lu := pick(r, landingUTM)
			b = append(b, pick(r, landingPaths)...)
			b = append(b, lu.utm...)
			b = append(b, "&utm_campaign="...)
			b = append(b, pick(r, campaigns)...)
			b = append(b, "&utm_content="...)
			b = append(b, pick(r, []string{"carousel_a", "video_15s", "story", "hero_banner", "text_ad_2"})...)
			b = append(b, "&utm_id="...)
			b = appendDigits(b, r, 11)
			b = appendClickID(b, r, lu.click)
		case 1: // a category listing with filters
			c := pick(r, categories)
			b = append(append(append(b, "/it/"...), c...), "/?sort="...)
			b = append(b, pick(r, []string{"popular", "price_asc", "price_desc", "newest"})...)
			b = append(b, "&page="...)
			b = strconv.AppendInt(b, int64(1+intn(r, 5)), 10)
			b = append(b, "&price_min="...)
			b = strconv.AppendInt(b, int64(10*intn(r, 10)), 10)
			b = append(b, "&price_max="...)
			b = strconv.AppendInt(b, int64(100+50*intn(r, 10)), 10)
			b = append(b, "&color="...)
			b = append(b, pick(r, colors)...)
			b = append(b, "&size="...)
			b = append(b, pick(r, sizes)...)
			b = append(b, "&brand="...)
			b = append(b, pick(r, brands)...)
			b = append(b, "&availability=in_stock&view=grid&ref="...)
			b = append(b, pick(r, []string{"mega_menu", "breadcrumb", "filters_sidebar", "header_nav", "home_tiles"})...)
			if percent(r, 40) { // from a Google Shopping listing
				b = appendClickID(b, r, clickID{"srsltid", "AfmBOo", b64url, 44})
			}
		default: // a content page, with the analytics cross-domain linker
			b = append(b, pick(r, pagePaths)...)
			b = append(b, "?ref="...)
			b = append(b, pick(r, []string{"header_nav", "footer", "mega_menu", "breadcrumb"})...)
			b = append(b, "&_gl=1*"...)
			b = appendRandom(b, r, alnum, 6)
			b = append(b, "*_ga*"...)
			b = appendRandom(b, r, b64url[:62], 28)
			b = append(b, "*_gcl_au*"...)
			b = appendRandom(b, r, b64url[:62], 28)
			b = append(b, "*_ga_L3ADP1PE*"...)
			b = appendRandom(b, r, b64url[:62], 56)
		}
	case bProductView, bAddToCart, bPurchase:
		p = &g.catalogue[intn(r, len(g.catalogue))]
		if action == bPurchase {
			b = append(b, "/checkout/complete?order=ORD-"...)
			b = appendDigits(b, r, 10)
			b = append(b, "&payment="...)
			b = append(b, pick(r, []string{"card", "paypal", "klarna", "bank_transfer"})...)
			qty = int64(1 + weighted(r, []int{80, 15, 5}))
			b = append(b, "&qty="...)
			b = strconv.AppendInt(b, qty, 10)
			b = append(b, "&shipping="...)
			b = append(b, pick(r, shipMethods)...)
			b = append(b, "&checkout_id="...)
			b = appendRandom(b, r, hexdigits, 32)
		} else {
			b = append(b, p.path...)
			b = append(b, "?variant="...)
			b = strconv.AppendInt(b, int64(1+intn(r, 12)), 10)
			b = append(b, "&color="...)
			b = append(b, pick(r, colors)...)
			if action == bAddToCart {
				b = append(b, "&qty=1&from=pdp"...)
			}
			// The recommendation or listing the product was picked from.
			b = append(b, "&list="...)
			b = append(b, pick(r, recLists)...)
			b = append(b, "&pos="...)
			b = strconv.AppendInt(b, int64(1+intn(r, 24)), 10)
			b = append(b, "&rec_id="...)
			b = appendRandom(b, r, hexdigits, 16)
		}
	case bEmailOpen:
		b = append(b, "/email/open.gif?c="...)
		b = append(b, pick(r, campaigns)...)
		b = append(b, "&m="...)
		b = appendRandom(b, r, hexdigits, 24)
		b = append(b, "&u="...)
		b = appendRandom(b, r, hexdigits, 32)
		b = append(b, "&client="...)
		b = append(b, pick(r, emailClients)...)
		b = append(b, "&list=newsletter_it&v=2&sig="...)
		b = appendRandom(b, r, hexdigits, 40)
	case bEmailClick:
		b = append(append(append(b, "/it/"...), pick(r, categories)...), "/?utm_source=newsletter&utm_medium=email&utm_campaign="...)
		b = append(b, pick(r, campaigns)...)
		b = append(b, "&utm_content="...)
		b = append(b, pick(r, []string{"hero_banner", "product_grid", "footer_link", "cta_button"})...)
		// The mail tool's tracking parameters.
		b = append(b, "&mc_cid="...)
		b = appendRandom(b, r, hexdigits, 10)
		b = append(b, "&mc_eid="...)
		b = appendRandom(b, r, hexdigits, 10)
		b = append(b, "&_hsenc=p2ANqtz-"...)
		b = appendRandom(b, r, b64url, 72)
	default: // search
		b = append(b, "/search?q="...)
		b = append(b, pick(r, searchTerms)...)
		b = append(b, "&page=1&sort=relevance&category="...)
		b = append(b, pick(r, categories)...)
		b = append(b, "&in_stock=true&src=autocomplete"...)
		b = append(b, "&brand="...)
		b = append(b, pick(r, brands)...)
		b = append(b, "&price_max="...)
		b = strconv.AppendInt(b, int64(100+50*intn(r, 10)), 10)
		b = append(b, "&query_id="...)
		b = appendRandom(b, r, hexdigits, 32)
	}
	w.b = append(b, '"')
	w.comma = true

	if p != nil {
		w.obj("product")
		w.str("id", p.id)
		w.str("category", p.category)
		w.cents("price", p.cents)
		w.end()
		if action == bPurchase {
			w.cents("value", p.cents*qty)
			w.str("currency", "EUR")
		}
	}
	g.pageConsent(w, a)
	w.end()
	return ef
}

// The TC strings of the workload's visitors, with the purposes for the
// publisher (its publisher TC segment, which leadpipe reads without
// --tcf-vendor-id) and for vendors 1 to 12.
var (
	tcfGranted       = EncodeTCF(TCF{Purposes: []int{1, 2, 3, 4, 7, 8, 9, 10}, Vendors: tcfVendors, PublisherPurposes: []int{1, 2, 3, 4, 7, 8, 9, 10}})
	tcfMeasureOnly   = EncodeTCF(TCF{Purposes: []int{1, 7, 8, 9, 10}, Vendors: tcfVendors, PublisherPurposes: []int{1, 7, 8, 9, 10}})
	tcfRefused       = EncodeTCF(TCF{PublisherPurposes: []int{}})
	tcfVendors       = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	consentChoiceKey = uint64(0xc0a5e27)
)

// pageConsent writes the visitor's consent signals on the page, the same for
// every event of one browser of one actor (a banner's choice is kept in a
// cookie), drawn from a hash so that the actor's stream, and so every
// other byte of the workload, is the same as without them: 12% carry none,
// 8% refused everything, 10% allowed measurement but not profiling, 70%
// allowed both; by a TC string (35%), consent mode (35%, half of them with
// the gcs hit parameter too) or a CDP's categories (30%).
func (g *generator) pageConsent(w *jw, a *actor) {
	if g.cfg.NoSignals {
		return
	}
	h := mix64(g.cfg.Seed ^ consentChoiceKey ^ mix64(uint64(a.idx)<<1|uint64(a.device)))
	choice, kind := h%100, h>>8%100
	const (
		refused = iota
		measureOnly
		granted
	)
	var c int
	switch {
	case choice < 12:
		return
	case choice < 20:
		c = refused
	case choice < 30:
		c = measureOnly
	default:
		c = granted
	}
	state := func(ok bool) string {
		if ok {
			return "granted"
		}
		return "denied"
	}
	w.obj("consent")
	switch {
	case kind < 35:
		w.str("tcf", [...]string{tcfRefused, tcfMeasureOnly, tcfGranted}[c])
	case kind < 70:
		w.obj("gcm")
		w.str("ad_storage", state(c == granted))
		w.str("analytics_storage", state(c != refused))
		w.str("ad_user_data", state(c == granted))
		w.str("ad_personalization", state(c == granted))
		w.end()
		if kind < 52 {
			w.str("gcs", [...]string{"G100", "G101", "G111"}[c])
		}
	default:
		w.obj("categories")
		w.boolean("necessary", true)
		w.boolean("analytics", c != refused)
		w.boolean("marketing", c == granted)
		w.end()
	}
	w.end()
}
