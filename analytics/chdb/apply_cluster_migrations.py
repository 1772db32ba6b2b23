"""Apply leadpipe's migrations in cluster mode on a current ClickHouse engine.

Reads on stdin the statements `leadpipe migrate --print --clickhouse-cluster
leadpipe` renders (replicated _local tables under Distributed ones, views
on the local tables) and applies them twice in chDB. chDB creates the
replicated tables (their engines, arguments, macros and ZooKeeper paths
are checked) but attaches them read-only: it writes no table metadata to
ZooKeeper. So the statements are then applied once more, each Replicated
engine turned into the engine it replicates, a row is inserted into each
local table the materialized views read, and every view must have fed its
local aggregate.

chDB is ClickHouse in process, with no server around it, so these are not
checked here (the 18.16 cluster tests check them):
- Writing to replicated tables, for the reason above; so ALTER TABLE ...
  ADD COLUMN of a replicated table is skipped in the replicated passes
  and applied (twice) in the unreplicated one.
- ON CLUSTER: chDB runs no distributed DDL. Each statement is applied
  without it, as each node of the cluster applies it.
- Reads and inserts through the Distributed tables: the cluster of chDB's
  config names a server that does not exist. The Distributed tables are
  created (their cluster, database, table and sharding key are checked),
  not queried, and neither are the plain views that read them.

The replicated tables need ZooKeeper: the one of the local test cluster
(scripts/cluster-up.sh), at LEADPIPE_TEST_ZOOKEEPER (127.0.0.1:19181).
"""
import os
import re
import sys
import tempfile
import uuid

CONFIG = """<clickhouse>
  <remote_servers>
    <leadpipe><shard><replica><host>127.0.0.1</host><port>9</port></replica></shard></leadpipe>
  </remote_servers>
  <macros><shard>1</shard><replica>{replica}</replica></macros>
  <zookeeper><node><host>{host}</host><port>{port}</port></node></zookeeper>
</clickhouse>
"""


# ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS, so the migrations
# write ADD COLUMN, and leadpipe applies a migration once (schema_migrations
# records it). Applied twice here, as current ClickHouse allows, they must
# change nothing the second time.
def idempotent(stmt):
    if stmt.startswith("ALTER TABLE"):
        return stmt.replace("ADD COLUMN ", "ADD COLUMN IF NOT EXISTS ")
    return stmt


def statements(sql):
    lines = [l for l in sql.split("\n") if not l.strip().startswith("--")]
    return [idempotent(s.strip().rstrip(";").strip()) for s in "\n".join(lines).split(";\n") if s.strip()]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: apply_cluster_migrations.py DB MARKETING_DB < statements.sql")
    db, marketing = sys.argv[1], sys.argv[2]
    stmts = statements(sys.stdin.read())
    if not stmts:
        sys.exit("no statements on stdin")
    host, _, port = os.environ.get("LEADPIPE_TEST_ZOOKEEPER", "127.0.0.1:19181").partition(":")
    with tempfile.TemporaryDirectory() as path:
        # chDB reads config.xml from its working directory when it starts;
        # a replica name of its own per run, so a run that failed half way
        # leaves no replica in ZooKeeper that the next one would clash with.
        with open(os.path.join(path, "config.xml"), "w") as f:
            f.write(CONFIG.format(replica="chdb-" + uuid.uuid4().hex[:8], host=host, port=port))
        os.chdir(path)
        from chdb import session

        s = session.Session(os.path.join(path, "data"))
        try:
            apply(s, stmts, db, marketing, (1, 2))
            checks(s, db, marketing, "ReplicatedMergeTree")
            drop(s, db, marketing)
            apply(s, [REPLICATED.sub(r"\1(", x) for x in stmts], db, marketing, ("unreplicated", "unreplicated again"))
            views(s, db)
            checks(s, db, marketing, "MergeTree")
        finally:
            drop(s, db, marketing)
    version = s.query("SELECT version()", "CSV").bytes().decode().strip()
    print(f"chdb: {len(stmts)} cluster-mode statements applied twice on ClickHouse {version} "
          "(without ON CLUSTER; Distributed tables created, not queried), "
          "then unreplicated: views checked on the local tables")


# A Replicated engine's ZooKeeper path and replica name, before the
# arguments of the engine it replicates.
REPLICATED = re.compile(r"Replicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?")


def drop(s, db, marketing):
    for name in (db, marketing):
        s.query(f"DROP DATABASE IF EXISTS {name} SYNC")


def apply(s, stmts, db, marketing, passes):
    for name in (db, marketing):
        s.query(f"CREATE DATABASE IF NOT EXISTS {name}")
    for attempt in passes:
        for i, stmt in enumerate(stmts, 1):
            local = stmt.replace(" ON CLUSTER leadpipe", "")
            if local.startswith("ALTER TABLE") and attempt in (1, 2):
                continue  # a replicated table is read-only in chDB
            if local.startswith("DROP TABLE"):
                # Current ClickHouse drops a table of an Atomic database
                # minutes later, its replica in ZooKeeper with it, unless
                # SYNC: the second pass would meet the replica still there.
                # (18.16 has no SYNC, and a real run applies a migration once.)
                local += " SYNC"
            try:
                s.query(local)
            except Exception as e:  # noqa: BLE001
                sys.exit(f"cluster statement {i} (pass {attempt}): {e}\n{local[:300]}")


def views(s, db):
    s.query(f"""INSERT INTO {db}.classifications_local (event_id, lead_key, decision, reason, channel, network,
        basis_profiling, basis_email_marketing, occurred_at, first_seen, version, _topic, _partition, _offset)
        VALUES ('e1', 'k1', 'quarantined', 'social_no_consent', 'social', 'linkedin', 'none', 'none',
        '2026-01-05 10:00:00', '2026-01-05 10:00:00', 1, 'leads.quarantine', 0, 0)""")
    s.query(f"""INSERT INTO {db}.behavior_events_local (event_id, occurred_at, action, channel, decision, lead_key,
        visitor_key, category, value, _topic, _partition, _offset)
        VALUES ('b1', '2026-01-05 11:00:00', 'purchase', 'social', 'accepted', 'k2', 'v1', 'shoes', 10.5,
        'behavior.enriched', 0, 0)""")
    expect(s, {
        f"SELECT count() FROM {db}.leads_local FINAL": "1",
        f"SELECT sumMerge(events) FROM {db}.engagement_daily_local": "1",
        f"SELECT sumMerge(revenue) FROM {db}.engagement_daily_local": "10.5",
        f"SELECT sum(score) FROM {db}.category_affinity_local": "5",
    })


def checks(s, db, marketing, engine):
    expect(s, {
        f"SELECT count() FROM system.tables WHERE database = '{db}' AND engine = 'Distributed'": "11",  # 0011 adds ledger_anchors
        f"SELECT count() FROM system.tables WHERE database = '{marketing}' AND engine = '{engine}'": "10",
    })


def expect(s, checks):
    for q, want in checks.items():
        got = s.query(q, "CSV").bytes().decode().strip().strip('"')
        if got != want:
            sys.exit(f"{q}: got {got}, want {want}")


if __name__ == "__main__":
    main()
