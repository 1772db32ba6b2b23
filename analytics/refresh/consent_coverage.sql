-- marketing.consent_coverage: per purpose, the current leads whose basis
-- is consent against all current leads (erased and purged left out). A
-- (week, channel) of fewer than k leads goes into the week's "other".
INSERT INTO {marketing}.consent_coverage (snapshot, week, channel, purpose, consented, leads)
SELECT {snapshot}, week, ch, purpose, sum(c), sum(n)
FROM (
    SELECT toMonday(first_seen) AS week,
           if(count() >= {k}, channel, 'other') AS ch,
           purpose,
           countIf(basis = 'consent') AS c,
           count() AS n
    FROM {db}.leads FINAL
    ARRAY JOIN
        ['email_marketing', 'sms_marketing', 'phone_marketing', 'profiling', 'third_party_sharing', 'sales_followup'] AS purpose,
        [basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling, basis_third_party_sharing, basis_sales_followup] AS basis
    WHERE decision NOT IN ('erased', 'purged')
    GROUP BY week, channel, purpose
)
GROUP BY week, ch, purpose
HAVING sum(n) >= {k}
