"""Apply leadpipe's ClickHouse migrations on a current ClickHouse engine.

chDB is ClickHouse in-process (pip install chdb). CI runs this so that the
schema that runs on the tests' ClickHouse 18.16 also runs on the current
ClickHouse of docker-compose and production. It splits statements exactly
as analytics.SplitStatements does, applies every migration twice (they must
be idempotent), inserts a row through each table the views read, and checks
that every view fed its aggregate. Then, on fresh databases, it loads the
marketer queries' fixture, refreshes the marketing tables as
analytics.Refresh does (k = 5), and checks that every query of
analytics/queries/ answers the rows of analytics/testdata/queries/ that
ClickHouse 18.16 answers in analytics/marketing_test.go. Last, on another
fresh database, it loads the accountability report's fixture and checks
that every query of analytics/accountability/ answers the rows of
analytics/testdata/accountability/ (analytics/report_test.go on 18.16).
"""
import glob
import os
import sys
import tempfile

from chdb import session


# ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS, so the migrations
# write ADD COLUMN, and leadpipe applies a migration once (schema_migrations
# records it). Applied twice here, as current ClickHouse allows, they must
# change nothing the second time.
def idempotent(stmt):
    if stmt.startswith("ALTER TABLE"):
        return stmt.replace("ADD COLUMN ", "ADD COLUMN IF NOT EXISTS ")
    return stmt


def statements(sql, db, marketing="marketing", **more):
    sql = sql.replace("{db}", db).replace("{marketing}", marketing)
    for k, v in more.items():
        sql = sql.replace("{" + k + "}", v)
    lines = [l for l in sql.split("\n") if not l.strip().startswith("--")]
    out = []
    for s in "\n".join(lines).split(";\n"):
        s = s.strip().rstrip(";").strip()
        if s:
            out.append(idempotent(s))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    files = sorted(glob.glob(os.path.join(here, "..", "migrations", "*.sql")))
    if not files:
        sys.exit("no migrations found")
    db = "leadpipe"
    with tempfile.TemporaryDirectory() as path:
        s = session.Session(path)
        s.query(f"CREATE DATABASE IF NOT EXISTS {db}")
        s.query("CREATE DATABASE IF NOT EXISTS marketing")
        for attempt in (1, 2):
            for f in files:
                for i, stmt in enumerate(statements(open(f).read(), db), 1):
                    try:
                        s.query(stmt)
                    except Exception as e:  # noqa: BLE001
                        sys.exit(f"{os.path.basename(f)} statement {i} (pass {attempt}): {e}")
        s.query(f"""INSERT INTO {db}.classifications (event_id, lead_key, decision, reason, channel, network,
            basis_profiling, basis_email_marketing, occurred_at, first_seen, version, _topic, _partition, _offset)
            VALUES ('e1', 'k1', 'quarantined', 'social_no_consent', 'social', 'linkedin', 'none', 'none',
            '2026-01-05 10:00:00', '2026-01-05 10:00:00', 1, 'leads.quarantine', 0, 0)""")
        s.query(f"""INSERT INTO {db}.behavior_events (event_id, occurred_at, action, channel, decision, lead_key,
            visitor_key, category, value, _topic, _partition, _offset)
            VALUES ('b1', '2026-01-05 11:00:00', 'purchase', 'social', 'accepted', 'k2', 'v1', 'shoes', 10.5,
            'behavior.enriched', 0, 0)""")
        s.query(f"""INSERT INTO {db}.decisions (event_id, event_type, lead_key, decision, at, _topic, _partition, _offset)
            VALUES ('e1', 'lead', 'k1', 'quarantined', '2026-01-05 10:00:00', 'leadpipe.audit', 0, 0)""")
        checks = {
            f"SELECT count() FROM {db}.leads FINAL": "1",
            f"SELECT sum(leads) FROM {db}.quarantine_daily": "1",
            f"SELECT sumMerge(events) FROM {db}.engagement_daily": "1",
            f"SELECT sumMerge(revenue) FROM {db}.engagement_daily": "10.5",
            f"SELECT count() FROM {db}.consent_coverage_daily": "6",
            f"SELECT sum(score) FROM {db}.category_affinity": "5",
        }
        for q, want in checks.items():
            got = s.query(q, "CSV").bytes().decode().strip().strip('"')
            if got != want:
                sys.exit(f"{q}: got {got}, want {want}")
        ledger_reads(s, db)
        drift_checks(s, db, os.path.join(here, "..", "checks"))
        n = sum(len(statements(open(f).read(), db)) for f in files)
        print(f"chdb: {len(files)} migrations, {n} statements applied twice on ClickHouse "
              f"{s.query('SELECT version()', 'CSV').bytes().decode().strip()}; views checked")
        marketer_queries(s, files, os.path.join(here, ".."))
        report_queries(s, files, os.path.join(here, ".."))


