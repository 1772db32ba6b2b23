-- leadpipe analytics schema, version 1: the tables the sink writes.
-- Runs on ClickHouse 18.16 and on current ClickHouse: new-style MergeTree
-- syntax, no TTL, no SimpleAggregateFunction, no DateTime64.
-- {db} is replaced by the database name. No column holds personal data:
-- keys are HMAC-SHA256 pseudonyms with their key version beside them.

-- One row per classification the classify stage made (leads.classified and
-- leads.quarantine). _topic/_partition/_offset say where it came from; the
-- sink reads them back to skip a batch that already landed.
CREATE TABLE IF NOT EXISTS {db}.classifications (
    event_id String,
    lead_key String,
    key_version String,
    decision String,
    reason String,
    rule String,
    policy_version String,
    channel String,
    network String,
    paid UInt8,
    source String,
    medium String,
    campaign String,
    country String,
    basis_email_marketing String,
    basis_sms_marketing String,
    basis_phone_marketing String,
    basis_profiling String,
    basis_third_party_sharing String,
    basis_sales_followup String,
    first_seen DateTime,
    occurred_at DateTime,
    version UInt64,
    _topic String,
    _partition Int32,
    _offset Int64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (lead_key, occurred_at, event_id, _topic);

-- One current row per lead key; read it with FINAL (or argMax by version).
CREATE TABLE IF NOT EXISTS {db}.leads (
    lead_key String,
    key_version String,
    channel String,
    network String,
    paid UInt8,
    source String,
    medium String,
    campaign String,
    decision String,
    reason String,
    rule String,
    basis_email_marketing String,
    basis_sms_marketing String,
    basis_phone_marketing String,
    basis_profiling String,
    basis_third_party_sharing String,
    basis_sales_followup String,
    country String,
    first_seen DateTime,
    updated_at DateTime,
    policy_version String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY lead_key;

-- One row per enriched behavior event. lead_key is empty unless the lead
-- had a basis for profiling at the event's time. visitor_key is a daily
-- pseudonym (it changes every day), enough to count distinct visitors.
CREATE TABLE IF NOT EXISTS {db}.behavior_events (
    event_id String,
    occurred_at DateTime,
    action String,
    channel String,
    decision String,
    lead_key String,
    key_version String,
    visitor_key String,
    product_id String,
    category String,
    value Float64,
    currency String,
    _topic String,
    _partition Int32,
    _offset Int64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, event_id);

-- The audit trail: one row per decision, from leadpipe.audit.
CREATE TABLE IF NOT EXISTS {db}.decisions (
    event_id String,
    event_type String,
    lead_key String,
    key_version String,
    decision String,
    reason String,
    rule String,
    policy_version String,
    input_sha256 String,
    consent_proofs Array(String),
    ignored_consents Array(String),
    at DateTime,
    _topic String,
    _partition Int32,
    _offset Int64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (at, event_id, _topic);
