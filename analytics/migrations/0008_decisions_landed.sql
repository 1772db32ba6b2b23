-- leadpipe analytics schema, version 8: which events' decisions landed, by
-- the event's time. decisions is ordered by the processing time (at), so
-- it cannot tell at once whether an event's decision is already there: a
-- copy of an audit record that classify wrote again (a batch replayed
-- after a crash, an event sent again) carries a later at. The sink looks
-- every batch's audit records up here by (occurred_at, event_id), a
-- primary key lookup, and lands none twice, however far the copy is from
-- the original (DESIGN.md, "No row lands twice in ClickHouse"). It holds
-- an event id and a time: nothing that leads to a person.
CREATE TABLE IF NOT EXISTS {db}.decisions_landed (
    occurred_at DateTime,
    event_id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, event_id);
