-- Known rows for the accountability report's tests (analytics/report_test.go
-- on ClickHouse 18.16, analytics/chdb/apply_migrations.py on current
-- ClickHouse). The period is November 2026 (from 2026-11-01 00:00:00 to
-- 2026-12-01 00:00:00, UTC); every query's answer for it is in
-- testdata/accountability/NAME.tsv, and what the rows mean is written
-- beside each insert.
--
-- Classifications (lead key, version = the lead's sequence):
--   web-0..9    web, first seen 11-02: accepted; email consent 0-5,
--               profiling consent 0-2, sales_followup contract 0-3.
--               web-9 gets email consent on 12-05, after the period.
--   li-0..6     social/linkedin, quarantined on 11-02, still waiting.
--   rel-0..4    social/linkedin, quarantined on 11-02 10:00, released by
--               consent 1 to 5 days later (email and profiling consent).
--   old-0..1    social/facebook, first seen and quarantined on 10-20,
--               released on 11-10: 21 days, in the period's releases.
--   late-0      social/facebook, quarantined on 11-20, released on 12-03:
--               entered in the period, still waiting at its end.
--   srch-0..2   search/google, accepted on 11-06, email on the soft
--               opt-in (legitimate interests) for 0-1.
--   prev-0      web, first seen in September: outside the period.
-- So: 13 leads entered the quarantine, 7 were released, with waits of 1,
-- 2, 3, 4, 5, 21 and 21 days (median 4 days), and 8 wait at the end.
INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-web-', toString(number)), concat('web-', toString(number)), 'accepted', '', 'accepted', 'web', '',
    if(number < 6, 'consent', 'none'), 'none', 'none', if(number < 3, 'consent', 'none'), 'none', if(number < 4, 'contract', 'none'),
    toDateTime('2026-11-02 09:00:00', 'UTC'), toDateTime('2026-11-02 09:00:00', 'UTC'), 1, 'leads.classified', 0, number
FROM system.numbers LIMIT 10;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT 'c-web-9', 'web-9', 'accepted', '', 'accepted', 'web', '',
    'consent', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-02 09:00:00', 'UTC'), toDateTime('2026-12-05 09:00:00', 'UTC'), 2, 'leads.classified', 0, 10
FROM system.numbers LIMIT 1;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-li-', toString(number)), concat('li-', toString(number)), 'quarantined', 'social_no_consent', 'social_no_consent',
    'social', 'linkedin', 'none', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-02 10:00:00', 'UTC'), toDateTime('2026-11-02 10:00:00', 'UTC'), 1, 'leads.quarantine', 0, number
FROM system.numbers LIMIT 7;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-rel-', toString(number)), concat('rel-', toString(number)), 'quarantined', 'social_no_consent', 'social_no_consent',
    'social', 'linkedin', 'none', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-02 10:00:00', 'UTC'), toDateTime('2026-11-02 10:00:00', 'UTC'), 1, 'leads.quarantine', 0, 10 + number
FROM system.numbers LIMIT 5;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('c-rel-', toString(number)), concat('rel-', toString(number)), 'accepted', '', 'released_by_consent',
    'social', 'linkedin', 'consent', 'none', 'none', 'consent', 'none', 'none',
    toDateTime('2026-11-02 10:00:00', 'UTC'), toDateTime('2026-11-02 10:00:00', 'UTC') + (number + 1) * 86400, 2, 'leads.classified', 0, 20 + number
FROM system.numbers LIMIT 5;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-old-', toString(number % 2), '-', toString(intDiv(number, 2))), concat('old-', toString(number % 2)),
    if(number < 2, 'quarantined', 'accepted'), if(number < 2, 'social_no_consent', ''), if(number < 2, 'social_no_consent', 'released_by_consent'),
    'social', 'facebook', if(number < 2, 'none', 'consent'), 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-10-20 10:00:00', 'UTC'), if(number < 2, toDateTime('2026-10-20 10:00:00', 'UTC'), toDateTime('2026-11-10 10:00:00', 'UTC')),
    1 + intDiv(number, 2), if(number < 2, 'leads.quarantine', 'leads.classified'), 1, number
FROM system.numbers LIMIT 4;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-late-', toString(number)), 'late-0',
    if(number = 0, 'quarantined', 'accepted'), if(number = 0, 'social_no_consent', ''), if(number = 0, 'social_no_consent', 'released_by_consent'),
    'social', 'facebook', if(number = 0, 'none', 'consent'), 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-20 10:00:00', 'UTC'), if(number = 0, toDateTime('2026-11-20 10:00:00', 'UTC'), toDateTime('2026-12-03 10:00:00', 'UTC')),
    1 + number, if(number = 0, 'leads.quarantine', 'leads.classified'), 1, 10 + number
FROM system.numbers LIMIT 2;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT concat('e-srch-', toString(number)), concat('srch-', toString(number)), 'accepted', '', 'accepted', 'search', 'google',
    if(number < 2, 'legitimate_interests', 'none'), 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-11-06 08:00:00', 'UTC'), toDateTime('2026-11-06 08:00:00', 'UTC'), 1, 'leads.classified', 2, number
FROM system.numbers LIMIT 3;

INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, rule, channel, network,
    basis_email_marketing, basis_sms_marketing, basis_phone_marketing, basis_profiling,
    basis_third_party_sharing, basis_sales_followup, first_seen, occurred_at, version, _topic, _partition, _offset)
