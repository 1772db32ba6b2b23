package main

// The cluster tests: leadpipe on the local ClickHouse cluster that
// scripts/cluster-up.sh starts (two shards, the first with two replicas),
// each compared with what one server holds for the same events.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// clusterRunConfig is testRunConfig with leadpipe's tables on the test
// cluster; nodes are its nodes' addresses (shard 1's two replicas, then
// shard 2). A test that stops nodes has the cluster alone.
func clusterRunConfig(t *testing.T, stopsNodes bool) (*runConfig, driver.Conn, []string) {
	t.Helper()
	cfg := defaultRunConfig()
	open := pipelinetest.Cluster
	if stopsNodes {
		open = pipelinetest.ClusterAlone
	}
	chCfg, conn, nodes := open(t)
	cfg.ch = chCfg
	cfg.kafka = pipelinetest.Kafka(t)
	cfg.metricsAddr = ""
	cfg.sinkAge = 100 * time.Millisecond
	cfg.erasureEvery = 0
	return &cfg, conn, nodes
}

// nodeConns opens a connection to each node of the cluster.
func nodeConns(t *testing.T, cfg analytics.Config, nodes []string) []driver.Conn {
	t.Helper()
	var out []driver.Conn
	for _, addr := range nodes {
		c := cfg
		c.Addr = addr
		conn, err := analytics.Open(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		out = append(out, conn)
	}
	return out
}

// syncReplicas waits until every replica of the local tables of db holds
// what its shard's other replicas hold.
func syncReplicas(t *testing.T, conns []driver.Conn, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, conn := range conns {
		for _, table := range pipelinetest.Strings(t, conn, "SELECT name FROM system.tables WHERE database = '"+db+"' AND engine LIKE 'Replicated%'") {
			if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+db+"."+table); err != nil {
				t.Fatalf("sync replica %s: %v", table, err)
			}
		}
	}
}

// localRows is what one node's local tables hold: per table, every row
// as a sorted line.
func localRows(t *testing.T, conn driver.Conn, db string) landed {
	t.Helper()
	out := landed{}
	for table, cols := range map[string]string{
		"classifications_local": "event_id, ' ', lead_key, ' ', decision, ' ', toString(version)",
		"behavior_events_local": "event_id, ' ', lead_key, ' ', visitor_key, ' ', decision",
		"decisions_local":       "event_id, ' ', lead_key, ' ', decision, ' ', _topic",
		"leads_local":           "lead_key, ' ', decision, ' ', toString(version)",
	} {
		rows := pipelinetest.Strings(t, conn, "SELECT concat("+cols+") FROM "+db+"."+table)
		slices.Sort(rows)
		out[table] = rows
	}
	return out
}

// marketingAnswers refreshes the marketing database of ch and answers
// every marketer question of analytics/queries/ from it.
func marketingAnswers(t *testing.T, conn driver.Conn, ch analytics.Config) landed {
	t.Helper()
	ctx := context.Background()
	if _, err := analytics.Refresh(ctx, conn, ch.Database, ch.Marketing, 5); err != nil {
		t.Fatal(err)
	}
	out := landed{}
	for _, q := range analytics.Queries() {
		tab, err := q.Run(ctx, conn, ch.Marketing, analytics.AllTime)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		out["marketing: "+q.Name] = nil // a question without an answer fails sameView
		for _, row := range tab.Rows {
			// Sums of floats differ in their last bits with the order
			// the shards add them in: compared to a millionth.
			var line []string
			for _, v := range row {
				if f, ok := v.(float64); ok {
					v = strconv.FormatFloat(f, 'f', 6, 64)
				}
				line = append(line, fmt.Sprint(v))
			}
			out["marketing: "+q.Name] = append(out["marketing: "+q.Name], strings.Join(line, " "))
		}
	}
	return out
}

