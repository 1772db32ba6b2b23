-- The leads first seen in the period, by origin channel and decision, as
-- of the end of the period: each lead's latest classification up to it
-- (argMax by version, the lead's sequence). Erased and purged leads are
-- not here: their classification history is deleted.
SELECT channel, decision, count() AS leads
FROM (
    SELECT lead_key, argMax(channel, version) AS channel, argMax(decision, version) AS decision,
        argMax(first_seen, version) AS first
    FROM {db}.classifications
    WHERE occurred_at < {to} AND lead_key != ''
    GROUP BY lead_key
    HAVING first >= {from} AND first < {to}
)
GROUP BY channel, decision
ORDER BY channel, decision
