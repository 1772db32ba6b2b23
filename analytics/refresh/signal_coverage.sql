-- marketing.signal_coverage from behavior_events: per week and channel
-- ("anonymous" for visitors without a lead), the events, how many had
-- analytics and profiling allowed by the visitor's consent signals, and
-- how many carried no signal (or landed before signals were read). Events
-- without analytics carry no visitor key, so a group's size is counted in
-- events: a (week, channel) of fewer than k events goes into the week's
-- "other" channel, and an "other" of fewer than k is left out.
INSERT INTO {marketing}.signal_coverage (snapshot, week, channel, events, analytics, profiling, unknown)
SELECT {snapshot}, week, ch, sum(e), sum(a), sum(p), sum(u)
FROM (
    SELECT toMonday(occurred_at) AS week,
           if(count() >= {k}, if(channel = '', 'anonymous', channel), 'other') AS ch,
           count() AS e,
           sum(analytics) AS a,
           sum(profiling) AS p,
           sum(analytics_signal IN ('unknown', '')) AS u
    FROM {db}.behavior_events
    GROUP BY week, channel
)
GROUP BY week, ch
HAVING sum(e) >= {k}
