package analytics_test

import (
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/analytics"
)

// Every migration renders for a cluster without a server: each table of
// leadpipe's database becomes a replicated _local table under a
// Distributed one, marketing's tables are replicated on every node, and the
// views read the local tables.
func TestEveryMigrationRendersForACluster(t *testing.T) {
	ms, err := analytics.Migrations("lp", "mk")
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := analytics.ClusterStatements(ms, "lp", "mk", "c1")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(func() []string {
		var out []string
		for _, s := range stmts {
			out = append(out, s...)
		}
		return out
	}(), ";\n")
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS lp.classifications_local ON CLUSTER c1 (",
		") ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/lp/classifications_local', '{replica}')\nPARTITION BY",
		"CREATE TABLE IF NOT EXISTS lp.classifications ON CLUSTER c1 AS lp.classifications_local ENGINE = Distributed(c1, lp, classifications_local, cityHash64(lead_key))",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/lp/leads_local', '{replica}', version)",
		"ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/lp/category_affinity_local', '{replica}', (score, events))",
		"Distributed(c1, lp, behavior_events_local, cityHash64(if(lead_key != '', lead_key, if(visitor_key != '', visitor_key, event_id))))",
		"ALTER TABLE lp.behavior_events_local ON CLUSTER c1 ADD COLUMN analytics UInt8 DEFAULT 0,",
		"DROP TABLE IF EXISTS lp.behavior_events ON CLUSTER c1",
		"CREATE TABLE IF NOT EXISTS mk.signal_coverage ON CLUSTER c1 (",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS lp.leads_mv ON CLUSTER c1 TO lp.leads_local AS SELECT",
		"FROM lp.classifications_local",
		"DROP TABLE IF EXISTS lp.quarantine_daily ON CLUSTER c1",
		"DROP TABLE IF EXISTS lp.quarantine_daily_local ON CLUSTER c1",
		"CREATE VIEW IF NOT EXISTS lp.quarantine_daily ON CLUSTER c1 AS SELECT",
		"FROM lp.leads FINAL",
		"CREATE TABLE IF NOT EXISTS mk.lead_volume ON CLUSTER c1 (",
		"ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/mk/lead_volume', '{shard}_{replica}')\nPARTITION BY snapshot",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the cluster statements lack %q", want)
		}
	}
	for _, no := range []string{"mk.lead_volume_local", "ENGINE = MergeTree", "ENGINE = ReplacingMergeTree"} {
		if strings.Contains(all, no) {
			t.Errorf("the cluster statements hold %q", no)
		}
	}
	// A view reading a table through its Distributed name would see no
	// block: materialized views read local tables only.
	for _, s := range stmts {
		for _, stmt := range s {
			if strings.HasPrefix(stmt, "CREATE MATERIALIZED VIEW") && !strings.Contains(stmt, "_local AS") {
				t.Errorf("a materialized view writes a Distributed table: %.80s", stmt)
			}
		}
	}
}

func TestAStatementOfAnUnknownFormIsRefusedInClusterMode(t *testing.T) {
	ms := []analytics.Migration{{Version: 9, Name: "x", Statements: []string{"ALTER TABLE lp.leads MODIFY COLUMN x String"}}}
	_, err := analytics.ClusterStatements(ms, "lp", "mk", "c1")
	if err == nil || !strings.Contains(err.Error(), "migration 0009_x, statement 1") {
		t.Fatalf("err = %v, want one naming migration 0009_x, statement 1", err)
	}
}
