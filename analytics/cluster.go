package analytics

import (
	"fmt"
	"regexp"
	"strings"
)

// Cluster mode: `leadpipe migrate --clickhouse-cluster NAME` applies the
// same migration files to a ClickHouse cluster, each statement rendered by
// ClusterStatements. Every table of leadpipe's database becomes a
// Replicated* table of the same engine, named with a _local suffix and
// created ON CLUSTER on every node, under a Distributed table of the
// table's own name that reads every shard and routes inserts by the
// table's sharding key. Materialized views read and write the local
// tables, so a block inserted on a shard is aggregated on that shard.
// Plain views and every query keep the names they have on one server and
// read through the Distributed tables. The marketing database is small and
// read by marketers on any node: its tables are replicated on every node of
// the cluster, without shards.

// localSuffix names the replicated table under a Distributed one.
const localSuffix = "_local"

// shardingKeys say how rows are spread over the shards: every row of a
// person by their lead key, so that one lead's rows live on one shard
// (leads FINAL and an erasure's count need no other shard), behavior
// without a lead key by its visitor key (by its event id when it has
// neither: the visitor allowed no analytics), and tables of no person at
// random.
var shardingKeys = map[string]string{
	TableClassifications: "cityHash64(lead_key)",
	TableLeads:           "cityHash64(lead_key)",
	TableBehavior:        "cityHash64(if(lead_key != '', lead_key, if(visitor_key != '', visitor_key, event_id)))",
	TableDecisions:       "cityHash64(if(lead_key != '', lead_key, event_id))",
	TableAffinity:        "cityHash64(lead_key)",
	TablePendingErasures: "cityHash64(lead_key)",
	TableErasureReceipts: "cityHash64(erasure_id)",
}

var (
	createTableRE = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+) (\(.*)$`)
	createMVRE    = regexp.MustCompile(`(?s)^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+\.\w+) TO (\w+)\.(\w+) AS\s+(.*)$`)
	createViewRE  = regexp.MustCompile(`(?s)^CREATE VIEW IF NOT EXISTS (\w+\.\w+) AS\s+(.*)$`)
	dropTableRE   = regexp.MustCompile(`^DROP TABLE IF EXISTS (\w+)\.(\w+)$`)
	addColumnRE   = regexp.MustCompile(`(?s)^ALTER TABLE (\w+)\.(\w+)\s+(ADD COLUMN .*)$`)
	engineRE      = regexp.MustCompile(`\) ENGINE = (\w*MergeTree)\(`)
)

// ClusterStatements renders the statements of the migrations ms, as
// Migrations returns them for db and marketing, for cluster. A statement
// of a form it does not know is an error naming its migration: a new
// migration must be written in the forms the earlier ones use.
func ClusterStatements(ms []Migration, db, marketing, cluster string) ([][]string, error) {
	sharded := map[string]bool{} // tables of db created so far, each a _local table under a Distributed one
	out := make([][]string, len(ms))
	for i, m := range ms {
		for j, stmt := range m.Statements {
			r, err := clusterStatement(stmt, db, marketing, cluster, sharded)
			if err != nil {
				return nil, fmt.Errorf("migration %04d_%s, statement %d, in cluster mode: %w", m.Version, m.Name, j+1, err)
			}
			out[i] = append(out[i], r...)
		}
	}
	return out, nil
}

func clusterStatement(stmt, db, marketing, cluster string, sharded map[string]bool) ([]string, error) {
	on := " ON CLUSTER " + cluster
	if m := createTableRE.FindStringSubmatch(stmt); m != nil {
		database, table, rest := m[1], m[2], m[3]
		loc := engineRE.FindStringSubmatchIndex(rest)
		if loc == nil {
			return nil, fmt.Errorf("table %s.%s: no MergeTree-family engine to replicate", database, table)
		}
		engine := rest[loc[2]:loc[3]]
		args := rest[loc[1]:]
		var path, replica, name string
		switch database {
		case marketing:
			// On every node: one replica per node, named by shard and replica.
			name, path, replica = table, "/clickhouse/tables/all/"+database+"/"+table, "{shard}_{replica}"
		case db:
			name, path, replica = table+localSuffix, "/clickhouse/tables/{shard}/"+database+"/"+table+localSuffix, "{replica}"
		default:
			return nil, fmt.Errorf("table %s.%s is in neither database", database, table)
		}
		sep := ", "
		if strings.HasPrefix(args, ")") {
			sep = "" // no arguments of its own
		}
		create := "CREATE TABLE IF NOT EXISTS " + database + "." + name + on + " " + rest[:loc[0]] +
			") ENGINE = Replicated" + engine + "('" + path + "', '" + replica + "'" + sep + args
		if database == marketing {
			return []string{create}, nil
		}
		key := shardingKeys[table]
		if key == "" {
			key = "rand()"
		}
		sharded[table] = true
		return []string{create, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s AS %s.%s ENGINE = Distributed(%s, %s, %s, %s)",
			database, table, on, database, name, cluster, database, name, key)}, nil
	}
	if m := createMVRE.FindStringSubmatch(stmt); m != nil {
		target := m[2] + "." + m[3]
		if m[2] == db && sharded[m[3]] {
			target += localSuffix
		}
		return []string{"CREATE MATERIALIZED VIEW IF NOT EXISTS " + m[1] + on + " TO " + target + " AS " + localSources(m[4], db, sharded)}, nil
	}
	if m := createViewRE.FindStringSubmatch(stmt); m != nil {
		return []string{"CREATE VIEW IF NOT EXISTS " + m[1] + on + " AS " + m[2]}, nil
	}
	if m := addColumnRE.FindStringSubmatch(stmt); m != nil {
		database, table, actions := m[1], m[2], m[3]
		if database != db || !sharded[table] {
			if database == marketing {
				return []string{"ALTER TABLE " + database + "." + table + on + " " + actions}, nil
			}
			return nil, fmt.Errorf("ALTER of %s.%s, which is not a table of these migrations", database, table)
		}
		// The replicated local tables take the columns (ON CLUSTER, one
		// replica per shard, the others through ZooKeeper). ClickHouse
		// 18.16 refuses ALTER ON CLUSTER of a Distributed table ("isn't
		// replicated, but shard is replicated"), so the Distributed table,
		// which holds no data, is created again over the altered ones.
		key := shardingKeys[table]
		if key == "" {
			key = "rand()"
		}
		return []string{
			"ALTER TABLE " + database + "." + table + localSuffix + on + " " + actions,
			"DROP TABLE IF EXISTS " + database + "." + table + on,
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s AS %s.%s%s ENGINE = Distributed(%s, %s, %s%s, %s)",
				database, table, on, database, table, localSuffix, cluster, database, table, localSuffix, key),
		}, nil
	}
	if m := dropTableRE.FindStringSubmatch(stmt); m != nil {
		out := []string{stmt + on}
		if m[1] == db && sharded[m[2]] {
			out = append(out, stmt+localSuffix+on)
			delete(sharded, m[2])
		}
		return out, nil
	}
	return nil, fmt.Errorf("a statement of a form cluster mode cannot render: %.60q", stmt)
}

// localSources points the tables a materialized view reads at their local
// tables: a view sees the blocks inserted into the table it reads, and on
// a cluster those are inserted into the local tables of each shard.
func localSources(query, db string, sharded map[string]bool) string {
	return regexp.MustCompile(`\b`+regexp.QuoteMeta(db)+`\.(\w+)\b`).ReplaceAllStringFunc(query, func(s string) string {
		if sharded[strings.TrimPrefix(s, db+".")] {
			return s + localSuffix
		}
		return s
	})
}
