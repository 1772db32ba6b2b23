-- marketing.quarantine_backlog: the leads quarantined now. A cell of
-- fewer than k leads goes into the week's "other" cell.
INSERT INTO {marketing}.quarantine_backlog (snapshot, week, network, reason, leads)
SELECT {snapshot}, week, nw, rs, sum(n)
FROM (
    SELECT toMonday(first_seen) AS week,
           if(count() >= {k}, network, 'other') AS nw,
           if(count() >= {k}, reason, 'other') AS rs,
           count() AS n
    FROM {db}.leads FINAL
    WHERE decision = 'quarantined'
    GROUP BY week, network, reason
)
GROUP BY week, nw, rs
HAVING sum(n) >= {k}