SELECT 'e-prev-0', 'prev-0', 'accepted', '', 'accepted', 'web', '', 'consent', 'none', 'none', 'none', 'none', 'none',
    toDateTime('2026-09-01 09:00:00', 'UTC'), toDateTime('2026-09-01 09:00:00', 'UTC'), 1, 'leads.classified', 2, 10
FROM system.numbers LIMIT 1;

-- Decisions (the audit trail), by processing time (at):
--   d-a-0..3    policy 2026-11.1, 11-01 08:00 to 11:00; their ignored
--               grants: a pre-ticked box and an unknown method (one
--               event), a grant without text_version, one dated in the
--               future, none.
--   d-b-0..5    policy 2026-12.1, 11-15 12:00 to 17:00; ignored: no at
--               and no method, a grant for "all", a minor's, a suppressed
--               lead's, an erased lead's, and a reason no version of
--               this code writes ("other").
--   purge-0..1  policy 2026-12.1, 11-20: two quarantined leads purged
--               (the key cleared); purge-2 on 12-02, outside the period.
--   receipt-0   an erasure receipt's record: no policy, not counted.
--   d-old-0     policy 2026-10.1 on 10-15, outside the period.
INSERT INTO {db}.decisions (event_id, event_type, lead_key, decision, reason, rule, policy_version, ignored_consents, at, _topic, _partition, _offset)
SELECT concat('d-a-', toString(number)), 'lead', concat('web-', toString(number)), 'accepted', '', 'accepted', '2026-11.1',
    [['email_marketing: consents[0]: method pre_ticked is not an affirmative act of the person (GDPR Recital 32; CJEU C-673/17 Planet49)',
      'profiling: consents[1]: its method is not one the policy lists as an affirmative act (GDPR Art. 4(11), Recital 32)'],
     ['email_marketing: no proof of consent: it has no text_version'],
     ['sms_marketing: occurred_at is in the future, beyond 5m0s of clock skew'],
     []][number + 1],
    toDateTime('2026-11-01 08:00:00', 'UTC') + number * 3600, 'leadpipe.audit', 0, number
FROM system.numbers LIMIT 4;

INSERT INTO {db}.decisions (event_id, event_type, lead_key, decision, reason, rule, policy_version, ignored_consents, at, _topic, _partition, _offset)
SELECT concat('d-b-', toString(number)), 'consent', concat('li-', toString(number)), 'quarantined', 'social_no_consent', 'social_no_consent', '2026-12.1',
    [['email_marketing: no proof of consent: it has no at, no method'],
     ['all: a grant for "all" does not count: consent must be specific to a purpose (Art. 4(11))'],
     ['email_marketing: consents[0]: the lead is a minor without parental consent (Art. 8)'],
     ['phone_marketing: the lead is on the suppression list (objection)'],
     ['email_marketing: the lead is erased (Art. 17)'],
     ['profiling: something an older version wrote']][number + 1],
    toDateTime('2026-11-15 12:00:00', 'UTC') + number * 3600, 'leadpipe.audit', 0, 10 + number
FROM system.numbers LIMIT 6;

INSERT INTO {db}.decisions (event_id, event_type, lead_key, decision, reason, rule, policy_version, ignored_consents, at, _topic, _partition, _offset)
SELECT concat('purge-', toString(number)), 'retention', '', 'purged', 'quarantine_expired', 'quarantine_expired', '2026-12.1', [],
    if(number < 2, toDateTime('2026-11-20 00:00:00', 'UTC'), toDateTime('2026-12-02 00:00:00', 'UTC')), 'leadpipe.audit', 1, number
FROM system.numbers LIMIT 3;

