package classify

import (
	"net/url"
	"strings"

	"github.com/leadpipe/leadpipe/schemas"
)

// Channels of an origin.
const (
	ChannelSocial        = "social"
	ChannelSearch        = "search"
	ChannelEmail         = "email"
	ChannelReferral      = "referral"
	ChannelDirect        = "direct"
	ChannelEvent         = "event"
	ChannelImport        = "import"
	ChannelPurchasedList = "purchased_list"
	ChannelPartner       = "partner"
	ChannelOffline       = "offline"
	ChannelUnknown       = "unknown"
)

// Origin is where a lead came from.
type Origin struct {
	// Channel is social, search, email, referral, direct, event, import,
	// purchased_list, partner, offline or unknown.
	Channel string `json:"channel"`
	// Network is the normalised social network (linkedin, facebook, …) or,
	// for search, the search engine (google, bing, …); "" when none is known.
	Network string `json:"network"`
	// Paid tells that the lead came from a paid click or a paid campaign.
	Paid bool `json:"paid"`
	// Source is utm_source in lower case, else the referrer's host.
	Source string `json:"source"`
	// Medium is utm_medium in lower case.
	Medium string `json:"medium"`
	// Campaign is utm_campaign.
	Campaign string `json:"campaign"`
}

// Origin steps, as explain names them.
const (
	originKind     = "origin_kind"
	originClickID  = "origin_click_id"
	originUTM      = "origin_utm"
	originReferrer = "origin_referrer"
)

var kindChannels = map[string]string{
	"social": ChannelSocial, "social_lead_form": ChannelSocial, "import": ChannelImport,
	"purchased_list": ChannelPurchasedList, "partner": ChannelPartner, "event": ChannelEvent,
	"phone": ChannelOffline, "store": ChannelOffline, "offline": ChannelOffline,
	"referral": ChannelReferral, "email": ChannelEmail,
}

// originOf decides the origin of a lead's source in four steps, the first
// that matches winning: source.kind, a click id in source.url, the UTM
// parameters, the referrer's host. step is the id of the step that decided
// and why says what it saw, for explain.
func (p *Policy) originOf(src *schemas.Source) (o Origin, step, why string) {
	if src == nil {
		src = &schemas.Source{}
	}
	x := p.idx
	query := rawQuery(src.URL)
	var utmSource, utmMedium, utmCampaign string
	if u := src.UTM; u != nil && (u.Source != "" || u.Medium != "" || u.Campaign != "") {
		utmSource, utmMedium, utmCampaign = u.Source, u.Medium, u.Campaign
	} else if query != "" {
		utmSource, utmMedium, utmCampaign = param(query, "utm_source"), param(query, "utm_medium"), param(query, "utm_campaign")
	}
	o.Source = strings.ToLower(strings.TrimSpace(utmSource))
	o.Medium = strings.ToLower(strings.TrimSpace(utmMedium))
	o.Campaign = strings.TrimSpace(utmCampaign)
	medium := x.medium(o.Medium)
	o.Paid = medium == "paid" || strings.Contains(o.Medium, "paid")
	refHost, refClass, refKnown := p.referrer(src.Referrer)
	if o.Source == "" && refHost != "" {
		o.Source = strings.TrimPrefix(refHost, "www.")
	}
	srcClass, srcKnown := x.aliases[o.Source]
	if !srcKnown && o.Source != "" {
		srcClass, srcKnown = x.host(o.Source)
	}
	clickID, click, hasClick := p.clickID(query)

	// 1. An explicit source.kind.
	if ch, ok := kindChannels[src.Kind]; ok {
		o.Channel = ch
		o.Network = p.network(src.Network)
		if ch == ChannelSocial && o.Network == "" {
			switch {
			case hasClick && click.Channel == ChannelSocial:
				o.Network = click.Network
			case srcKnown && srcClass.channel == ChannelSocial:
				o.Network = srcClass.name
			case refKnown && refClass.channel == ChannelSocial:
				o.Network = refClass.name
			}
		}
		if hasClick && click.Paid {
			o.Paid = true
		}
		return o, originKind, "source.kind=" + src.Kind
	}
	// 2. A click identifier in source.url.
	if hasClick {
		o.Channel, o.Network = click.Channel, click.Network
		o.Paid = o.Paid || click.Paid
		return o, originClickID, "source.url has " + clickID
	}
	// 3. The UTM parameters.
	if o.Source != "" || o.Medium != "" {
		if ch, ok := p.utmChannel(&o, medium, srcClass, srcKnown && utmSource != ""); ok {
			o.Channel = ch
			return o, originUTM, "utm_source=" + safe(o.Source) + " utm_medium=" + safe(o.Medium)
		}
	}
	// 4. The referrer's host.
	switch {
	case refHost == "":
		o.Channel = ChannelDirect
		return o, originReferrer, "no referrer"
	case refKnown && refClass.channel == "own":
		o.Channel = ChannelDirect
		return o, originReferrer, "the referrer is one of the site's own hosts"
	case refKnown:
		o.Channel, o.Network = refClass.channel, refClass.name
		return o, originReferrer, "the referrer's host is " + refClass.channel + " (" + refClass.name + ")"
	}
	o.Channel = ChannelReferral
	return o, originReferrer, "the referrer's host is not a social network, a search engine or the site's own"
}

