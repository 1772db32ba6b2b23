-- leadpipe analytics schema, version 7: erasures waiting to be carried out
-- (GDPR Art. 17). The sink queues each erased lead here in the batch that
-- read its erasure, before the batch's offsets are committed, and carries
-- out everything queued in one set of mutations every --erasure-every
-- (each mutation rewrites the parts that hold matching rows, so one per
-- minute costs what one per batch would cost per batch). A queued lead is
-- deleted from here once its receipt is in erasure_receipts; the queue
-- survives a restart of the sink and is shared by every sink process.
CREATE TABLE IF NOT EXISTS {db}.pending_erasures (
    lead_key String,
    key_version String,
    request_event_id String,
    requested_at DateTime,
    queued_at DateTime
) ENGINE = ReplacingMergeTree()
ORDER BY (lead_key, request_event_id);
