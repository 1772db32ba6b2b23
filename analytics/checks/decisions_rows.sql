-- table: decisions
-- what: rows for as many event ids
-- The audit trail holds one row per event id.
SELECT 'all', toFloat64(count()), toFloat64(uniqExact(event_id)) FROM {db}.decisions
HAVING count() != uniqExact(event_id)
