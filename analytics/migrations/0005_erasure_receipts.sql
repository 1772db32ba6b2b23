-- leadpipe analytics schema, version 5: the receipt of every erasure
-- (GDPR Art. 17 and 5(2)): which request, when it was made and carried out,
-- what was removed from each table, and whether no row of the lead is left.
-- erasure_id is the SHA-256 of "erasure|" and the lead key: the controller
-- can check a lead key against it, but it leads to no row. One row per
-- request and lead (read with FINAL: a lead erased again, after a re-import,
-- gets a new receipt that replaces the first).
CREATE TABLE IF NOT EXISTS {db}.erasure_receipts (
    request_event_id String,
    erasure_id String,
    key_version String,
    requested_at DateTime,
    completed_at DateTime,
    behavior_unlinked UInt64,
    classifications_removed UInt64,
    leads_removed UInt64,
    affinity_removed UInt64,
    decisions_unlinked UInt64,
    verified UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(requested_at)
ORDER BY (request_event_id, erasure_id);