// utmChannel is origin step 3; named tells that utm_source itself was known.
func (p *Policy) utmChannel(o *Origin, medium string, src hostClass, named bool) (string, bool) {
	srcSocial := named && src.channel == ChannelSocial
	srcSearch := named && src.channel == ChannelSearch
	switch {
	case srcSocial || medium == "social":
		if srcSocial {
			o.Network = src.name
		}
		return ChannelSocial, true
	case medium == "email" || (o.Medium == "" && p.idx.medium(o.Source) == "email"):
		return ChannelEmail, true
	case medium == "partner":
		return ChannelPartner, true
	case srcSearch && (medium == "organic" || o.Medium == ""):
		o.Network = src.name
		return ChannelSearch, true
	case medium == "paid":
		if srcSearch {
			o.Network = src.name
			return ChannelSearch, true
		}
		return ChannelReferral, true
	case medium == "referral":
		return ChannelReferral, true
	}
	return "", false
}

// network normalises a source.network value; an unknown one is kept in
// lower case.
func (p *Policy) network(n string) string {
	n = strings.ToLower(strings.TrimSpace(n))
	if n == "" {
		return ""
	}
	if c, ok := p.idx.aliases[n]; ok && c.channel == ChannelSocial {
		return c.name
	}
	if c, ok := p.idx.host(n); ok && c.channel == ChannelSocial {
		return c.name
	}
	return n
}

// referrer returns the lower-case host of a referrer URL (the package of an
// android-app:// referrer) and what it is known as.
func (p *Policy) referrer(ref string) (host string, c hostClass, known bool) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", c, false
	}
	rest := ref
	scheme := ""
	if i := strings.Index(ref, "://"); i >= 0 {
		scheme, rest = strings.ToLower(ref[:i]), ref[i+3:]
	} else if strings.HasPrefix(ref, "//") {
		rest = ref[2:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "]") {
		rest = rest[:i]
	}
	host = strings.TrimSuffix(strings.ToLower(rest), ".")
	if host == "" {
		return "", c, false
	}
	if scheme == "android-app" {
		c, known = p.idx.apps[host]
		return host, c, known
	}
	c, known = p.idx.host(host)
	return host, c, known
}

// clickID finds the first known click identifier in a raw query.
func (p *Policy) clickID(query string) (string, ClickID, bool) {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if c, ok := p.ClickIDs[k]; ok && v != "" {
			return k, c, true
		}
	}
	return "", ClickID{}, false
}

// rawQuery is the query string of a URL, without the fragment.
func rawQuery(u string) string {
	i := strings.IndexByte(u, '?')
	if i < 0 {
		return ""
	}
	q := u[i+1:]
	if j := strings.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	return q
}

// param returns the unescaped value of the first parameter key of a raw query.
func param(query, key string) string {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			if s, err := url.QueryUnescape(v); err == nil {
				return s
			}
			return v
		}
	}
	return ""
}

// safe is a short value for explain, which may only show marketing
// parameters, never personal data.
func safe(s string) string {
	if s == "" {
		return `""`
	}
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
