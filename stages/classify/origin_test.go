package classify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
)

func TestOrigin(t *testing.T) {
	type o = Origin
	cases := []struct {
		name string
		src  *schemas.Source
		step string
		want Origin
	}{
		// 1. source.kind
		{"a social lead form kind is social with its network normalised", &schemas.Source{Kind: "social_lead_form", Network: "LinkedIn"}, originKind, o{Channel: "social", Network: "linkedin"}},
		{"a social kind with a network alias is normalised", &schemas.Source{Kind: "social", Network: "fb"}, originKind, o{Channel: "social", Network: "facebook"}},
		{"a social kind without network takes it from the referrer", &schemas.Source{Kind: "social", Referrer: "https://lnkd.in/abc"}, originKind, o{Channel: "social", Network: "linkedin", Source: "lnkd.in"}},
		{"an import kind is import whatever the url says", &schemas.Source{Kind: "import", URL: "https://x.example/?fbclid=1"}, originKind, o{Channel: "import"}},
		{"a purchased list kind is purchased_list", &schemas.Source{Kind: "purchased_list"}, originKind, o{Channel: "purchased_list"}},
		{"a partner kind is partner", &schemas.Source{Kind: "partner"}, originKind, o{Channel: "partner"}},
		{"an event kind is event", &schemas.Source{Kind: "event"}, originKind, o{Channel: "event"}},
		{"a phone kind is offline", &schemas.Source{Kind: "phone"}, originKind, o{Channel: "offline"}},
		{"a store kind is offline", &schemas.Source{Kind: "store"}, originKind, o{Channel: "offline"}},
		{"an offline kind is offline", &schemas.Source{Kind: "offline"}, originKind, o{Channel: "offline"}},
		{"a referral kind is referral", &schemas.Source{Kind: "referral"}, originKind, o{Channel: "referral"}},
		{"an email kind is email", &schemas.Source{Kind: "email"}, originKind, o{Channel: "email"}},
		// 2. click ids
		{"a web form with fbclid is social facebook", &schemas.Source{Kind: "web_form", URL: "https://shop.example/p?fbclid=IwAR0"}, originClickID, o{Channel: "social", Network: "facebook"}},
		{"a landing page with li_fat_id is social linkedin", &schemas.Source{Kind: "landing_page", URL: "https://shop.example/?li_fat_id=1"}, originClickID, o{Channel: "social", Network: "linkedin"}},
		{"ttclid is social tiktok", &schemas.Source{URL: "https://shop.example/?a=1&ttclid=9"}, originClickID, o{Channel: "social", Network: "tiktok"}},
		{"twclid is social x", &schemas.Source{URL: "https://shop.example/?twclid=9"}, originClickID, o{Channel: "social", Network: "x"}},
		{"igshid is social instagram", &schemas.Source{URL: "https://shop.example/?igshid=9"}, originClickID, o{Channel: "social", Network: "instagram"}},
		{"gclid is paid search", &schemas.Source{URL: "https://shop.example/?gclid=9"}, originClickID, o{Channel: "search", Network: "google", Paid: true}},
		{"gbraid is paid search", &schemas.Source{URL: "https://shop.example/?gbraid=9"}, originClickID, o{Channel: "search", Network: "google", Paid: true}},
		{"wbraid is paid search", &schemas.Source{URL: "https://shop.example/?wbraid=9"}, originClickID, o{Channel: "search", Network: "google", Paid: true}},
		{"msclkid is paid search on bing", &schemas.Source{URL: "https://shop.example/?msclkid=9"}, originClickID, o{Channel: "search", Network: "bing", Paid: true}},
		{"dclid is paid search", &schemas.Source{URL: "https://shop.example/?dclid=9"}, originClickID, o{Channel: "search", Network: "google", Paid: true}},
		{"a click id wins over a utm source", &schemas.Source{URL: "https://shop.example/?utm_source=newsletter&utm_medium=email&fbclid=9"}, originClickID, o{Channel: "social", Network: "facebook", Source: "newsletter", Medium: "email"}},
		{"a click id in the fragment does not count", &schemas.Source{URL: "https://shop.example/#fbclid=9"}, originReferrer, o{Channel: "direct"}},
		// 3. UTM
		{"a utm_source alias of a social network is social", &schemas.Source{UTM: &schemas.UTM{Source: "IG", Medium: "story"}}, originUTM, o{Channel: "social", Network: "instagram", Source: "ig", Medium: "story"}},
		{"a social utm_medium is social", &schemas.Source{UTM: &schemas.UTM{Source: "someblog", Medium: "social-media", Campaign: "Spring"}}, originUTM, o{Channel: "social", Source: "someblog", Medium: "social-media", Campaign: "Spring"}},
		{"paid_social from the url is paid social", &schemas.Source{URL: "https://shop.example/?utm_source=lnkd&utm_medium=paid_social&utm_campaign=q4%20launch"}, originUTM, o{Channel: "social", Network: "linkedin", Paid: true, Source: "lnkd", Medium: "paid_social", Campaign: "q4 launch"}},
		{"t.co as utm_source is x", &schemas.Source{UTM: &schemas.UTM{Source: "t.co"}}, originUTM, o{Channel: "social", Network: "x", Source: "t.co"}},
		{"utm_medium email is email", &schemas.Source{UTM: &schemas.UTM{Source: "mailchimp", Medium: "E-Mail"}}, originUTM, o{Channel: "email", Source: "mailchimp", Medium: "e-mail"}},
		{"utm_medium newsletter is email", &schemas.Source{UTM: &schemas.UTM{Source: "weekly", Medium: "newsletter"}}, originUTM, o{Channel: "email", Source: "weekly", Medium: "newsletter"}},
		{"utm_medium affiliate is partner", &schemas.Source{UTM: &schemas.UTM{Source: "deals", Medium: "affiliate"}}, originUTM, o{Channel: "partner", Source: "deals", Medium: "affiliate"}},
		{"organic with a search engine is search", &schemas.Source{UTM: &schemas.UTM{Source: "google", Medium: "organic"}}, originUTM, o{Channel: "search", Network: "google", Source: "google", Medium: "organic"}},
		{"cpc on bing is paid search", &schemas.Source{UTM: &schemas.UTM{Source: "bing", Medium: "cpc"}}, originUTM, o{Channel: "search", Network: "bing", Paid: true, Source: "bing", Medium: "cpc"}},
		{"display on an ad network is paid referral", &schemas.Source{UTM: &schemas.UTM{Source: "criteo", Medium: "display"}}, originUTM, o{Channel: "referral", Paid: true, Source: "criteo", Medium: "display"}},
		{"a paid prefix medium is paid", &schemas.Source{UTM: &schemas.UTM{Source: "google", Medium: "paidsearch"}}, originUTM, o{Channel: "search", Network: "google", Paid: true, Source: "google", Medium: "paidsearch"}},
		{"utm_medium referral is referral", &schemas.Source{UTM: &schemas.UTM{Source: "partnerblog", Medium: "referral"}}, originUTM, o{Channel: "referral", Source: "partnerblog", Medium: "referral"}},
		{"source.utm wins over the url parameters", &schemas.Source{URL: "https://shop.example/?utm_source=fb&utm_medium=social", UTM: &schemas.UTM{Source: "newsletter", Medium: "email"}}, originUTM, o{Channel: "email", Source: "newsletter", Medium: "email"}},
		{"an unknown utm pair falls through to the referrer", &schemas.Source{UTM: &schemas.UTM{Source: "flyer", Medium: "qr"}, Referrer: "https://www.facebook.com/"}, originReferrer, o{Channel: "social", Network: "facebook", Source: "flyer", Medium: "qr"}},
		// 4. referrer
		{"a referrer on l.facebook.com is social facebook", &schemas.Source{Referrer: "https://l.facebook.com/l.php?u=x"}, originReferrer, o{Channel: "social", Network: "facebook", Source: "l.facebook.com"}},
		{"a referrer on lm.facebook.com is social facebook", &schemas.Source{Referrer: "https://lm.facebook.com/"}, originReferrer, o{Channel: "social", Network: "facebook", Source: "lm.facebook.com"}},
		{"a referrer on www.linkedin.com is social linkedin", &schemas.Source{Referrer: "https://www.linkedin.com/feed/"}, originReferrer, o{Channel: "social", Network: "linkedin", Source: "linkedin.com"}},
		{"a referrer on t.co is social x", &schemas.Source{Referrer: "https://t.co/xyz"}, originReferrer, o{Channel: "social", Network: "x", Source: "t.co"}},
		{"a referrer on pinterest.co.uk is social pinterest", &schemas.Source{Referrer: "https://uk.pinterest.co.uk/pin/1"}, originReferrer, o{Channel: "social", Network: "pinterest", Source: "uk.pinterest.co.uk"}},
		{"a referrer on wa.me is social whatsapp", &schemas.Source{Referrer: "https://wa.me/391234"}, originReferrer, o{Channel: "social", Network: "whatsapp", Source: "wa.me"}},
		{"a referrer on t.me is social telegram", &schemas.Source{Referrer: "https://t.me/channel"}, originReferrer, o{Channel: "social", Network: "telegram", Source: "t.me"}},
		{"an android app referrer of linkedin is social linkedin", &schemas.Source{Referrer: "android-app://com.linkedin.android"}, originReferrer, o{Channel: "social", Network: "linkedin", Source: "com.linkedin.android"}},
		{"a referrer on threads.net is social threads", &schemas.Source{Referrer: "https://www.threads.net/@x"}, originReferrer, o{Channel: "social", Network: "threads", Source: "threads.net"}},
		{"a referrer on xing.com is social xing", &schemas.Source{Referrer: "https://www.xing.com/"}, originReferrer, o{Channel: "social", Network: "xing", Source: "xing.com"}},
		{"a referrer on google.it is search", &schemas.Source{Referrer: "https://www.google.it/"}, originReferrer, o{Channel: "search", Network: "google", Source: "google.it"}},
		{"a referrer on google.co.uk is search", &schemas.Source{Referrer: "https://www.google.co.uk/search?q=x"}, originReferrer, o{Channel: "search", Network: "google", Source: "google.co.uk"}},
		{"a referrer on duckduckgo is search", &schemas.Source{Referrer: "https://duckduckgo.com/"}, originReferrer, o{Channel: "search", Network: "duckduckgo", Source: "duckduckgo.com"}},
		{"a referrer on yandex.ru is search", &schemas.Source{Referrer: "https://yandex.ru/search"}, originReferrer, o{Channel: "search", Network: "yandex", Source: "yandex.ru"}},
		{"a host that only contains google is not search", &schemas.Source{Referrer: "https://google.example.com.evil.io/"}, originReferrer, o{Channel: "referral", Source: "google.example.com.evil.io"}},
		{"no referrer is direct", &schemas.Source{Kind: "web_form"}, originReferrer, o{Channel: "direct"}},
		{"no source at all is direct", nil, originReferrer, o{Channel: "direct"}},
		{"any other referrer is referral", &schemas.Source{Referrer: "https://blog.example.org/post"}, originReferrer, o{Channel: "referral", Source: "blog.example.org"}},
	}
	p := DefaultPolicy()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, step, why := p.originOf(tc.src)
			if got != tc.want || step != tc.step {
				t.Errorf("origin %+v by %s (%s), want %+v by %s", got, step, why, tc.want, tc.step)
			}
		})
	}
}

func TestOwnHostsAreDirect(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte("extends: default\npolicy_version: \"test-1\"\nown_hosts: [shop.example]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := p.originOf(&schemas.Source{Referrer: "https://www.shop.example/cart"})
	if got.Channel != ChannelDirect {
		t.Errorf("a referrer on an own host gives %+v, want direct", got)
	}
	got, _, _ = DefaultPolicy().originOf(&schemas.Source{Referrer: "https://www.shop.example/cart"})
	if got.Channel != ChannelReferral {
		t.Errorf("without own_hosts the same referrer gives %+v, want referral", got)
	}
}
