package pipelinetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// SecureUser and SecurePassword are the SASL user of SecureBroker, known
// to PLAIN and to SCRAM-SHA-256 and -512.
const (
	SecureUser     = "alice"
	SecurePassword = "alice-secret"
)

// SecureBroker starts an Apache Kafka broker of its own whose only client
// listener is SASL_SSL, with SCRAM and PLAIN users, and a TLS certificate
// for 127.0.0.1 signed by a CA made here. It returns the listener's address
// and the CA's PEM file. It runs the jars that scripts/kafka-up.sh fetched
// (kafkaJars) and skips without a real broker (LEADPIPE_TEST_BROKERS).
// The broker stops when the test ends.
func SecureBroker(t testing.TB) (addr, caFile string) {
	t.Helper()
	jars := kafkaJars(t)
	dir := t.TempDir()
	caFile, keystore := makeCerts(t, dir)
	port, internal, controller := freePort(t), freePort(t), freePort(t)
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[3]d
listeners=INTERNAL://127.0.0.1:%[2]d,SASL_SSL://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[3]d
advertised.listeners=INTERNAL://127.0.0.1:%[2]d,SASL_SSL://127.0.0.1:%[1]d
listener.security.protocol.map=INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
log.dirs=%[4]s
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_%[6]s="%[7]s";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=%[5]s
num.partitions=3
group.initial.rebalance.delay.ms=0
group.coordinator.append.linger.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
`, port, internal, controller, filepath.Join(dir, "data"), keystore, SecureUser, SecurePassword)
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	base := javaArgs(t, jars)
	java := func(args ...string) *exec.Cmd {
		return exec.Command(base[0], append(base[1:], args...)...)
	}
	scram := "[name=" + SecureUser + ",password=" + SecurePassword + "]"
	if out, err := java("kafka.tools.StorageTool", "format", "-t", "TWtVM09FVkJOVGN3TlRKRU5EMw", "-c", propsFile,
		"--add-scram", "SCRAM-SHA-256="+scram, "--add-scram", "SCRAM-SHA-512="+scram).CombinedOutput(); err != nil {
		t.Fatalf("format the secure broker's storage: %v\n%s", err, out)
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	s := &Server{t: t, name: "the secure broker", addr: addr, argv: append(base, "kafka.Kafka", propsFile), ready: kafkaStarted}
	t.Cleanup(s.keepLogsIfFailed)
	s.Start()
	t.Cleanup(s.Kill)
	return addr, caFile
}

// MakeCA writes the certificate of a new CA, unrelated to any broker's,
// to a PEM file in dir and returns its path.
func MakeCA(t testing.TB, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, ca, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// makeCerts writes a CA (ca.pem) and a server certificate for 127.0.0.1
// with its key, as Kafka's PEM key store wants them (server.pem: the
// PKCS#8 key, then the chain).
func makeCerts(t testing.TB, dir string) (caFile, keystore string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leadpipe test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	store := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), caPEM...)...)
	caFile, keystore = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem")
	for name, b := range map[string][]byte{
		caFile: caPEM, keystore: store,
		filepath.Join(dir, "server.crt"): pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		filepath.Join(dir, "server.key"): pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, keystore
}

// SecureClickHouse starts a ClickHouse server of its own that accepts the
// native protocol over TLS only (tcp_port_secure, a certificate for
// 127.0.0.1 signed by a CA made here) and has a user SecureUser with
// password SecurePassword. It returns the secure address and the CA's PEM
// file, and skips where the tests run without services. The server stops
// when the test ends.
func SecureClickHouse(t testing.TB) (addr, caFile string) {
	t.Helper()
	if os.Getenv("LEADPIPE_TEST_CLICKHOUSE") == "" {
		t.Skip("skipped: LEADPIPE_TEST_CLICKHOUSE is not set; `make test` installs and starts ClickHouse and sets it")
	}
	dir := t.TempDir()
	caFile, _ = makeCerts(t, dir)
	secure := freePort(t)
	listen := fmt.Sprintf(`<tcp_port_secure>%[2]d</tcp_port_secure>
    <tcp_port>%[3]d</tcp_port>
    <http_port>%[4]d</http_port>
    <openSSL><server>
        <certificateFile>%[1]s/server.crt</certificateFile>
        <privateKeyFile>%[1]s/server.key</privateKeyFile>
        <verificationMode>none</verificationMode>
        <loadDefaultCAFile>false</loadDefaultCAFile>
        <cacheSessions>true</cacheSessions>
        <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
        <preferServerCiphers>true</preferServerCiphers>
    </server></openSSL>`, dir, secure, freePort(t), freePort(t))
	user := fmt.Sprintf(`<%[1]s><password>%[2]s</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></%[1]s>`,
		SecureUser, SecurePassword)
	addr = "127.0.0.1:" + strconv.Itoa(secure)
	s := &Server{t: t, name: "the secure ClickHouse", addr: addr, argv: clickHouseArgs(t, dir, listen, user), ready: listening(addr),
		logFiles: []string{filepath.Join(dir, "log", "server.err.log")}}
	t.Cleanup(s.keepLogsIfFailed)
	s.Start()
	t.Cleanup(s.Kill)
	return addr, caFile
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// repoRoot is the directory holding go.mod, above the test's.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// LockedBuffer is a bytes.Buffer that a process or a logger writes while
// the test reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
