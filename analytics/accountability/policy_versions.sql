-- The policy versions that decided in the period (processing time): the
-- first and last decision of each, Unix seconds, and how many decisions.
-- Erasure receipts name no policy and are left out.
SELECT policy_version, toUInt32(toUnixTimestamp(min(at))) AS first, toUInt32(toUnixTimestamp(max(at))) AS last, count() AS decisions
FROM {db}.decisions
WHERE at >= {from} AND at < {to} AND policy_version != ''
GROUP BY policy_version
ORDER BY first, policy_version
