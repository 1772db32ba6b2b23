-- table: category_affinity
-- what: score
-- category_affinity's score per month, against the weights of the
-- behavior events with a lead key and a category (view 1, cart 3,
-- purchase 5), to 0.5 %.
SELECT toString(month), a_score, b_score
FROM (SELECT month, sum(score) AS a_score FROM {db}.category_affinity GROUP BY month) AS a
ALL FULL OUTER JOIN
(SELECT toStartOfMonth(occurred_at) AS month,
        sum(multiIf(action = 'purchase', 5., action = 'add_to_cart', 3., action = 'product_view', 1., 0.)) AS b_score
    FROM (SELECT occurred_at, event_id, any(channel) AS channel, any(action) AS action, any(value) AS value,
        any(lead_key) AS lead_key, any(category) AS category
    FROM {db}.behavior_events GROUP BY occurred_at, event_id) WHERE lead_key != '' AND category != '' GROUP BY month) AS b
USING (month)
WHERE abs(a_score - b_score) > 0.005 * greatest(1., b_score) AND month >= (SELECT toStartOfMonth(min(occurred_at)) FROM {db}.behavior_events)
ORDER BY month
