-- marketing.funnel from behavior_events: the four steps of the funnel per
-- day and channel ("anonymous" for visitors without a lead). A (day,
-- channel, step) seen by fewer than k visitors goes into the day's
-- "other" channel.
INSERT INTO {marketing}.funnel (snapshot, day, channel, step, events, visitors, revenue)
SELECT {snapshot}, day, ch, action, sum(e), sum(v), sum(r)
FROM (
    SELECT toDate(occurred_at) AS day,
           if(uniqExact(visitor_key) >= {k}, if(channel = '', 'anonymous', channel), 'other') AS ch,
           action,
           count() AS e,
           uniqExact(visitor_key) AS v,
           sum(if(action = 'purchase', value, 0.)) AS r
    FROM {db}.behavior_events
    WHERE action IN ('page_view', 'product_view', 'add_to_cart', 'purchase')
    GROUP BY day, channel, action
)
GROUP BY day, ch, action
HAVING sum(v) >= {k}
