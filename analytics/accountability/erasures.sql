-- Every erasure receipt (one per request and lead) whose request was
-- received in the period: its erasure id (SHA-256 of "erasure|" and the
-- lead key, leading to no row), when the request was made and when the
-- receipt was written, Unix seconds, and whether no row of the lead is
-- left. The one-month limit of Art. 12(3) is checked by the caller.
SELECT erasure_id, toUInt32(toUnixTimestamp(requested_at)) AS requested, toUInt32(toUnixTimestamp(completed_at)) AS completed, verified
FROM {db}.erasure_receipts FINAL
WHERE requested_at >= {from} AND requested_at < {to}
ORDER BY requested, erasure_id
