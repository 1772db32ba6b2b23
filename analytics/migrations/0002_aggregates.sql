-- leadpipe analytics schema, version 2: the aggregates marketers query,
-- fed by materialized views. The sink never lands a Kafka record twice
-- (it skips offsets already in the source tables), so the views see each
-- row once.

-- The current row of each lead.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.leads_mv TO {db}.leads AS
SELECT lead_key, key_version, channel, network, paid, source, medium, campaign,
       decision, reason, rule,
       basis_email_marketing, basis_sms_marketing, basis_phone_marketing,
       basis_profiling, basis_third_party_sharing, basis_sales_followup,
       country, first_seen, occurred_at AS updated_at, policy_version, version
FROM {db}.classifications;

-- Quarantined leads per day, network and reason. No keys.
CREATE TABLE IF NOT EXISTS {db}.quarantine_daily (
    day Date,
    channel String,
    network String,
    reason String,
    leads UInt64
) ENGINE = SummingMergeTree(leads)
ORDER BY (day, channel, network, reason);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.quarantine_daily_mv TO {db}.quarantine_daily AS
SELECT toDate(occurred_at) AS day, channel, network, reason, toUInt64(count()) AS leads
FROM {db}.classifications
WHERE decision = 'quarantined'
GROUP BY day, channel, network, reason;

-- Engagement per day, origin channel and action.
CREATE TABLE IF NOT EXISTS {db}.engagement_daily (
    day Date,
    channel String,
    action String,
    events AggregateFunction(sum, UInt64),
    visitors AggregateFunction(uniq, String),
    revenue AggregateFunction(sum, Float64)
) ENGINE = AggregatingMergeTree()
ORDER BY (day, channel, action);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.engagement_daily_mv TO {db}.engagement_daily AS
SELECT toDate(occurred_at) AS day, channel, action,
       sumState(toUInt64(1)) AS events,
       uniqState(visitor_key) AS visitors,
       sumState(if(action = 'purchase', value, 0.)) AS revenue
FROM {db}.behavior_events
GROUP BY day, channel, action;

-- Consent coverage per day, channel and purpose: distinct leads by basis.
CREATE TABLE IF NOT EXISTS {db}.consent_coverage_daily (
    day Date,
    channel String,
    purpose String,
    basis String,
    leads AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree()
ORDER BY (day, channel, purpose, basis);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.consent_coverage_daily_mv TO {db}.consent_coverage_daily AS
SELECT toDate(occurred_at) AS day, channel, purpose, basis, uniqState(lead_key) AS leads
FROM {db}.classifications
ARRAY JOIN
    ['email_marketing', 'sms_marketing', 'phone_marketing', 'profiling', 'third_party_sharing', 'sales_followup'] AS purpose,
    [basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling, basis_third_party_sharing, basis_sales_followup] AS basis
GROUP BY day, channel, purpose, basis;

-- Category affinity per lead and month, only for events that carry a lead
-- key (the lead had a basis for profiling). Weights: view 1, cart 3,
-- purchase 5. The month lets the retention job remove old profiling data;
-- sum over months for a lead's affinity.
CREATE TABLE IF NOT EXISTS {db}.category_affinity (
    lead_key String,
    key_version String,
    category String,
    month Date,
    score Float64,
    events UInt64
) ENGINE = SummingMergeTree((score, events))
ORDER BY (lead_key, category, month, key_version);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.category_affinity_mv TO {db}.category_affinity AS
SELECT lead_key, key_version, category, toStartOfMonth(occurred_at) AS month,
       sum(multiIf(action = 'purchase', 5., action = 'add_to_cart', 3., action = 'product_view', 1., 0.)) AS score,
       toUInt64(count()) AS events
FROM {db}.behavior_events
WHERE lead_key != '' AND category != ''
GROUP BY lead_key, key_version, category, month;
