package workload

// The built-in lists behind the fake personal data. Every person, company,
// email address and phone number they make is invented: emails live under
// example.com, example.org and example.net (RFC 2606), and every phone number
// has 555 as its middle group.

// name is a person's name as written, and its ASCII form for email addresses.
type name struct{ text, ascii string }

var firstNames = []name{
	{"Giulia", "giulia"}, {"Marco", "marco"}, {"Francesca", "francesca"}, {"Luca", "luca"},
	{"Chiara", "chiara"}, {"Alessandro", "alessandro"}, {"Sofia", "sofia"}, {"Matteo", "matteo"},
	{"Martina", "martina"}, {"Lorenzo", "lorenzo"}, {"Elena", "elena"}, {"Davide", "davide"},
	{"Sara", "sara"}, {"Nicolò", "nicolo"}, {"Federica", "federica"}, {"Andrea", "andrea"},
	{"Valentina", "valentina"}, {"Simone", "simone"}, {"Laura", "laura"}, {"Gabriele", "gabriele"},
	{"Lucía", "lucia"}, {"Javier", "javier"}, {"Camille", "camille"}, {"Théo", "theo"},
	{"Léa", "lea"}, {"Lukas", "lukas"}, {"Anna", "anna"}, {"Jonas", "jonas"},
	{"Sanne", "sanne"}, {"Daan", "daan"}, {"Emma", "emma"}, {"Noah", "noah"},
	{"Inès", "ines"}, {"Mathis", "mathis"}, {"Carmen", "carmen"}, {"Pablo", "pablo"},
	{"Hannah", "hannah"}, {"Felix", "felix"}, {"Ana", "ana"}, {"João", "joao"},
}

var lastNames = []name{
	{"Rossi", "rossi"}, {"Bianchi", "bianchi"}, {"Romano", "romano"}, {"Colombo", "colombo"},
	{"Ricci", "ricci"}, {"Marino", "marino"}, {"Greco", "greco"}, {"Bruno", "bruno"},
	{"Gallo", "gallo"}, {"Conti", "conti"}, {"De Luca", "deluca"}, {"Mancini", "mancini"},
	{"Costa", "costa"}, {"Giordano", "giordano"}, {"Rizzo", "rizzo"}, {"Lombardi", "lombardi"},
	{"Moretti", "moretti"}, {"García", "garcia"}, {"Martínez", "martinez"}, {"López", "lopez"},
	{"Dubois", "dubois"}, {"Lefèvre", "lefevre"}, {"Moreau", "moreau"}, {"Müller", "mueller"},
	{"Schmidt", "schmidt"}, {"Schneider", "schneider"}, {"Fischer", "fischer"}, {"de Vries", "devries"},
	{"Jansen", "jansen"}, {"Peeters", "peeters"}, {"Janssens", "janssens"}, {"Esposito", "esposito"},
	{"Ferrari", "ferrari"}, {"Fontana", "fontana"}, {"Caruso", "caruso"}, {"Silva", "silva"},
	{"Murphy", "murphy"}, {"Keller", "keller"}, {"Weber", "weber"}, {"D'Angelo", "dangelo"},
}

// company is a made-up company and the label its fake email domain uses.
type company struct{ name, slug string }

var companies = []company{
	{"Acme Srl", "acme"}, {"Globex SpA", "globex"}, {"Initech GmbH", "initech"},
	{"Umbrella Logistica Srl", "umbrella"}, {"Contoso Retail", "contoso"}, {"Fabrikam SpA", "fabrikam"},
	{"Northwind Traders", "northwind"}, {"Tailspin Toys", "tailspin"}, {"Wingtip Moda", "wingtip"},
	{"Adventure Works BV", "adventureworks"}, {"Vandelay Import", "vandelay"}, {"Stark Arredi Srl", "starkarredi"},
	{"Wayne Ottica", "wayneottica"}, {"Hooli Europe", "hooli"}, {"Pied Piper SAS", "piedpiper"},
	{"Soylent Foods", "soylent"}, {"Massive Dynamic", "massivedynamic"}, {"Cyberdyne Sistemi", "cyberdyne"},
	{"Tyrell Lab", "tyrell"}, {"Gringotts Finanza", "gringotts"}, {"Dunder Carta Srl", "dundercarta"},
	{"Prestige Worldwide", "prestige"}, {"Bluth Costruzioni", "bluth"}, {"Sterling Cooper Italia", "sterlingcooper"},
	{"Oceanic Viaggi", "oceanic"}, {"Monarch Sport", "monarch"}, {"Aperture Science BV", "aperture"},
	{"Black Mesa Lab", "blackmesa"}, {"Duff Bevande", "duff"}, {"Krusty Eventi", "krusty"},
}

