-- leadpipe analytics schema, version 4: the aggregates of leads read the
-- current row of each lead (leads FINAL), not every classification.
--
-- classify's decisions are a function of the set of a lead's events, not of
-- their order; the records in between are history. A lead quarantined by
-- one record and released by the next is not a quarantined lead, and a
-- count over classifications would count it. From this version, a
-- classification's version is the lead's sequence (it grows with every
-- change of its state) and its occurred_at is the latest event time applied
-- (as_of), so leads FINAL holds the same row for the same events in any
-- order; the two aggregates below are views over it. Each is dropped and
-- created again, so the migration can run twice.

DROP TABLE IF EXISTS {db}.quarantine_daily_mv;
DROP TABLE IF EXISTS {db}.quarantine_daily;

-- Leads in quarantine now, per day of their first lead event, channel,
-- network and reason. No keys.
CREATE VIEW IF NOT EXISTS {db}.quarantine_daily AS
SELECT toDate(first_seen) AS day, channel, network, reason, toUInt64(count()) AS leads
FROM {db}.leads FINAL
WHERE decision = 'quarantined'
GROUP BY day, channel, network, reason;

DROP TABLE IF EXISTS {db}.consent_coverage_daily_mv;
DROP TABLE IF EXISTS {db}.consent_coverage_daily;

-- Consent coverage now: per day of the first lead event, channel and
-- purpose, the leads by the basis of that purpose (read with uniqMerge).
CREATE VIEW IF NOT EXISTS {db}.consent_coverage_daily AS
SELECT toDate(first_seen) AS day, channel, purpose, basis, uniqState(lead_key) AS leads
FROM {db}.leads FINAL
ARRAY JOIN
    ['email_marketing', 'sms_marketing', 'phone_marketing', 'profiling', 'third_party_sharing', 'sales_followup'] AS purpose,
    [basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling, basis_third_party_sharing, basis_sales_followup] AS basis
GROUP BY day, channel, purpose, basis;
