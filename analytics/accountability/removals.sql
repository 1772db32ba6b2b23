-- What retention, erasures and quarantine purges removed in the period,
-- from retention_runs: per reason, table and action, the runs and rows.
SELECT reason, table_name, action, uniqExact(run_id) AS runs, sum(rows) AS rows
FROM {db}.retention_runs
WHERE run_at >= {from} AND run_at < {to}
GROUP BY reason, table_name, action
ORDER BY reason, table_name, action
