-- marketing.audiences: accepted leads with a basis for profiling, by
-- channel and the category of their highest affinity (summed over months;
-- a tie goes to the category last by name). A cell of fewer than k leads
-- goes into "other".
INSERT INTO {marketing}.audiences (snapshot, channel, category, leads)
SELECT {snapshot}, ch, cat, sum(n)
FROM (
    SELECT if(count() >= {k}, channel, 'other') AS ch,
           if(count() >= {k}, top, 'other') AS cat,
           count() AS n
    FROM (
        SELECT lead_key, argMax(category, (s, category)) AS top
        FROM (
            SELECT lead_key, category, sum(score) AS s
            FROM {db}.category_affinity
            GROUP BY lead_key, category
        )
        GROUP BY lead_key
    ) AS affinity ANY INNER JOIN (
        SELECT lead_key, channel
        FROM {db}.leads FINAL
        WHERE decision = 'accepted' AND basis_profiling NOT IN ('', 'none')
    ) AS profiled USING lead_key
    GROUP BY channel, top
)
GROUP BY ch, cat
HAVING sum(n) >= {k}
