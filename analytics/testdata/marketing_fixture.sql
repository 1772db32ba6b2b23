-- Known rows for the marketer queries' tests (analytics/marketing_test.go
-- on ClickHouse 18.16, analytics/chdb/apply_migrations.py on current
-- ClickHouse). Refreshed with k = 5, every query's expected answer is in
-- testdata/queries/NAME.tsv. D1 is Monday 2026-11-02; W2 is the week
-- after, from Monday 2026-11-09.
--
-- Leads (through classifications and leads_mv), as cells of (first day,
-- channel, network):
--   D1 web          12: 10 accepted (6 with email consent), 2 suppressed
--   D1 social/li     7: quarantined, social_no_consent
--   D1 social/li     5: released by consent (quarantined first), with
--                       email and profiling consent
--   D1 social/fb     4: quarantined; k-1, so shown nowhere (it goes into
--                       the week's "other" cell, itself k-1)
--   D1 partner       5: accepted, no consent; exactly k, so shown
--   W2 event         4: accepted (2026-11-10); k-1, so shown nowhere
--   D1 erased        3: erased, never counted
INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-web-', toString(number)), concat('web-', toString(number)),
    if(number < 10, 'accepted', 'suppressed'), if(number < 10, '', 'objection'),
    if(number < 10, 'accepted', 'suppressed_objection'), 'web', '',
    if(number < 6, 'consent', 'none'), 'none', 'none', 'none', 'none', 'legitimate_interests',
    toDateTime('2026-11-02 09:00:00'), toDateTime('2026-11-02 09:00:00'), 1, 'leads.classified', 0, number
FROM system.numbers LIMIT 12;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-li-', toString(number)), concat('li-', toString(number)),
    'quarantined', 'social_no_consent', 'social_no_consent', 'social', 'linkedin',
    'none', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-02 10:00:00'), toDateTime('2026-11-02 10:00:00'), 1, 'leads.quarantine', 0, number
FROM system.numbers LIMIT 12;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('c-li-', toString(number)), concat('li-', toString(number)),
    'accepted', '', 'released_by_consent', 'social', 'linkedin',
    'consent', 'none', 'none', 'consent', 'none', 'none',
    toDateTime('2026-11-02 10:00:00'), toDateTime('2026-11-04 12:00:00'), 2, 'leads.classified', 0, 100 + number
FROM system.numbers LIMIT 5;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-fb-', toString(number)), concat('fb-', toString(number)),
    'quarantined', 'social_no_consent', 'social_no_consent', 'social', 'facebook',
    'none', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-02 11:00:00'), toDateTime('2026-11-02 11:00:00'), 1, 'leads.quarantine', 1, number
FROM system.numbers LIMIT 4;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-pa-', toString(number)), concat('pa-', toString(number)),
    'accepted', '', 'accepted', 'partner', '',
    'none', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-02 12:00:00'), toDateTime('2026-11-02 12:00:00'), 1, 'leads.classified', 1, 100 + number
FROM system.numbers LIMIT 5;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-ev-', toString(number)), concat('ev-', toString(number)),
    'accepted', '', 'accepted', 'event', '',
    'none', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-10 09:00:00'), toDateTime('2026-11-10 09:00:00'), 1, 'leads.classified', 2, number
FROM system.numbers LIMIT 4;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-er-', toString(number)), concat('er-', toString(number)),
    'erased', 'erasure', 'erased', '', '',
    'none', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-02 13:00:00'), toDateTime('2026-11-02 13:00:00'), 1, 'leads.classified', 2, 100 + number
FROM system.numbers LIMIT 3;

-- Behavior (anonymous web visitors, D1): six page views (v0..v5), then
-- v0..v4 view, cart and buy shoes for 10.5 each. Social visitors: three
-- page views on D1, k-2, shown nowhere.
--
-- Their consent signals (signal_coverage): of the six page views, v0..v3
-- allowed analytics by consent mode, v0 and v1 profiling too, v4 denied
-- both, v5 carried no signal; the 15 shop events allowed analytics by TCF,
-- the purchases profiling too. Web on D1: 21 events, 19 with analytics, 7
-- with profiling, 1 without a signal. (The rows keep their visitor keys:
-- the queries read the columns as landed.)
INSERT INTO {db}.behavior_events (event_id, occurred_at, action, channel, decision, lead_key,
    visitor_key, category, value, analytics, analytics_signal, profiling, profiling_signal, _topic, _partition, _offset)
SELECT concat('b-pv-', toString(number)), toDateTime('2026-11-02 14:00:00'), 'page_view', 'web', 'anonymous', '',
    concat('v', toString(number)), '', 0., toUInt8(number < 4), if(number < 5, 'gcm', 'unknown'),
    toUInt8(number < 2), if(number < 5, 'gcm', 'unknown'), 'behavior.enriched', 0, number
FROM system.numbers LIMIT 6;

INSERT INTO {db}.behavior_events (event_id, occurred_at, action, channel, decision, lead_key,
    visitor_key, category, value, analytics, analytics_signal, profiling, profiling_signal, _topic, _partition, _offset)
SELECT concat('b-', a, '-', toString(number)), toDateTime('2026-11-02 15:00:00'), a, 'web', 'anonymous', '',
    concat('v', toString(number)), 'shoes', if(a = 'purchase', 10.5, 0.), 1, 'tcf', toUInt8(a = 'purchase'), 'tcf',
    'behavior.enriched', 0, 100 + number
FROM system.numbers ARRAY JOIN ['product_view', 'add_to_cart', 'purchase'] AS a LIMIT 15;

INSERT INTO {db}.behavior_events (event_id, occurred_at, action, channel, decision, lead_key,
    visitor_key, category, value, _topic, _partition, _offset)
SELECT concat('b-so-', toString(number)), toDateTime('2026-11-02 16:00:00'), 'page_view', 'social', 'accepted', '',
    concat('s', toString(number)), '', 0., 'behavior.enriched', 1, number
FROM system.numbers LIMIT 3;

-- Affinity: the five released leads (profiling consent) score bags 3 and
-- shoes 1; web-0 (accepted, no profiling basis) scores bags 9 and is in
-- no audience.
INSERT INTO {db}.category_affinity (lead_key, key_version, category, month, score, events)
SELECT concat('li-', toString(number % 5)), 'v1', if(number < 5, 'bags', 'shoes'), toDate('2026-11-01'),
    if(number < 5, 3., 1.), 1
FROM system.numbers LIMIT 10;

INSERT INTO {db}.category_affinity (lead_key, key_version, category, month, score, events)
SELECT 'web-0', 'v1', 'bags', toDate('2026-11-01'), 9., 3
FROM system.numbers LIMIT 1;

-- Erasures: three requests in November 2026, two with a verified receipt;
-- one in October, outside the tests' range. (INSERT ... SELECT, as above:
-- the native protocol sends an INSERT's rows as a block, not as VALUES.)
INSERT INTO {db}.erasure_receipts (request_event_id, erasure_id, key_version, requested_at, completed_at,
    behavior_unlinked, classifications_removed, leads_removed, affinity_removed, decisions_unlinked, verified)
SELECT concat('er-', toString(number)), concat('x', toString(number)), 'v1',
    toDateTime(['2026-10-20 10:00:00', '2026-11-03 10:00:00', '2026-11-04 10:00:00', '2026-11-11 10:00:00'][number + 1]),
    toDateTime(['2026-10-20 10:01:00', '2026-11-03 10:01:00', '2026-11-04 10:01:00', '2026-11-11 10:01:00'][number + 1]),
    0, 1, 1, 0, 1, toUInt8(number != 3)
FROM system.numbers LIMIT 4;
