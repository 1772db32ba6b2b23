-- The snapshot is recorded once every table holds it: from here on the
-- queries read it.
INSERT INTO {marketing}.refreshes (snapshot, refreshed_at, k, source_leads, source_events)
SELECT {snapshot}, now(), {k},
       (SELECT count() FROM {db}.leads FINAL),
       (SELECT count() FROM {db}.behavior_events)
