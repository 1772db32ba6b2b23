-- The erasure requests received in the period that have no receipt yet
-- (queued in pending_erasures): per request, when it was made, Unix
-- seconds, and how many leads it erases. No id: counts and times only.
SELECT toUInt32(toUnixTimestamp(min(requested_at))) AS requested, count() AS leads
FROM {db}.pending_erasures FINAL
WHERE requested_at >= {from} AND requested_at < {to}
GROUP BY request_event_id
ORDER BY requested, leads
