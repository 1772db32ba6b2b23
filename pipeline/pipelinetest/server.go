package pipelinetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a Kafka broker or a ClickHouse server that a test started as a
// process of its own, to stop, kill and start again on the same data
// directory and ports, as a fault test does. It stops when the test ends;
// if the test failed, its output of every run (and its log files) is kept
// in a file outside the test's directories, named in the test's log with
// its last lines.
type Server struct {
	t        testing.TB
	name     string
	addr     string
	argv     []string
	ready    func(logs string) bool
	logFiles []string // files the server logs to besides its output

	mu     sync.Mutex
	cmd    *exec.Cmd
	logs   *LockedBuffer
	runs   []*LockedBuffer // the output of every start, the current one last
	exited chan struct{}
}

// Addr is the address clients connect to.
func (s *Server) Addr() string { return s.addr }

// Start starts the server and waits until it serves, for up to 90 s.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("%s is already running", s.name)
	}
	logs := new(LockedBuffer)
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.logs, s.exited = cmd, logs, exited
	s.runs = append(s.runs, logs)
	deadline := time.Now().Add(90 * time.Second)
	for !s.ready(logs.String()) {
		select {
		case <-exited:
			s.t.Fatalf("%s exited while starting:\n%s", s.name, logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not start in 90 s:\n%s", s.name, logs.String())
		}
	}
}

// Stop shuts the server down with SIGTERM and waits for it (SIGKILL after
// 60 s).
func (s *Server) Stop() { s.end(syscall.SIGTERM, 60*time.Second) }

// Kill ends the server with SIGKILL.
func (s *Server) Kill() { s.end(syscall.SIGKILL, 0) }

// keepLogsIfFailed is a cleanup: when the test failed, the server's
// output of every run and its log files go to a file in the system's
// temporary directory (the test's own are removed), and the test's log
// names it with the last lines.
func (s *Server) keepLogsIfFailed() {
	if !s.t.Failed() {
		return
	}
	s.mu.Lock()
	var all strings.Builder
	for i, run := range s.runs {
		fmt.Fprintf(&all, "==== %s, run %d: its output ====\n%s\n", s.name, i+1, run.String())
	}
	s.mu.Unlock()
	for _, f := range s.logFiles {
		b, err := os.ReadFile(f)
		fmt.Fprintf(&all, "==== %s ====\n%s%v\n", f, b, err)
	}
	f, err := os.CreateTemp("", "leadpipe-"+safeName(s.t.Name())+"-*.log")
	if err == nil {
		_, err = f.WriteString(all.String())
		f.Close()
	}
	lines := strings.Split(strings.TrimRight(all.String(), "\n"), "\n")
	tail := strings.Join(lines[max(0, len(lines)-40):], "\n")
	if err != nil {
		s.t.Logf("%s's log could not be kept (%v); its last lines:\n%s", s.name, err, tail)
		return
	}
	s.t.Logf("the test failed: %s's log (%d runs) is kept in %s; its last lines:\n%s", s.name, len(s.runs), f.Name(), tail)
}

// safeName is a test's name fit for a file name.
func safeName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, name)
}

