-- marketing.erasures: the erasures carried out, per week (Monday) of their
-- request, and how many of them have a verified receipt. One receipt per
-- request and lead (FINAL: a lead erased again after a re-import has its
-- later receipt only).
INSERT INTO {marketing}.erasures (snapshot, week, requests, verified)
SELECT {snapshot}, toMonday(requested_at) AS week, count(), sum(verified)
FROM {db}.erasure_receipts FINAL
GROUP BY week