INSERT INTO {db}.decisions (event_id, event_type, lead_key, decision, reason, rule, policy_version, ignored_consents, at, _topic, _partition, _offset)
SELECT 'receipt-0', 'erasure_receipt', '', 'erased', 'erasure carried out (Art. 17); rows left by the key: none', 'erased', '', [],
    toDateTime('2026-11-03 10:01:00', 'UTC'), 'leadpipe.audit', 1, 10
FROM system.numbers LIMIT 1;

INSERT INTO {db}.decisions (event_id, event_type, lead_key, decision, reason, rule, policy_version, ignored_consents, at, _topic, _partition, _offset)
SELECT 'd-old-0', 'lead', 'prev-0', 'accepted', '', 'accepted', '2026-10.1',
    ['email_marketing: consents[0]: method pre_ticked is not an affirmative act of the person (GDPR Recital 32; CJEU C-673/17 Planet49)'],
    toDateTime('2026-10-15 08:00:00', 'UTC'), 'leadpipe.audit', 1, 11
FROM system.numbers LIMIT 1;

-- Erasure receipts, by the request's time:
--   0  requested 11-03 10:00, receipt a minute later, verified;
--   1  requested 11-05 10:00, receipt 12-06 10:00: more than one month
--      (the limit is 12-05 10:00), flagged;
--   2  requested 11-30 12:00, receipt 12-30 12:00: exactly one month, not
--      flagged; not verified;
--   3  requested 10-31, outside the period.
INSERT INTO {db}.erasure_receipts (request_event_id, erasure_id, key_version, requested_at, completed_at,
    behavior_unlinked, classifications_removed, leads_removed, affinity_removed, decisions_unlinked, verified)
SELECT concat('er-', toString(number)), lower(hex(SHA256(concat('erasure|k', toString(number))))), 'v1',
    toDateTime(['2026-11-03 10:00:00', '2026-11-05 10:00:00', '2026-11-30 12:00:00', '2026-10-31 10:00:00'][number + 1], 'UTC'),
    toDateTime(['2026-11-03 10:01:00', '2026-12-06 10:00:00', '2026-12-30 12:00:00', '2026-10-31 10:01:00'][number + 1], 'UTC'),
    0, 1, 1, 0, 1, toUInt8(number != 2)
FROM system.numbers LIMIT 4;

-- Erasures queued without a receipt: request r-a (two leads) of 11-01
-- 10:00, more than a month old on 12-08; r-b of 11-25; r-c of 12-02,
-- outside the period.
INSERT INTO {db}.pending_erasures (lead_key, key_version, request_event_id, requested_at, queued_at)
SELECT concat('pk-', toString(number)), 'v1', ['r-a', 'r-a', 'r-b', 'r-c'][number + 1],
    toDateTime(['2026-11-01 10:00:00', '2026-11-01 10:00:00', '2026-11-25 09:00:00', '2026-12-02 09:00:00'][number + 1], 'UTC'),
    toDateTime(['2026-11-01 10:00:05', '2026-11-01 10:00:05', '2026-11-25 09:00:05', '2026-12-02 09:00:05'][number + 1], 'UTC')
FROM system.numbers LIMIT 4;

-- Retention runs: run-1 (retention, 11-10) dropped a month of
-- behavior_events (100 rows) and deleted 5 more; run-2 (a purge, 11-20)
-- deleted 4 classifications and cleared 6 decisions' keys; run-3 (an
-- erasure, 11-25) deleted 3 classifications; run-4 (12-03) is outside.
INSERT INTO {db}.retention_runs (run_id, run_at, reason, table_name, action, cutoff, rows, detail)
SELECT ['run-1', 'run-1', 'run-2', 'run-2', 'run-3', 'run-4'][number + 1],
    toDateTime(['2026-11-10 03:00:00', '2026-11-10 03:00:00', '2026-11-20 00:00:00', '2026-11-20 00:00:00', '2026-11-25 09:01:00', '2026-12-03 03:00:00'][number + 1], 'UTC'),
    ['retention', 'retention', 'quarantine_expired', 'quarantine_expired', 'erasure', 'retention'][number + 1],
    ['behavior_events', 'behavior_events', 'classifications', 'decisions', 'classifications', 'behavior_events'][number + 1],
    ['drop_partition', 'delete', 'delete', 'clear_lead_key', 'delete', 'delete'][number + 1],
    toDateTime('2024-11-10 03:00:00', 'UTC'), [100, 5, 4, 6, 3, 7][number + 1], ''
FROM system.numbers LIMIT 6;
