-- How many leads wait in quarantine now, by network and reason, and since
-- when (the week of the oldest one's first lead event)?
SELECT if(network = '', '-', network) AS network, reason, sum(leads) AS leads, min(week) AS oldest_week
FROM {marketing}.quarantine_backlog
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND week BETWEEN toMonday({from}) AND {to}
GROUP BY network, reason
ORDER BY leads DESC, network, reason
