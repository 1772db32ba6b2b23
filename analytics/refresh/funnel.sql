-- marketing.funnel from behavior_events: the four steps of the funnel per
-- week and channel ("anonymous" for visitors without a lead). A (week,
-- channel, step) seen by fewer than k visitors goes into the week's
-- "other" channel.
INSERT INTO {marketing}.funnel (snapshot, week, channel, step, events, visitors, revenue)
SELECT {snapshot}, week, ch, action, sum(e), sum(v), sum(r)
FROM (
    SELECT toMonday(occurred_at) AS week,
           if(uniqExact(visitor_key) >= {k}, if(channel = '', 'anonymous', channel), 'other') AS ch,
           action,
           count() AS e,
           uniqExact(visitor_key) AS v,
           sum(if(action = 'purchase', value, 0.)) AS r
    FROM {db}.behavior_events
    WHERE action IN ('page_view', 'product_view', 'add_to_cart', 'purchase')
    GROUP BY week, channel, action
)
GROUP BY week, ch, action
HAVING sum(v) >= {k}