func TestClusterLandsTheMarketersNumbersOfOneServer(t *testing.T) {
	events := chaosWorkload(t)
	refCfg, refConn := referenceStages(t, events)
	want := marketerView(t, refConn, refCfg.ch.Database)
	wantMarketing := marketingAnswers(t, refConn, refCfg.ch)

	cfg, conn, nodes := clusterRunConfig(t, false)
	db := cfg.ch.Database
	landEvents(t, cfg, events)
	sameView(t, marketerView(t, conn, db), want)
	sameView(t, marketingAnswers(t, conn, cfg.ch), wantMarketing)
	counts := reconcile(t, cfg, conn)
	t.Logf("reconciled on the cluster: %v, %d marketer questions answered alike", counts, len(wantMarketing))

	// Each shard holds its part, every lead on one shard only, and the
	// replicas of shard 1 hold the same rows.
	conns := nodeConns(t, cfg.ch, nodes)
	syncReplicas(t, conns, db)
	first, second, other := localRows(t, conns[0], db), localRows(t, conns[1], db), localRows(t, conns[2], db)
	for table := range first {
		if !slices.Equal(first[table], second[table]) {
			t.Errorf("%s: the two replicas of shard 1 differ (%d rows against %d):\n%s", table, len(first[table]), len(second[table]), firstDiff(first[table], second[table]))
		}
		if len(first[table]) == 0 || len(other[table]) == 0 {
			t.Errorf("%s: a shard holds no row (shard 1: %d, shard 2: %d)", table, len(first[table]), len(other[table]))
		}
	}
	onShard := func(c driver.Conn) map[string]bool {
		keys := map[string]bool{}
		for _, k := range pipelinetest.Strings(t, c, "SELECT DISTINCT lead_key FROM "+db+".classifications_local") {
			keys[k] = true
		}
		return keys
	}
	one, two := onShard(conns[0]), onShard(conns[2])
	for k := range one {
		if two[k] {
			t.Fatalf("lead %s has classifications on both shards", k[:12])
		}
	}
	t.Logf("shard 1 holds %d leads, shard 2 %d", len(one), len(two))
}

// TestClusterErasureVerifiesNoRowIsLeftOnAnyShard erases leads whose rows
// are on both shards' tables and checks, on every node's local tables,
// that nothing of them is left, as their receipts say.
func TestClusterErasureVerifiesNoRowIsLeftOnAnyShard(t *testing.T) {
	cfg, conn, nodes := pipelinetest.Cluster(t)
	ctx := context.Background()
	w := analytics.NewConfigWriter(conn, cfg)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var reqs []analytics.ErasureRequest
	var classifications []analytics.ClassificationRow
	var behavior []analytics.BehaviorRow
	for i := range 40 {
		key := fmt.Sprintf("%064x", i+1)
		reqs = append(reqs, analytics.ErasureRequest{LeadKey: key, KeyVersion: "k1", EventID: fmt.Sprintf("erase-%d", i), RequestedAt: at})
		classifications = append(classifications, analytics.ClassificationRow{EventID: fmt.Sprintf("lead-%d", i), LeadKey: key, KeyVersion: "k1",
			Decision: "accepted", Channel: "web_form", FirstSeen: at, OccurredAt: at, Version: 1, Origin: analytics.Origin{Topic: "leads.classified", Offset: int64(i)}})
		behavior = append(behavior, analytics.BehaviorRow{EventID: fmt.Sprintf("view-%d", i), OccurredAt: at, Action: "product_view",
			Channel: "web_form", Decision: "accepted", LeadKey: key, KeyVersion: "k1", VisitorKey: fmt.Sprintf("v%d", i), Category: "shoes",
			Origin: analytics.Origin{Topic: "behavior.enriched", Offset: int64(i)}})
	}
	if err := analytics.Insert(ctx, w, analytics.TableClassifications, classifications); err != nil {
		t.Fatal(err)
	}
	if err := analytics.Insert(ctx, w, analytics.TableBehavior, behavior); err != nil {
		t.Fatal(err)
	}
	conns := nodeConns(t, cfg, nodes)
	syncReplicas(t, conns, cfg.Database)
	before := map[string]int{}
	for i, c := range conns {
		for _, table := range []string{"classifications_local", "leads_local", "behavior_events_local", "category_affinity_local"} {
			before[fmt.Sprint(i, table)] = countRows(t, c, cfg.Database+"."+table+" WHERE lead_key != ''")
		}
	}
	if before["0classifications_local"] == 0 || before["2classifications_local"] == 0 {
		t.Fatalf("the leads' rows are not on both shards: %v", before)
	}

	receipts, err := analytics.Erase(ctx, w, reqs, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range receipts {
		if r.Verified != 1 || r.ClassificationsRemoved != 1 || r.LeadsRemoved != 1 || r.BehaviorUnlinked != 1 || r.AffinityRemoved != 1 {
			t.Fatalf("receipt %+v: want one row of each table removed or unlinked, verified", r)
		}
	}
	syncReplicas(t, conns, cfg.Database)
	for i, c := range conns {
		for _, table := range []string{"classifications_local", "leads_local", "behavior_events_local", "category_affinity_local", "decisions_local"} {
			if n := countRows(t, c, cfg.Database+"."+table+" WHERE lead_key != ''"); n != 0 {
				t.Errorf("node %s: %s still holds %d rows with a lead key", nodes[i], table, n)
			}
		}
	}
	if n := countRows(t, conn, cfg.Database+".behavior_events"); n != len(behavior) {
		t.Errorf("behavior_events holds %d rows after the erasure, want %d: their lead key goes, the rows stay", n, len(behavior))
	}
	if n := countRows(t, conn, cfg.Database+".erasure_receipts FINAL WHERE verified = 1"); n != len(reqs) {
		t.Errorf("%d verified receipts on the cluster, want %d", n, len(reqs))
	}
}

func countRows(t *testing.T, conn driver.Conn, from string) int {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+from).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return int(n)
}

