// Package workload generates leadpipe's benchmark and demo corpus: a seeded,
// deterministic stream of lead, consent and behavior events in the schemas of
// issue 3, as they would arrive on the raw topics (leads.raw, consents.raw,
// behavior.raw) at the very start of the data flow. `leadpipe gen` writes it
// to Kafka or to stdout as JSONL, `leadpipe demo` and the end-to-end tests
// feed it to the pipeline, and the harness in bench/ times the pipeline on it.
//
// The same Seed and Config give the same events, byte for byte: every draw
// comes from PCG streams (math/rand/v2) seeded from the Seed, nothing reads
// the clock or iterates a map, and the arithmetic is integer wherever a
// floating-point unit could differ. Every lead has its own stream, so what a
// lead does does not depend on how the leads interleave.
//
// # The mix
//
// Origin of each lead's first lead event, as the rules of issue 3 decide it:
//
//	channel         share  how it shows
//	social           33%   source.kind social_lead_form or social (with network); or a web
//	                       form whose url carries fbclid, li_fat_id, ttclid, twclid or igshid;
//	                       or utm_source fb/ig/linkedin/lnkd/… or utm_medium paid_social/social/…
//	                       (in source.utm or the url); or only a referrer such as
//	                       https://l.facebook.com/, https://lnkd.in/…, https://t.co/…,
//	                       android-app://com.linkedin.android/
//	search           17%   gclid/gbraid/wbraid/msclkid/dclid; utm google/bing cpc, ppc or organic;
//	                       a google/bing/duckduckgo/ecosia/yahoo referrer
//	email            10%   utm_medium email/newsletter/e-mail; or source.kind email
//	referral          7%   another site's referrer; or utm_medium referral
//	direct            8%   no referrer, or one on the site's own Domain
//	event             5%   source.kind event with event_name
//	import            6%   source.kind import with import_batch
//	purchased_list    6%   source.kind purchased_list with list_id; supplier in 70%
//	partner           5%   source.kind partner, or utm_medium affiliate/partner; partner_id in 80%
//	offline           3%   source.kind phone, store or offline
//
// Everything else, per lead unless it says otherwise:
//
//	feature                      share  detail
//	consents array                50%   1-3 purposes (fewer when the event would pass 800 bytes),
//	                                    10% denied, 12% missing at, method, text_version or both
//	                                    collection_point and proof_ref; methods an affirmative act
//	                                    except the event badge scans (half the event consents)
//	customer                      12%   relationship.customer, email_from_purchase in 80%,
//	                                    last_purchase_at; another 10% say customer false
//	request                       35%   quote, demo, contact, download, purchase, support, newsletter
//	teenager                       3%   13-15 at occurred_at in IT/ES/FR/DE/NL/BE, 75% under the
//	                                    country's age of digital consent; parental_consent in 40%
//	business                      40%   company and job_title
//	second lead event              6%   the same person again later, from email or direct
//	consent events                30%   1-3 after the lead event: grant 55%, withdraw 25%,
//	                                    object 14%, erase 6% (nothing follows an erasure);
//	                                    purpose "all" for every erasure, a quarter of the
//	                                    withdrawals and objections, 5% of the grants;
//	                                    10% of grants lack a proof field
//	unknown lead ids               1%   one consent event each, for a lead id that never appears
//	behavior             BehaviorPerLead  events per lead on average, skewed (many leads browse
//	                                    little, a few a lot), in sessions of 2-6 events;
//	                                    35% of leads browse before they sign up
//	anonymous behavior     AnonymousRate  of behavior events carry anonymous_id (one or two
//	                                    browsers per lead), never email opens or clicks
//	consent signals       88%   of behavior events, the same for every event of one
//	                                    browser: refused everything 8%, measurement but no
//	                                    profiling 10%, both 70% (12% carry none); as a TC
//	                                    string 35%, consent mode 35% (half with gcs too), a
//	                                    CDP's categories 30%
//	malformed events       MalformedRate  of all events, on their own topics: truncated JSON,
//	                                    wrong types, unknown fields, no event_id, bad timestamps,
//	                                    invalid UTF-8, unknown purposes or actions, no lead_id
//	                                    (and no key), strings over 2 KiB
//
// Behavior actions are page_view 40%, product_view 25%, search 11%, add_to_cart
// 8%, email_open 8%, email_click 5% and purchase 3% (with value and currency
// EUR), over a catalogue of 400 products in 16 categories.
//
// The personal data is fake and looks it: names from short built-in lists,
// emails under example.com, example.org and example.net, phone numbers whose
// middle group is 555, companies from fiction. Well-formed lead events are
// 300-800 bytes (about 98%); behavior events too (over 99%, about 350 on
// average), their url carrying what real pages carry: campaign tags with the
// ad network's click id, listing filters, recommendation and search ids, the
// mail tool's tracking parameters, the analytics cross-domain linker.
//
// Lead ids are "lead-000123" and are the Kafka key of every event of the
// lead; anonymous behavior is keyed by its "anon-<16 hex>" id. Event ids are
// "ev-<seed>-<n>", n counting events in emission order. All times fall in
// [Start, Start+Span), which must end by Latest (2026-11-01), so that no
// consent is ever in the future.
package workload
