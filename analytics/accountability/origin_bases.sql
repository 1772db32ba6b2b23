-- The leads first seen in the period, by origin channel, purpose and the
-- legal basis of the purpose, as of the end of the period (each lead's
-- latest classification up to it).
SELECT channel, purpose, basis, count() AS leads
FROM (
    SELECT lead_key, argMax(channel, version) AS channel, argMax(first_seen, version) AS first,
        argMax(basis_email_marketing, version) AS email, argMax(basis_sms_marketing, version) AS sms,
        argMax(basis_phone_marketing, version) AS phone, argMax(basis_profiling, version) AS profiling,
        argMax(basis_third_party_sharing, version) AS third_party, argMax(basis_sales_followup, version) AS sales
    FROM {db}.classifications
    WHERE occurred_at < {to} AND lead_key != ''
    GROUP BY lead_key
    HAVING first >= {from} AND first < {to}
)
ARRAY JOIN
    ['email_marketing', 'sms_marketing', 'phone_marketing', 'profiling', 'third_party_sharing', 'sales_followup'] AS purpose,
    [email, sms, phone, profiling, third_party, sales] AS basis
GROUP BY channel, purpose, basis
ORDER BY channel, purpose, basis
