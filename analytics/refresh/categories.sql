-- marketing.categories from behavior_events: per week, channel and product
-- category. A cell seen by fewer than k visitors goes into the week's
-- "other" cell.
INSERT INTO {marketing}.categories (snapshot, week, channel, category, views, carts, purchases, revenue, visitors)
SELECT {snapshot}, week, ch, cat, sum(pv), sum(ac), sum(pu), sum(r), sum(v)
FROM (
    SELECT toMonday(occurred_at) AS week,
           if(uniqExact(visitor_key) >= {k}, if(channel = '', 'anonymous', channel), 'other') AS ch,
           if(uniqExact(visitor_key) >= {k}, category, 'other') AS cat,
           countIf(action = 'product_view') AS pv,
           countIf(action = 'add_to_cart') AS ac,
           countIf(action = 'purchase') AS pu,
           sum(if(action = 'purchase', value, 0.)) AS r,
           uniqExact(visitor_key) AS v
    FROM {db}.behavior_events
    WHERE category != ''
    GROUP BY week, channel, category
)
GROUP BY week, ch, cat
HAVING sum(v) >= {k}
