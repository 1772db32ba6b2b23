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

var landingUTM = []string{
	"?utm_source=fb&utm_medium=paid_social", "?utm_source=ig&utm_medium=social", "?utm_source=google&utm_medium=cpc",
	"?utm_source=newsletter&utm_medium=email", "?utm_source=linkedin&utm_medium=paid_social", "?utm_source=bing&utm_medium=cpc",
	"?utm_source=google&utm_medium=organic", "?utm_source=tiktok&utm_medium=paid_social",
}

var pagePaths = []string{"/", "/it/", "/it/novita/", "/it/saldi/", "/it/b2b/", "/it/negozi/", "/it/chi-siamo/", "/it/spedizioni-e-resi/"}

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
	switch action {
	case bPageView:
		switch weighted(r, []int{25, 45, 30}) {
		case 0: // a landing page reached from a campaign
			b = append(b, pick(r, landingPaths)...)
			b = append(b, pick(r, landingUTM)...)
			b = append(b, "&utm_campaign="...)
			b = append(b, pick(r, campaigns)...)
			b = append(b, "&utm_content="...)
			b = append(b, pick(r, []string{"carousel_a", "video_15s", "story", "hero_banner", "text_ad_2"})...)
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
			b = append(b, pick(r, []string{"nero", "bianco", "blu", "rosso", "verde", "beige"})...)
		default: // a content page, with the analytics cross-domain linker
			b = append(b, pick(r, pagePaths)...)
			b = append(b, "?ref="...)
			b = append(b, pick(r, []string{"header_nav", "footer", "mega_menu", "breadcrumb"})...)
			b = append(b, "&_gl=1*"...)
			b = appendRandom(b, r, alnum, 6)
			b = append(b, "*_ga*"...)
			b = appendRandom(b, r, b64url[:62], 28)
			b = append(b, "*_ga_L3ADP1PE*"...)
			b = appendRandom(b, r, b64url[:62], 40)
		}
	case bProductView, bAddToCart, bPurchase:
		p = &g.catalogue[intn(r, len(g.catalogue))]
		if action == bPurchase {
			b = append(b, "/checkout/complete?order=ORD-"...)
			b = appendDigits(b, r, 10)
			b = append(b, "&payment="...)
			b = append(b, pick(r, []string{"card", "paypal", "klarna", "bank_transfer"})...)
		} else {
			b = append(b, p.path...)
			b = append(b, "?variant="...)
			b = strconv.AppendInt(b, int64(1+intn(r, 12)), 10)
			b = append(b, "&color="...)
			b = append(b, pick(r, []string{"nero", "bianco", "blu", "rosso", "verde", "beige"})...)
			if action == bAddToCart {
				b = append(b, "&qty=1&from=pdp"...)
			}
		}
	case bEmailOpen:
		b = append(b, "/email/open.gif?c="...)
		b = append(b, pick(r, campaigns)...)
		b = append(b, "&m="...)
		b = appendRandom(b, r, hexdigits, 24)
		b = append(b, "&u="...)
		b = appendRandom(b, r, hexdigits, 32)
		b = append(b, "&client="...)
		b = append(b, pick(r, []string{"gmail", "apple_mail", "outlook", "yahoo_mail", "thunderbird"})...)
	case bEmailClick:
		b = append(append(append(b, "/it/"...), pick(r, categories)...), "/?utm_source=newsletter&utm_medium=email&utm_campaign="...)
		b = append(b, pick(r, campaigns)...)
		b = append(b, "&utm_content="...)
		b = append(b, pick(r, []string{"hero_banner", "product_grid", "footer_link", "cta_button"})...)
	default: // search
		b = append(b, "/search?q="...)
		b = append(b, pick(r, searchTerms)...)
		b = append(b, "&page=1&sort=relevance&category="...)
		b = append(b, pick(r, categories)...)
		b = append(b, "&in_stock=true&src=autocomplete"...)
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
			w.cents("value", p.cents*int64(1+weighted(r, []int{80, 15, 5})))
			w.str("currency", "EUR")
		}
	}
	w.end()
	return ef
}
