-- The consent grants that did not count, in the audit records of the
-- decisions made in the period (processing time): per purpose and reason
-- (the reason without where in a lead event's consents it was), how many.
-- The caller sorts the reasons into categories (classify.IgnoredReasonOf).
SELECT purpose, why, count() AS grants
FROM (
    SELECT substring(ignored, 1, position(ignored, ': ') - 1) AS purpose,
        replaceRegexpOne(substring(ignored, position(ignored, ': ') + 2), '^consents\\[[0-9]+\\]: ', '') AS why
    FROM {db}.decisions
    ARRAY JOIN ignored_consents AS ignored
    WHERE at >= {from} AND at < {to}
)
GROUP BY purpose, why
ORDER BY purpose, why
