-- Users of current ClickHouse (docker-compose.yml's clickhouse/clickhouse-server), granted by SQL:
-- the same users as deploy/clickhouse/users.xml grants ClickHouse 18.16, with grants by table and by
-- statement instead of whole databases.
--
--   marketer         reads the marketing database and nothing else: SELECT on marketing.*, readonly.
--   leadpipe_writer  the sink: writes leadpipe's tables and erases from them (ALTER ... DELETE and
--                    UPDATE), writes the marketing tables and drops their old snapshots (ALTER ...
--                    DROP PARTITION, under the ALTER DELETE privilege), and watches system.parts
--                    and system.mutations.
--
-- `default` administers (leadpipe migrate, leadpipe retention, the demo): it runs this file. The
-- image runs it from /docker-entrypoint-initdb.d/ on the first start only, with an empty data
-- volume. Elsewhere, run it as a user with access management:
--
--   clickhouse-client --user default --multiquery < deploy/clickhouse/users.sql
--
-- THE PASSWORDS BELOW ARE PUBLIC DEVELOPMENT PASSWORDS. Change them before any real data goes
-- through: on a running server (IF NOT EXISTS leaves an existing user as it is)
--
--   ALTER USER marketer IDENTIFIED WITH sha256_password BY 'a new password'
--   ALTER USER leadpipe_writer IDENTIFIED WITH sha256_password BY 'another one'
--
-- or, to keep the password out of this file, IDENTIFIED WITH sha256_hash BY '<hex>' where <hex> is
-- `printf %s 'a new password' | sha256sum`. Then give the new passwords to their clients: the
-- sink's and the dashboard's LEADPIPE_CLICKHOUSE_PASSWORD (or --clickhouse-password-file) in
-- docker-compose.yml, and secureJsonData.password in
-- deploy/grafana/provisioning/datasources/clickhouse.yaml.

-- The marketer's limits. readonly = 1: no write, no DDL, no table function (url, file, remote ...),
-- no setting changed, except max_execution_time within 1..60 s: the clients (clickhouse-go, under
-- leadpipe dashboard and Grafana's data source) set it from their query timeout.
CREATE SETTINGS PROFILE IF NOT EXISTS marketer_profile SETTINGS
    readonly = 1,
    max_memory_usage = 1000000000,
    max_execution_time = 30 MIN 1 MAX 60 CHANGEABLE_IN_READONLY,
    max_result_rows = 100000,
    result_overflow_mode = 'throw';

-- load_balancing: on a cluster, each shard's replicas in the order of
-- remote_servers, so the sink reads back what landed from the replica it
-- wrote to (DESIGN.md, "On a ClickHouse cluster").
CREATE SETTINGS PROFILE IF NOT EXISTS leadpipe_writer_profile SETTINGS
    max_memory_usage = 4000000000,
    load_balancing = 'in_order';

-- What a marketer may read.
CREATE ROLE IF NOT EXISTS marketing_reader;
GRANT SELECT ON marketing.* TO marketing_reader;

-- What the sink may do. ClickHouse has no privilege of its own for ALTER TABLE ... DROP PARTITION:
-- it checks ALTER DELETE on the table (which also allows ALTER TABLE ... DELETE), so that is what
-- the marketing tables grant.
CREATE ROLE IF NOT EXISTS leadpipe_sink;
GRANT SELECT, INSERT, ALTER DELETE, ALTER UPDATE ON leadpipe.* TO leadpipe_sink;
GRANT SELECT, INSERT, ALTER DELETE ON marketing.* TO leadpipe_sink;
GRANT SELECT ON system.parts TO leadpipe_sink;
GRANT SELECT ON system.mutations TO leadpipe_sink;
-- The sink looks each batch's event ids up in its tables with the ids sent as an external
-- table (Writer.LandedEvents), which current ClickHouse counts as a temporary table.
GRANT CREATE TEMPORARY TABLE ON *.* TO leadpipe_sink;
-- On a cluster only (--clickhouse-cluster): erasures and retention run
-- ON CLUSTER, and read system.parts and system.mutations of every shard
-- through the cluster() table function.
GRANT CLUSTER ON *.* TO leadpipe_sink;
GRANT REMOTE ON *.* TO leadpipe_sink;

CREATE USER IF NOT EXISTS marketer
    IDENTIFIED WITH sha256_password BY 'marketer-dev-password'
    DEFAULT DATABASE marketing
    SETTINGS PROFILE 'marketer_profile';
GRANT marketing_reader TO marketer;

CREATE USER IF NOT EXISTS leadpipe_writer
    IDENTIFIED WITH sha256_password BY 'leadpipe-writer-dev-password'
    DEFAULT DATABASE leadpipe
    SETTINGS PROFILE 'leadpipe_writer_profile';
GRANT leadpipe_sink TO leadpipe_writer;
