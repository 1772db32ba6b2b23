-- table: engagement_daily
-- what: revenue
-- engagement_daily's revenue per day and channel, against the purchases
-- of behavior_events, to 0.5 %.
SELECT concat(toString(day), ' ', channel), a_revenue, b_revenue
FROM (SELECT day, channel, sumMerge(revenue) AS a_revenue FROM {db}.engagement_daily GROUP BY day, channel) AS a
ALL FULL OUTER JOIN
(SELECT toDate(occurred_at) AS day, channel, sum(if(action = 'purchase', value, 0.)) AS b_revenue FROM (SELECT occurred_at, event_id, any(channel) AS channel, any(action) AS action, any(value) AS value,
        any(lead_key) AS lead_key, any(category) AS category
    FROM {db}.behavior_events GROUP BY occurred_at, event_id) GROUP BY day, channel) AS b
USING (day, channel)
WHERE abs(a_revenue - b_revenue) > 0.005 * greatest(1., abs(b_revenue)) AND day >= (SELECT min(toDate(occurred_at)) FROM {db}.behavior_events)
ORDER BY day, channel
