-- For each channel and purpose, what share of the current leads gave
-- consent for it?
SELECT channel, purpose, sum(consented) AS consented, sum(leads) AS leads,
       consented / leads AS coverage
FROM {marketing}.consent_coverage
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND week BETWEEN toMonday({from}) AND {to} AND ({channel} = '' OR channel = {channel})
GROUP BY channel, purpose
ORDER BY channel, purpose
