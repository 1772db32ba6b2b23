-- table: engagement_daily
-- what: events
-- engagement_daily's events per day, channel and action, against
-- behavior_events with one row per event (as FINAL keeps it; FINAL is not
-- read through a Distributed table of ClickHouse 18.16). From the first
-- day behavior_events holds: retention removes old behavior, not the
-- aggregate.
SELECT concat(toString(day), ' ', channel, ' ', action), toFloat64(a_events), toFloat64(b_events)
FROM (SELECT day, channel, action, sumMerge(events) AS a_events FROM {db}.engagement_daily GROUP BY day, channel, action) AS a
ALL FULL OUTER JOIN
(SELECT toDate(occurred_at) AS day, channel, action, count() AS b_events FROM (SELECT occurred_at, event_id, any(channel) AS channel, any(action) AS action, any(value) AS value,
        any(lead_key) AS lead_key, any(category) AS category
    FROM {db}.behavior_events GROUP BY occurred_at, event_id) GROUP BY day, channel, action) AS b
USING (day, channel, action)
WHERE a_events != b_events AND day >= (SELECT min(toDate(occurred_at)) FROM {db}.behavior_events)
ORDER BY day, channel, action
