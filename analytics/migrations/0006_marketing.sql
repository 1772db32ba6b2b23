-- leadpipe analytics schema, version 6: the marketing database, which
-- holds only the answers marketers read and nothing that leads to a
-- person: no key, no id, and no group of fewer than k leads or visitors.
--
-- The marketer user may read this database and nothing else. ClickHouse
-- 18.16 refuses such a user a view that reads another database, so the
-- answers are materialized here by a refresh (analytics/refresh/, run by
-- the sink every --marketing-every and by `leadpipe marketing refresh`),
-- by week: a week's groups are larger than a day's, so fewer fall under k.
-- each refresh writes a whole snapshot of every table under a new
-- snapshot number, then records it in refreshes; the queries of
-- analytics/queries/ read the latest recorded snapshot only, and older
-- snapshots are dropped a partition at a time. k, the smallest group
-- shown, is the refresh's and is recorded with it.

CREATE TABLE IF NOT EXISTS {marketing}.refreshes (
    snapshot UInt64,
    refreshed_at DateTime,
    k UInt32,
    source_leads UInt64,
    source_events UInt64
) ENGINE = MergeTree()
ORDER BY snapshot;

-- Leads per week (Monday) of their first lead event, origin channel and
-- network:
-- all current leads but the erased and purged, and how many are accepted,
-- quarantined and suppressed now.
CREATE TABLE IF NOT EXISTS {marketing}.lead_volume (
    snapshot UInt64,
    week Date,
    channel String,
    network String,
    leads UInt64,
    accepted UInt64,
    quarantined UInt64,
    suppressed UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (week, channel, network);

-- Leads in quarantine now, per week of their first lead event, network
-- and reason.
CREATE TABLE IF NOT EXISTS {marketing}.quarantine_backlog (
    snapshot UInt64,
    week Date,
    network String,
    reason String,
    leads UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (week, network, reason);

-- Leads released from quarantine by a consent, per week (Monday) of the
-- classification that released them, and network.
CREATE TABLE IF NOT EXISTS {marketing}.quarantine_releases (
    snapshot UInt64,
    week Date,
    network String,
    leads UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (week, network);

-- Per week of the first lead event, channel and purpose: the current leads
-- whose basis for the purpose is consent, and all current leads.
CREATE TABLE IF NOT EXISTS {marketing}.consent_coverage (
    snapshot UInt64,
    week Date,
    channel String,
    purpose String,
    consented UInt64,
    leads UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (week, channel, purpose);

-- The engagement funnel per week, channel and step (page_view,
-- product_view, add_to_cart, purchase): events, visitors (visitor keys
-- are daily: a visitor seen on two days counts twice) and purchase revenue.
CREATE TABLE IF NOT EXISTS {marketing}.funnel (
    snapshot UInt64,
    week Date,
    channel String,
    step String,
    events UInt64,
    visitors UInt64,
    revenue Float64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (week, channel, step);

-- Product categories per week and channel: views, carts, purchases,
-- revenue and visitors (daily keys, as in funnel).
CREATE TABLE IF NOT EXISTS {marketing}.categories (
    snapshot UInt64,
    week Date,
    channel String,
    category String,
    views UInt64,
    carts UInt64,
    purchases UInt64,
    revenue Float64,
    visitors UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (week, channel, category);

-- Personalization audiences: accepted leads with a basis for profiling,
-- per channel and the category of their highest affinity score.
CREATE TABLE IF NOT EXISTS {marketing}.audiences (
    snapshot UInt64,
    channel String,
    category String,
    leads UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY (channel, category);
