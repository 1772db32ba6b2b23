-- For each channel, what share of behavior did the visitors' cookie
-- choices allow for analytics (a visitor key) and for profiling (affinity
-- and audiences), and what share carried no consent signal?
SELECT channel, sum(events) AS events,
       sum(analytics) / events AS analytics_share,
       sum(profiling) / events AS profiling_share,
       sum(unknown) / events AS no_signal_share
FROM {marketing}.signal_coverage
WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
  AND week BETWEEN toMonday({from}) AND {to} AND ({channel} = '' OR channel = {channel})
GROUP BY channel
ORDER BY events DESC, channel
