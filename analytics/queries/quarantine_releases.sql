-- How many quarantined leads did a consent release each week, by network?
SELECT week, if(network = '', '-', network) AS network, sum(leads) AS leads
FROM {marketing}.quarantine_releases
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND week BETWEEN toMonday({from}) AND {to}
GROUP BY week, network
ORDER BY week, leads DESC, network