// TestClusterSinkKilledBetweenInsertAndCommitLandsEveryRowOnce is the
// crash test of the sink on the cluster: the restarted sink finds what the
// crashed one inserted into both shards through the Distributed tables and
// lands nothing twice. The workload's erasures are carried out ON CLUSTER.
func TestClusterSinkKilledBetweenInsertAndCommitLandsEveryRowOnce(t *testing.T) {
	cfg, conn, _ := clusterRunConfig(t, false)
	sinkKilledBetweenInsertAndCommit(t, cfg, conn)
}

// TestClusterReplicaStoppedUnderLoadLosesNothingAndCatchesUp stops the
// first replica of shard 1 while events flow, and starts it again later.
// Meanwhile the Distributed tables send shard 1's rows to its other
// replica; what marketers read equals a run on one server without the
// fault, and once back, the stopped replica holds what its twin holds.
func TestClusterReplicaStoppedUnderLoadLosesNothingAndCatchesUp(t *testing.T) {
	events := chaosWorkload(t)
	want := referenceRun(t, events)

	cfg, _, nodes := clusterRunConfig(t, true)
	cfg.quarantineDays = 0
	db := cfg.ch.Database
	// The sink and the test talk to shard 2's node: the node stopped is
	// shard 1's first replica, the one inserts and reads go to first.
	cfg.ch.Addr = nodes[2]
	conn := nodeConns(t, cfg.ch, nodes[2:])[0]
	t.Cleanup(func() { startClusterNodes(t) }) // whatever happens, the cluster is whole for the next test
	twin := nodeConns(t, cfg.ch, nodes[1:2])[0]
	runner := startStages(t, cfg, stageNames...)
	var downFor time.Duration
	var down time.Time
	var before, during int // shard 1's behavior rows when its first replica stopped, and when it started
	produceChunks(t, &cfg.kafka, events, 12, time.Second, func(i int) {
		switch i {
		case 2:
			syncReplicas(t, []driver.Conn{twin}, db)
			before = countRows(t, twin, db+".behavior_events_local")
			stopClusterNode(t, 0)
			down = time.Now()
		case 8:
			during = countRows(t, twin, db+".behavior_events_local") - before
			startClusterNodes(t)
			downFor = time.Since(down)
		}
	})
	t.Logf("shard 1's first replica was down for %s, while %d behavior rows went to its twin", downFor.Round(100*time.Millisecond), during)
	if during == 0 {
		t.Fatal("no row went to shard 1 while its first replica was down: the test stopped it outside the load")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	sameView(t, marketerView(t, conn, db), want)
	t.Logf("reconciled on the cluster: %v", reconcile(t, cfg, conn))

	conns := nodeConns(t, cfg.ch, nodes)
	syncReplicas(t, conns, db)
	first, second := localRows(t, conns[0], db), localRows(t, conns[1], db)
	for table := range first {
		if len(first[table]) == 0 || !slices.Equal(first[table], second[table]) {
			t.Errorf("%s: the stopped replica holds %d rows, its twin %d:\n%s", table, len(first[table]), len(second[table]), firstDiff(second[table], first[table]))
		}
	}
}

// clusterNodeDir is the folder of node i (0 to 2) of the local test
// cluster, as scripts/cluster-up.sh lays it out.
func clusterNodeDir(i int) string {
	run := os.Getenv("LEADPIPE_RUN")
	if run == "" {
		run = "/tmp/leadpipe-run"
	}
	return filepath.Join(run, "cluster", "ch"+strconv.Itoa(i+1))
}

// stopClusterNode stops node i of the local test cluster with SIGTERM, as
// a node is stopped for maintenance, and waits until it is gone. (Killed
// with SIGKILL in the middle of an insert, a node may have registered the
// insert's part of behavior_events_local in ZooKeeper and not yet its
// materialized views' parts: DESIGN.md, "On a ClickHouse cluster".)
func stopClusterNode(t *testing.T, i int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(clusterNodeDir(i), "pid"))
	if err != nil {
		t.Fatalf("the pid of cluster node %d: %v", i+1, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the pid file of cluster node %d: %v", i+1, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop cluster node %d (pid %d): %v", i+1, pid, err)
	}
	pipelinetest.Eventually(t, 60*time.Second, "the stopped node did not exit", func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(stat), ") Z ") // gone, or a zombie
	})
}

