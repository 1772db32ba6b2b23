// Package pipelinetest gives tests the Kafka and ClickHouse they run
// against: the real broker and server that scripts/services-up.sh starts,
// named by LEADPIPE_TEST_BROKERS and LEADPIPE_TEST_CLICKHOUSE. Without the
// first, Kafka tests run on an embedded kfake broker; without the second,
// ClickHouse tests skip and say why. Every test gets topics and a database
// of its own, so tests can run in parallel on one broker and one server.
package pipelinetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
)

// Real reports whether the tests run against a real broker.
func Real() bool { return os.Getenv("LEADPIPE_TEST_BROKERS") != "" }

// Kafka returns a runtime Config for one test: brokers from
// LEADPIPE_TEST_BROKERS (else a kfake cluster closed at the end of the
// test), a topic and group prefix of its own, every topic created, and
// small batches.
func Kafka(t testing.TB) pipeline.Config {
	t.Helper()
	if b := os.Getenv("LEADPIPE_TEST_BROKERS"); b != "" {
		return kafkaConfig(t, strings.Split(b, ","))
	}
	return Embedded(t)
}

// Embedded is Kafka on a kfake cluster of its own, whatever
// LEADPIPE_TEST_BROKERS says.
func Embedded(t testing.TB) pipeline.Config {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("embedded kafka: %v", err)
	}
	t.Cleanup(c.Close)
	return kafkaConfig(t, c.ListenAddrs())
}

// KafkaOn is Kafka on the given brokers (a Broker of the test's own).
func KafkaOn(t testing.TB, brokers ...string) pipeline.Config {
	t.Helper()
	return kafkaConfig(t, brokers)
}

func kafkaConfig(t testing.TB, brokers []string) pipeline.Config {
	t.Helper()
	cfg := pipeline.DefaultConfig()
	cfg.Brokers = brokers
	id := name(t)
	cfg.TopicPrefix = id + "."
	cfg.GroupPrefix = id + "-"
	cfg.Partitions = 3
	cfg.BatchRecords = 50
	cfg.BatchAge = 20 * time.Millisecond
	cfg.SessionTimeout = 10 * time.Second
	Topics(t, &cfg)
	return cfg
}

// Topics creates the topics of cfg (its TopicPrefix's, with its partition
// count), and deletes them when the test ends: a broker left with the
// hundreds that `make test` creates answered every metadata request of a
// later `make bench` more slowly. The deletion is best effort: a test may
// have stopped its broker.
func Topics(t testing.TB, cfg *pipeline.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pipeline.CreateTopics(ctx, cfg); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	c := *cfg
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := pipeline.DeleteTopics(ctx, &c); err != nil {
			t.Logf("topics of the test left on the broker: %v", err)
		}
	})
}

// ClickHouse returns a Config on a fresh, migrated database of the server
// at LEADPIPE_TEST_CLICKHOUSE, dropped at the end of the test, and an open
// connection. It skips the test when the variable is not set.
func ClickHouse(t testing.TB) (analytics.Config, driver.Conn) {
	t.Helper()
	addr := os.Getenv("LEADPIPE_TEST_CLICKHOUSE")
	if addr == "" {
		t.Skip("skipped: LEADPIPE_TEST_CLICKHOUSE is not set; `make test` starts ClickHouse and sets it")
	}
	return ClickHouseAt(t, addr)
}

// ClickHouseAt is ClickHouse on the server at addr (a ClickHouseServer of
// the test's own).
func ClickHouseAt(t testing.TB, addr string) (analytics.Config, driver.Conn) {
	t.Helper()
	cfg := analytics.DefaultConfig()
	cfg.Addr = addr
	return cfg, migrated(t, &cfg, time.Minute)
}

// migrated gives cfg fresh databases named after the test, migrated (ON
// CLUSTER when cfg names a cluster) and dropped at the end of the test,
// and returns a connection to them.
func migrated(t testing.TB, cfg *analytics.Config, timeout time.Duration) driver.Conn {
	t.Helper()
	cfg.Database = strings.ReplaceAll(name(t), "-", "_")
	cfg.Marketing = cfg.Database + "_marketing"
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := analytics.Open(ctx, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := analytics.Migrate(ctx, conn, cfg.Database, cfg.Marketing, cfg.Cluster); err != nil {
		t.Fatal(err)
	}
	on := ""
	if cfg.Cluster != "" {
		on = " ON CLUSTER " + cfg.Cluster
	}
	t.Cleanup(func() {
		if os.Getenv("LEADPIPE_TEST_KEEP") == "" {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database+on)
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Marketing+on)
		}
		conn.Close()
	})
	return conn
}

