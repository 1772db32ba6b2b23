-- The figures the marketer's page leads with, for the range and channel
-- chosen: the leads whose first lead event falls in it, how many of them
-- are accepted now, how many wait in quarantine now, and how many a
-- consent released in it. Sums of groups of k or more (the marketing
-- database holds no smaller one), so no figure is smaller than k unless 0.
-- Then the erasures requested in it and carried out, and how many of them
-- have a verified receipt: counts without any dimension, every channel.
SELECT
    (SELECT sum(leads) FROM {marketing}.lead_volume
     WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
       AND week BETWEEN toMonday({from}) AND {to} AND ({channel} = '' OR channel = {channel})) AS leads,
    (SELECT sum(accepted) FROM {marketing}.lead_volume
     WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
       AND week BETWEEN toMonday({from}) AND {to} AND ({channel} = '' OR channel = {channel})) AS accepted,
    (SELECT sum(leads) FROM {marketing}.quarantine_backlog
     WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
       AND week BETWEEN toMonday({from}) AND {to}) AS quarantined,
    (SELECT sum(leads) FROM {marketing}.quarantine_releases
     WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
       AND week BETWEEN toMonday({from}) AND {to}) AS released,
    (SELECT sum(requests) FROM {marketing}.erasures
     WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
       AND week BETWEEN toMonday({from}) AND {to}) AS erasures,
    (SELECT sum(verified) FROM {marketing}.erasures
     WHERE snapshot = (SELECT max(snapshot) FROM {marketing}.refreshes)
       AND week BETWEEN toMonday({from}) AND {to}) AS erasures_verified