// startClusterNodes starts the nodes of the local test cluster that do not
// answer, as `make cluster` does.
func startClusterNodes(t *testing.T) {
	t.Helper()
	out, err := exec.Command("../../scripts/cluster-up.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/cluster-up.sh: %v\n%s", err, out)
	}
}

// `leadpipe migrate --print` shows the statements a migration would run,
// on one server or rendered for a cluster, without a server.
func TestMigratePrintShowsTheStatementsForOneServerOrACluster(t *testing.T) {
	var out, errs strings.Builder
	if code := cmdMigrate(context.Background(), []string{"--print", "--clickhouse-cluster", "prod", "--clickhouse-db", "lp"}, nil, &out, &errs); code != 0 {
		t.Fatalf("migrate --print exited %d: %s", code, errs.String())
	}
	for _, want := range []string{"-- 0001_tables\n", "CREATE TABLE IF NOT EXISTS lp.leads_local ON CLUSTER prod (",
		"ENGINE = Distributed(prod, lp, leads_local, cityHash64(lead_key));\n", "-- 0007_pending_erasures\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("migrate --print --clickhouse-cluster prod lacks %q", want)
		}
	}
	out.Reset()
	if code := cmdMigrate(context.Background(), []string{"--print"}, nil, &out, &errs); code != 0 || strings.Contains(out.String(), "ON CLUSTER") ||
		!strings.Contains(out.String(), "CREATE TABLE IF NOT EXISTS leadpipe.leads (") {
		t.Errorf("migrate --print on one server exited %d:\n%.300s", code, out.String())
	}
	errs.Reset()
	if code := cmdMigrate(context.Background(), []string{"--print", "--clickhouse-cluster", "a b"}, nil, &out, &errs); code != 2 ||
		!strings.Contains(errs.String(), "--clickhouse-cluster") {
		t.Errorf("a cluster name that is no identifier: exit %d, %q; want 2 naming the flag", code, errs.String())
	}
}
