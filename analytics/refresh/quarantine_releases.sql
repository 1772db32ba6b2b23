-- marketing.quarantine_releases: the leads whose current decision is a
-- release by consent, in the week of the first classification that
-- released them. A cell of fewer than k leads goes into the week's
-- "other" cell.
INSERT INTO {marketing}.quarantine_releases (snapshot, week, network, leads)
SELECT {snapshot}, week, nw, sum(n)
FROM (
    SELECT week, if(count() >= {k}, network, 'other') AS nw, count() AS n
    FROM (
        SELECT lead_key, toMonday(min(occurred_at)) AS week
        FROM {db}.classifications
        WHERE rule = 'released_by_consent'
        GROUP BY lead_key
    ) AS released ANY INNER JOIN (
        SELECT lead_key, network
        FROM {db}.leads FINAL
        WHERE rule = 'released_by_consent'
    ) AS current USING lead_key
    GROUP BY week, network
)
GROUP BY week, nw
HAVING sum(n) >= {k}
