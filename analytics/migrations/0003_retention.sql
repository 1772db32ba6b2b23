-- leadpipe analytics schema, version 3: the record of what retention and
-- erasure removed, for the controller's accountability (GDPR Art. 5(2)).
-- One row per table and action of a run; no keys.
CREATE TABLE IF NOT EXISTS {db}.retention_runs (
    run_id String,
    run_at DateTime,
    reason String,
    table_name String,
    action String,
    cutoff DateTime,
    rows UInt64,
    detail String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(run_at)
ORDER BY (run_at, run_id, table_name);
