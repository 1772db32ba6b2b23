-- leadpipe analytics schema, version 11: the decision ledger (issue 27,
-- DESIGN.md "The decision ledger is whole and unaltered"). Every decisions
-- row of leadpipe.audit joins a hash chain, one per audit partition, in
-- offset order: ledger_hash is SHA-256 over ledger_prev (the hash of the
-- partition's previous row in the chain, at ledger_prev_offset) and the
-- row's canonical bytes (package ledger). The lead key is not in those
-- bytes: lead_digest is, SHA-256 over a random lead_salt and the key. An
-- erasure clears lead_key and lead_salt together, so the chain still
-- holds and nothing links the digest back to the person. Rows landed
-- before this migration read '' and -1: they are outside the chain.
-- ledger_anchors: the chain's head of a partition (its row's offset and
-- hash) at a time, written by the sink every --ledger-anchor-every, signed
-- with Ed25519 when the sink has --ledger-key-file (key_id: the first 16
-- hex digits of SHA-256 of the public key). Hashes only: nothing that
-- leads to a person.
CREATE TABLE IF NOT EXISTS {db}.ledger_anchors (
    _topic String,
    _partition Int32,
    _offset Int64,
    head String,
    at DateTime,
    key_id String,
    signature String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (_topic, _partition, _offset, at);

-- Last, so that a migration stopped before it leaves nothing to undo
-- (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS).
ALTER TABLE {db}.decisions
    ADD COLUMN lead_digest String DEFAULT '',
    ADD COLUMN lead_salt String DEFAULT '',
    ADD COLUMN ledger_prev_offset Int64 DEFAULT -1,
    ADD COLUMN ledger_prev String DEFAULT '',
    ADD COLUMN ledger_hash String DEFAULT '';