// ClusterName is the cluster scripts/cluster-up.sh starts (remote_servers).
const ClusterName = "leadpipe"

// Cluster returns a Config on a fresh database migrated ON CLUSTER on the
// local test cluster, LEADPIPE_TEST_CLUSTER: the native addresses of its
// nodes, the first the one the Config and the connection use (shard 1, the
// first replica, then its second replica, then shard 2, as
// scripts/cluster-up.sh prints them). The databases are dropped ON CLUSTER
// at the end of the test. It skips the test when the variable is not set.
// Tests of several packages (processes) share the cluster: each holds a
// shared lock on it, and ClusterAlone waits for them all.
func Cluster(t testing.TB) (cfg analytics.Config, conn driver.Conn, nodes []string) {
	t.Helper()
	return cluster(t, syscall.LOCK_SH)
}

// ClusterAlone is Cluster for a test that stops the cluster's nodes: it
// waits until no other test uses the cluster, and no other starts until it
// ends.
func ClusterAlone(t testing.TB) (cfg analytics.Config, conn driver.Conn, nodes []string) {
	t.Helper()
	return cluster(t, syscall.LOCK_EX)
}

func cluster(t testing.TB, lock int) (cfg analytics.Config, conn driver.Conn, nodes []string) {
	t.Helper()
	addrs := os.Getenv("LEADPIPE_TEST_CLUSTER")
	if addrs == "" {
		t.Skip("skipped: LEADPIPE_TEST_CLUSTER is not set; `make test-cluster` (part of `make test`) starts the cluster and sets it")
	}
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "leadpipe-test-cluster.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), lock); err != nil {
		t.Fatalf("lock the test cluster: %v", err)
	}
	t.Cleanup(func() { f.Close() }) // after the databases are dropped: cleanups run last-in first-out
	nodes = strings.Split(addrs, ",")
	cfg = analytics.DefaultConfig()
	cfg.Addr = nodes[0]
	cfg.Cluster = ClusterName
	return cfg, migrated(t, &cfg, 3*time.Minute), nodes
}

// name is a short unique identifier for one test's topics and database.
func name(t testing.TB) string {
	var b [4]byte
	rand.Read(b[:])
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(t.Name()))
	if len(n) > 24 {
		n = n[:24]
	}
	return "t-" + n + "-" + hex.EncodeToString(b[:])
}

// Produce writes records to topic (unprefixed), keyed, with acks=all.
func Produce(t testing.TB, cfg *pipeline.Config, topic string, records ...kafka.Message) {
	t.Helper()
	w := pipeline.NewWriter(cfg)
	defer w.Close()
	for i := range records {
		records[i].Topic = cfg.Topic(topic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, records...); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// ProduceEach writes records each to the topic it names (Topic,
// unprefixed), grouped by topic, keyed, with acks=all.
func ProduceEach(t testing.TB, cfg *pipeline.Config, records ...kafka.Message) {
	t.Helper()
	byTopic := map[string][]kafka.Message{}
	var order []string
	for _, m := range records {
		topic := m.Topic
		if _, ok := byTopic[topic]; !ok {
			order = append(order, topic)
		}
		byTopic[topic] = append(byTopic[topic], kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time, Headers: m.Headers})
	}
	for _, topic := range order {
		Produce(t, cfg, topic, byTopic[topic]...)
	}
}

// ReadAll returns every record of topic (unprefixed) up to its end offsets
// at the time of the call, partition by partition.
func ReadAll(t testing.TB, cfg *pipeline.Config, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := cfg.Topic(topic)
	client := cfg.Client(10 * time.Second)
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range cfg.Partitions {
		req.Topics[full] = append(req.Topics[full], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("offsets of %s: %v", full, err)
	}
	var out []kafka.Message
	for _, po := range resp.Topics[full] {
		if po.Error != nil {
			t.Fatalf("offsets of %s[%d]: %v", full, po.Partition, po.Error)
		}
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Dialer: cfg.Dialer(), Topic: full, Partition: po.Partition, MaxWait: 100 * time.Millisecond})
		r.SetOffset(po.FirstOffset)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s[%d]: %v", full, po.Partition, err)
			}
			out = append(out, m)
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// Eventually calls cond every 50 ms until it returns true, and fails the
// test with msg after timeout.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Strings runs a query of one String column and returns its values, in
// the order the query gives them.
func Strings(t testing.TB, conn driver.Conn, q string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}
