-- leadpipe analytics schema, version 10: the erasures for the marketer's
-- page (issue 29): per week (Monday) of the request, how many erasures
-- were carried out and how many of them have a verified receipt (no row
-- of the lead left). Counts only: no key, no dimension that could single
-- anyone out.
CREATE TABLE IF NOT EXISTS {marketing}.erasures (
    snapshot UInt64,
    week Date,
    requests UInt64,
    verified UInt64
) ENGINE = MergeTree()
PARTITION BY snapshot
ORDER BY week;
