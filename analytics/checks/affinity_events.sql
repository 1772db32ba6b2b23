-- table: category_affinity
-- what: events
-- category_affinity's events per month, against the behavior events with
-- a lead key and a category.
SELECT toString(month), toFloat64(a_events), toFloat64(b_events)
FROM (SELECT month, sum(events) AS a_events FROM {db}.category_affinity GROUP BY month) AS a
ALL FULL OUTER JOIN
(SELECT toStartOfMonth(occurred_at) AS month, count() AS b_events FROM (SELECT occurred_at, event_id, any(channel) AS channel, any(action) AS action, any(value) AS value,
        any(lead_key) AS lead_key, any(category) AS category
    FROM {db}.behavior_events GROUP BY occurred_at, event_id)
    WHERE lead_key != '' AND category != '' GROUP BY month) AS b
USING (month)
WHERE a_events != b_events AND month >= (SELECT toStartOfMonth(min(occurred_at)) FROM {db}.behavior_events)
ORDER BY month
