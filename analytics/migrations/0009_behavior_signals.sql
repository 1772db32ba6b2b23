-- leadpipe analytics schema, version 9: what the visitor's consent signals
-- on the page allowed each behavior event (issue 26, stages/enrich
-- signals.yaml). analytics: it carries a visitor key; profiling: the
-- signal allowed profiling (its lead key needs the lead's own basis too).
-- analytics_signal and profiling_signal name the signal that decided:
-- tcf, gcm, gcs, cdp, or unknown when the event carried none (the policy's
-- default decided). Rows landed before this migration read 0 and '': no
-- signal was read then. No value leads to a person.
-- The marketer's coverage question: per week and channel, the behavior
-- events and how many had analytics and profiling allowed, and how many
-- carried no signal at all.
CREATE TABLE IF NOT EXISTS {marketing}.signal_coverage (
    snapshot UInt64,
    week Date,
    channel String,
    events UInt64,
    analytics UInt64,
    profiling UInt64,
    unknown UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (week, channel);

-- Last, so that a migration stopped before it leaves nothing to undo
-- (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS).
ALTER TABLE {db}.behavior_events
    ADD COLUMN analytics UInt8 DEFAULT 0,
    ADD COLUMN analytics_signal String DEFAULT '',
    ADD COLUMN profiling UInt8 DEFAULT 0,
    ADD COLUMN profiling_signal String DEFAULT '';
