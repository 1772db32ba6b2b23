-- marketing.lead_volume from leads FINAL (the current row of each lead).
-- A (week, channel, network) cell of fewer than k leads goes into the
-- week's "other" cell; an "other" cell of fewer than k is left out.
INSERT INTO {marketing}.lead_volume (snapshot, week, channel, network, leads, accepted, quarantined, suppressed)
SELECT {snapshot}, week, ch, nw, sum(n), sum(a), sum(q), sum(s)
FROM (
    SELECT toMonday(first_seen) AS week,
           if(count() >= {k}, channel, 'other') AS ch,
           if(count() >= {k}, network, 'other') AS nw,
           count() AS n,
           countIf(decision = 'accepted') AS a,
           countIf(decision = 'quarantined') AS q,
           countIf(decision = 'suppressed') AS s
    FROM {db}.leads FINAL
    WHERE decision NOT IN ('erased', 'purged')
    GROUP BY week, channel, network
)
GROUP BY week, ch, nw
HAVING sum(n) >= {k}
