-- How large is each personalization audience: the accepted leads with a
-- legal basis for profiling, by the category they are most drawn to?
SELECT category, sum(leads) AS leads
FROM {marketing}.audiences
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND ({channel} = '' OR channel = {channel})
GROUP BY category
ORDER BY leads DESC, category
