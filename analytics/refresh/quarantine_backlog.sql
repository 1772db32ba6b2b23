-- marketing.quarantine_backlog: the leads quarantined now. A cell of
-- fewer than k leads goes into the day's "other" cell.
INSERT INTO {marketing}.quarantine_backlog (snapshot, day, network, reason, leads)
SELECT {snapshot}, day, nw, rs, sum(n)
FROM (
    SELECT toDate(first_seen) AS day,
           if(count() >= {k}, network, 'other') AS nw,
           if(count() >= {k}, reason, 'other') AS rs,
           count() AS n
    FROM {db}.leads FINAL
    WHERE decision = 'quarantined'
    GROUP BY day, network, reason
)
GROUP BY day, nw, rs
HAVING sum(n) >= {k}
