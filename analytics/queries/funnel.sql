-- How do visitors of each channel go from page view to product view, add
-- to cart and purchase, and what revenue do purchases bring? (Visitor
-- keys are daily: a visitor of two days counts twice.)
SELECT channel,
       sumIf(visitors, step = 'page_view') AS page_view,
       sumIf(visitors, step = 'product_view') AS product_view,
       sumIf(visitors, step = 'add_to_cart') AS add_to_cart,
       sumIf(visitors, step = 'purchase') AS purchase,
       if(page_view = 0, 0, product_view / page_view) AS view_rate,
       if(product_view = 0, 0, add_to_cart / product_view) AS cart_rate,
       if(add_to_cart = 0, 0, purchase / add_to_cart) AS purchase_rate,
       sum(revenue) AS revenue
FROM {marketing}.funnel
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND week BETWEEN toMonday({from}) AND {to} AND ({channel} = '' OR channel = {channel})
GROUP BY channel
ORDER BY page_view DESC, channel