def ledger_reads(s, db):
    """The decision ledger's reads (analytics/ledger.go), as the sink and
    `leadpipe ledger verify` send them: the head of a partition's chain,
    the anchors, the receipts' accounts and the purges'."""
    s.query(f"""INSERT INTO {db}.decisions (event_id, event_type, lead_key, decision, at, _topic, _partition, _offset,
        lead_digest, lead_salt, ledger_prev_offset, ledger_prev, ledger_hash)
        VALUES ('e2', 'lead', 'k1', 'accepted', '2026-01-05 10:01:00', 'leadpipe.audit', 0, 1, 'd', 's', 0, '', 'h1')""")
    s.query(f"""INSERT INTO {db}.ledger_anchors (_topic, _partition, _offset, head, at, key_id, signature)
        VALUES ('leadpipe.audit', 0, 1, 'h1', '2026-01-05 10:02:00', '', '')""")
    s.query(f"""INSERT INTO {db}.erasure_receipts (request_event_id, erasure_id, requested_at, completed_at, decisions_unlinked, verified)
        VALUES ('r1', 'x1', '2026-01-05 10:00:00', '2026-01-05 10:03:00', 2, 1)""")
    checks = {
        f"""SELECT _offset, ledger_hash FROM {db}.decisions WHERE _topic = 'leadpipe.audit' AND _partition = 0
            AND _offset < 5 AND ledger_hash != '' ORDER BY _offset DESC LIMIT 1""": "1,h1",
        f"SELECT _offset, head FROM {db}.ledger_anchors WHERE _topic = 'leadpipe.audit' ORDER BY _partition, _offset, at": "1,h1",
        f"""SELECT request_event_id, erasure_id, min(completed_at) AS done, max(decisions_unlinked) AS unlinked
            FROM {db}.erasure_receipts GROUP BY request_event_id, erasure_id ORDER BY done, request_event_id, erasure_id""":
            "r1,x1,2026-01-05 10:03:00,2",
        f"""SELECT sumIf(rows, reason = 'erasure'), sumIf(rows, reason = 'quarantine_expired') FROM {db}.retention_runs
            WHERE table_name = 'decisions' AND action = 'clear_lead_key'""": "0,0",
    }
    for q, want in checks.items():
        got = s.query(q, "CSV").bytes().decode().strip().replace('"', "")
        if got != want:
            sys.exit(f"ledger: {q}: got {got}, want {want}")
    s.query(f"ALTER TABLE {db}.decisions DELETE WHERE event_id = 'e2'")
    s.query(f"ALTER TABLE {db}.erasure_receipts DELETE WHERE request_event_id = 'r1'")
    print("chdb: the ledger's reads (head, anchors, receipts, purges) answer as on 18.16")


def drift_checks(s, db, folder):
    """The queries of `leadpipe check` (analytics/checks/): no drift on the
    rows landed once, and the engagement and affinity of a behavior row
    inserted twice, as a sink without its lookup would have, reported."""
    names = sorted(f for f in os.listdir(folder) if f.endswith(".sql"))

    def drift():
        out = {}
        for name in names:
            for stmt in statements(open(os.path.join(folder, name)).read(), db):
                try:
                    rows = s.query(stmt, "CSV").bytes().decode().strip()
                except Exception as e:  # noqa: BLE001
                    sys.exit(f"checks/{name}: {e}")
                if rows:
                    out[name] = rows
        return out

    if got := drift():
        sys.exit(f"drift reported on rows landed once: {got}")
    s.query(f"""INSERT INTO {db}.behavior_events (event_id, occurred_at, action, channel, decision, lead_key,
        visitor_key, category, value, _topic, _partition, _offset)
        VALUES ('b1', '2026-01-05 11:00:00', 'purchase', 'social', 'accepted', 'k2', 'v1', 'shoes', 10.5,
        'behavior.enriched', 0, 1)""")
    got = sorted(drift())
    want = ["affinity_events.sql", "affinity_score.sql", "engagement_events.sql", "engagement_revenue.sql"]
    if got != want:
        sys.exit(f"a behavior row inserted twice: drift reported by {got}, want {want}")
    print(f"chdb: the {len(names)} checks of leadpipe check report nothing on rows landed once, and a doubled insert")


# The fixture's erasure receipts in November 2026 (testdata/marketing_fixture.sql):
# three requests, two with a verified receipt.
ERASURES_REQUESTED, ERASURES_VERIFIED = 3, 2

