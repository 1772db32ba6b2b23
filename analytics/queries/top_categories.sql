-- Which product categories do the visitors of each channel buy most (the
-- top five per channel, by purchases, then carts and views)?
SELECT channel, category, sum(views) AS views, sum(carts) AS carts, sum(purchases) AS purchases,
       sum(revenue) AS revenue
FROM {marketing}.categories
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND week BETWEEN toMonday({from}) AND {to} AND ({channel} = '' OR channel = {channel})
GROUP BY channel, category
ORDER BY channel, purchases DESC, carts DESC, views DESC, category
LIMIT 5 BY channel