var jobTitles = []string{
	"Marketing Manager", "Head of Sales", "CEO", "Purchasing Manager", "Store Manager",
	"Office Manager", "E-commerce Specialist", "Procurement Lead", "CFO", "IT Manager",
	"Brand Manager", "Account Executive", "Operations Director", "HR Manager", "Founder",
}

// mailDomains are the personal-email domains; business leads use
// <company>.example.com or <company>.example.org.
var mailDomains = []string{
	"example.com", "mail.example.com", "posta.example.net", "example.org",
	"webmail.example.org", "example.net", "inbox.example.net",
}

// country is an ISO 3166-1 alpha-2 code with its weight in the mix and its
// dialling prefix.
type country struct {
	code   string
	weight int
	prefix string
	mobile string // first digit of a mobile number
}

var countries = []country{
	{"IT", 55, "+39", "3"}, {"ES", 8, "+34", "6"}, {"FR", 8, "+33", "6"}, {"DE", 8, "+49", "1"},
	{"NL", 4, "+31", "6"}, {"BE", 3, "+32", "4"}, {"AT", 2, "+43", "6"}, {"PT", 2, "+351", "9"},
	{"IE", 2, "+353", "8"}, {"GB", 3, "+44", "7"}, {"CH", 2, "+41", "7"}, {"US", 3, "+1", "2"},
}

var countryWeights = func() []int {
	ws := make([]int, len(countries))
	for i, c := range countries {
		ws[i] = c.weight
	}
	return ws
}()

// minorCountries are the countries minors come from, with the age of digital
// consent the default policy holds for each (issue 3).
var minorCountries = []struct {
	code string
	age  int
}{{"IT", 14}, {"ES", 14}, {"FR", 15}, {"DE", 16}, {"NL", 16}, {"BE", 13}}

func countryByCode(code string) country {
	for _, c := range countries {
		if c.code == code {
			return c
		}
	}
	return countries[0]
}

// The product catalogue.
var categories = []string{
	"shoes", "bags", "jackets", "dresses", "watches", "eyewear", "jewelry", "furniture",
	"lighting", "kitchen", "garden", "electronics", "books", "toys", "beauty", "sports",
}

var productWords = []string{
	"classic", "urban", "leather", "light", "premium", "vintage", "slim", "eco",
	"travel", "outdoor", "soft", "smart", "compact", "deluxe", "essential", "heritage",
}

var searchTerms = []string{
	"scarpe+running", "borsa+pelle", "giacca+impermeabile", "orologio+uomo", "occhiali+da+sole",
	"lampada+da+tavolo", "set+pentole", "regalo+bambini", "crema+viso", "zaino+trekking",
	"divano+letto", "cuffie+bluetooth", "vestito+estivo", "collana+argento", "tenda+campeggio",
}

var campaigns = []string{
	"spring_sale_2026", "new_arrivals_jan", "winter_clearance", "loyalty_club", "b2b_catalogue_2026",
	"black_friday_2025", "retargeting_cart", "brand_awareness_q1", "lead_gen_webinar", "free_shipping_week",
}

// Where forms live and what consent texts say.
var formIDs = []string{
	"contact-footer", "newsletter-popup", "quote-request", "demo-booking", "catalogue-download",
	"checkout-optin", "account-signup", "b2b-wholesale", "giveaway-2026",
}

var landingPaths = []string{
	"/lp/spring-sale-2026", "/lp/catalogo-b2b", "/lp/richiedi-preventivo", "/lp/newsletter-sconto-10",
	"/contatti", "/it/registrati", "/lp/demo-showroom", "/lp/giveaway", "/it/b2b/rivenditori",
}

var textVersions = []string{
	"pp-2025-06", "pp-2025-11", "mkt-2026-01", "mkt-2025-09", "b2b-2026-01",
}

var consentMethods = []string{
	"checkbox", "double_opt_in", "pref_center", "checkout_checkbox",
}

var events = []string{
	"Milano Retail Summit 2026", "Salone del Mobile Preview", "Pitti Uomo Trade Day", "Webinar: E-commerce B2B",
	"Open Day Showroom Roma", "Fiera Casa Bologna",
}

var suppliers = []string{
	"Lista Contatti Example Srl", "DataLeads Example BV", "B2B Directory Example GmbH", "LeadMarket Example SAS",
}

var referralReferrers = []string{
	"https://www.ilpost.it/2026/01/10/regali-design/", "https://www.corriere.it/moda/", "https://news.ycombinator.com/item?id=42424242",
	"https://www.trustpilot.com/review/shop.example.com", "https://blog.example.org/migliori-negozi-online", "https://www.aranzulla.it/",
	"https://forum.example.net/t/consigli-acquisto/1234", "https://www.wired.it/article/gadget-2026/",
}