# The tables analytics.Refresh fills, in its order (marketing.go's marketingTables).
REFRESH = ["lead_volume", "quarantine_backlog", "quarantine_releases", "consent_coverage",
           "funnel", "categories", "audiences", "signal_coverage", "erasures", "refreshes"]


def marketer_queries(s, files, root):
    db, marketing = "fixture", "fixture_marketing"
    s.query(f"CREATE DATABASE {db}")
    s.query(f"CREATE DATABASE {marketing}")
    for f in files:
        for stmt in statements(open(f).read(), db, marketing):
            s.query(stmt)
    fixture = os.path.join(root, "testdata", "marketing_fixture.sql")
    for stmt in statements(open(fixture).read(), db, marketing):
        s.query(stmt)
    for name in REFRESH:
        path = os.path.join(root, "refresh", name + ".sql")
        for stmt in statements(open(path).read(), db, marketing, snapshot="1", k="5"):
            try:
                s.query(stmt)
            except Exception as e:  # noqa: BLE001
                sys.exit(f"refresh/{name}.sql: {e}")
    queries = sorted(glob.glob(os.path.join(root, "queries", "*.sql")))
    for path in queries:
        name = os.path.basename(path)[:-4]
        sql = "\n".join(statements(open(path).read(), db, marketing,
                                    **{"from": "toDate('2026-11-01')", "to": "toDate('2026-11-30')", "channel": "''"}))
        try:
            got = s.query(sql, "TSV").bytes().decode()
        except Exception as e:  # noqa: BLE001
            sys.exit(f"queries/{name}.sql: {e}")
        want = open(os.path.join(root, "testdata", "queries", name + ".tsv")).read()
        if got != want:
            sys.exit(f"queries/{name}.sql answered on current ClickHouse\n{got}\nnot, as on 18.16,\n{want}")
    # The figures the page leads with add up the answers (figures/period.sql).
    def column_sum(name, col):
        rows = open(os.path.join(root, "testdata", "queries", name + ".tsv")).read().strip().split("\n")
        return sum(int(r.split("\t")[col]) for r in rows)
    sql = "\n".join(statements(open(os.path.join(root, "figures", "period.sql")).read(), db, marketing,
                              **{"from": "toDate('2026-11-01')", "to": "toDate('2026-11-30')", "channel": "''"}))
    try:
        got = s.query(sql, "TSV").bytes().decode().strip()
    except Exception as e:  # noqa: BLE001
        sys.exit(f"figures/period.sql: {e}")
    want = "\t".join(str(n) for n in (column_sum("lead_volume", 3), column_sum("lead_volume", 4),
                                        column_sum("quarantine_backlog", 2), column_sum("quarantine_releases", 2),
                                        ERASURES_REQUESTED, ERASURES_VERIFIED))
    if got != want:
        sys.exit(f"figures/period.sql answered {got!r} on current ClickHouse, not the sums of the answers, {want!r}")
    print(f"chdb: the marketing refresh and {len(queries)} marketer queries answer the known rows; the period's figures add them up")


# The period analytics/testdata/report_fixture.sql is written for (report_test.go's reportPeriod).
REPORT_FROM, REPORT_TO = "toDateTime('2026-11-01 00:00:00', 'UTC')", "toDateTime('2026-12-01 00:00:00', 'UTC')"


def report_queries(s, files, root):
    """The accountability report's queries (leadpipe report) on current
    ClickHouse answer the known rows as on 18.16."""
    db = "report_fixture"
    s.query(f"CREATE DATABASE {db}")
    s.query("CREATE DATABASE report_fixture_marketing")
    for f in files:
        for stmt in statements(open(f).read(), db, "report_fixture_marketing"):
            s.query(stmt)
    fixture = os.path.join(root, "testdata", "report_fixture.sql")
    for stmt in statements(open(fixture).read(), db):
        try:
            s.query(stmt)
        except Exception as e:  # noqa: BLE001
            sys.exit(f"report_fixture.sql: {e}")
    queries = sorted(glob.glob(os.path.join(root, "accountability", "*.sql")))
    for path in queries:
        name = os.path.basename(path)[:-4]
        sql = "\n".join(statements(open(path).read(), db, **{"from": REPORT_FROM, "to": REPORT_TO}))
        try:
            got = s.query(sql, "TSV").bytes().decode()
        except Exception as e:  # noqa: BLE001
            sys.exit(f"accountability/{name}.sql: {e}")
        want = open(os.path.join(root, "testdata", "accountability", name + ".tsv")).read()
        if got != want:
            sys.exit(f"accountability/{name}.sql answered on current ClickHouse\n{got}\nnot, as on 18.16,\n{want}")
    print(f"chdb: the {len(queries)} queries of leadpipe report answer the known rows")


if __name__ == "__main__":
    main()