func (s *Server) end(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(grace):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Broker starts an Apache Kafka broker of its own (KRaft, one node, a
// PLAINTEXT listener on a free port of 127.0.0.1, a data directory of its
// own) from the jars that scripts/kafka-up.sh fetched (kafkaJars); it
// skips without a real broker (LEADPIPE_TEST_BROKERS).
func Broker(t testing.TB) *Server {
	t.Helper()
	jars := kafkaJars(t)
	dir := t.TempDir()
	port, controller := freePort(t), freePort(t)
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=%[3]s
num.partitions=4
group.initial.rebalance.delay.ms=0
group.coordinator.append.linger.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
`, port, controller, filepath.Join(dir, "data"))
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	java := javaArgs(t, jars)
	format := exec.Command(java[0], append(java[1:], "kafka.tools.StorageTool", "format", "-t", "TWtVM09FVkJOVGN3TlRKRU5EMw", "-c", propsFile)...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format the broker's storage: %v\n%s", err, out)
	}
	s := &Server{t: t, name: "the test's Kafka broker", addr: "127.0.0.1:" + strconv.Itoa(port),
		argv: append(java, "kafka.Kafka", propsFile), ready: kafkaStarted}
	t.Cleanup(s.keepLogsIfFailed)
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// ClickHouseServer starts a ClickHouse server of its own (the native
// protocol on a free port of 127.0.0.1, the default user without a
// password); it skips where the tests run without services.
func ClickHouseServer(t testing.TB) *Server {
	t.Helper()
	if os.Getenv("LEADPIPE_TEST_CLICKHOUSE") == "" {
		t.Skip("skipped: LEADPIPE_TEST_CLICKHOUSE is not set; `make test` installs and starts ClickHouse and sets it")
	}
	dir := t.TempDir()
	native := freePort(t)
	listen := fmt.Sprintf("<tcp_port>%d</tcp_port>\n    <http_port>%d</http_port>", native, freePort(t))
	user := `<default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>`
	addr := "127.0.0.1:" + strconv.Itoa(native)
	s := &Server{t: t, name: "the test's ClickHouse", addr: addr, argv: clickHouseArgs(t, dir, listen, user), ready: listening(addr),
		logFiles: []string{filepath.Join(dir, "log", "server.err.log")}}
	t.Cleanup(s.keepLogsIfFailed)
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// kafkaStarted is a broker's readiness: its log says it started.
func kafkaStarted(logs string) bool { return strings.Contains(logs, "Kafka Server started") }

// listening is a server's readiness: addr accepts a connection.
func listening(addr string) func(string) bool {
	return func(string) bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
}

// clickHouseArgs writes a ClickHouse server's config.xml and users.xml
// into dir, with listen (its ports, and TLS if any) and the one user, and
// returns the command line that runs it.
func clickHouseArgs(t testing.TB, dir, listen, user string) []string {
	t.Helper()
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger><level>information</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    %[2]s
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>67108864</mark_cache_size>
</yandex>
`, dir, listen)
	users := `<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users>` + user + `</users>
    <quotas><default></default></quotas>
</yandex>
`
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"clickhouse-server", "--config-file=" + filepath.Join(dir, "config.xml")}
}

// kafkaJars is the folder of the Kafka jars: LEADPIPE_TEST_KAFKA_JARS,
// else where scripts/kafka-up.sh keeps them (LEADPIPE_CACHE, default
// ~/.cache/leadpipe, then kafka-KAFKA_VERSION/jars, as the Makefile says).
// The test skips only without a real broker (LEADPIPE_TEST_BROKERS), like
// every test of the real Kafka; with one and no jars, it fails.
func kafkaJars(t testing.TB) string {
	t.Helper()
	if !Real() {
		t.Skip("skipped: LEADPIPE_TEST_BROKERS is not set; `make test` starts Kafka, fetching its jars, and sets it")
	}
	jars := os.Getenv("LEADPIPE_TEST_KAFKA_JARS")
	if jars == "" {
		cache := os.Getenv("LEADPIPE_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "leadpipe")
		}
		version := os.Getenv("KAFKA_VERSION")
		if version == "" {
			version = "4.1.1"
		}
		jars = filepath.Join(cache, "kafka-"+version, "jars")
	}
	if _, err := os.Stat(jars); err != nil {
		t.Fatalf("the Kafka jars to start a broker of the test's own: %v (scripts/kafka-up.sh fetches them; LEADPIPE_TEST_KAFKA_JARS names another folder)", err)
	}
	return jars
}

// javaArgs starts a java command line on the Kafka jars, with the
// repository's quiet log configuration.
func javaArgs(t testing.TB, jars string) []string {
	log4j, _ := filepath.Abs(filepath.Join(repoRoot(t), "deploy", "kafka", "log4j2.xml"))
	return []string{"java", "-Xmx384m", "-Dlog4j2.configurationFile=" + log4j, "-cp", filepath.Join(jars, "*")}
}
