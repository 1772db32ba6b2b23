-- How many leads arrived each week from each origin channel and network,
-- and what share of them is accepted now?
SELECT week, channel, if(network = '', '-', network) AS network,
       sum(leads) AS leads, sum(accepted) AS accepted,
       accepted / leads AS acceptance_rate
FROM {marketing}.lead_volume
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND week BETWEEN toMonday({from}) AND {to} AND ({channel} = '' OR channel = {channel})
GROUP BY week, channel, network
ORDER BY week, leads DESC, channel, network
