-- The quarantine flow of the period, by event time: the leads whose first
-- quarantined classification falls in it (entered), those a consent
-- released in it (their first released_by_consent classification), the
-- median wait of those released, from their first quarantine to their
-- release, in seconds (quantileExact: of an even count, the upper of the
-- two middle values), and the leads still quarantined at its end (their
-- latest classification up to it). Then the quarantined leads purged in
-- it, from decisions by processing time: a purged lead's classifications
-- are deleted, its purge's audit record stays, without the key.
SELECT
    countIf(entered >= {from} AND entered < {to}) AS leads_entered,
    countIf(released >= {from} AND released < {to}) AS leads_released,
    toUInt64(quantileExactIf(0.5)(toUInt64(released) - toUInt64(entered),
        released >= {from} AND released < {to} AND entered > toDateTime(0) AND released >= entered)) AS median_wait_seconds,
    countIf(last = 'quarantined') AS leads_waiting_at_end,
    (SELECT count() FROM {db}.decisions WHERE decision = 'purged' AND at >= {from} AND at < {to}) AS leads_purged
FROM (
    SELECT lead_key,
        minIf(occurred_at, decision = 'quarantined') AS entered,
        minIf(occurred_at, rule = 'released_by_consent') AS released,
        argMax(decision, version) AS last
    FROM {db}.classifications
    WHERE occurred_at < {to} AND lead_key != ''
    GROUP BY lead_key
)
