-- How many leads wait in quarantine now, by network and reason, and since
-- when (the day of the oldest one's first lead event)?
SELECT if(network = '', '-', network) AS network, reason, sum(leads) AS leads, min(day) AS oldest
FROM {marketing}.quarantine_backlog
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND day BETWEEN {from} AND {to}
GROUP BY network, reason
ORDER BY leads DESC, network, reason
