package analytics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/pflag"
)

// EnvPassword holds the ClickHouse password when no password file is
// given. A password is never a flag: flags show in `ps`.
const EnvPassword = "LEADPIPE_CLICKHOUSE_PASSWORD"

// Config says where ClickHouse is and how to log in.
type Config struct {
	// Addr is the native protocol address, host:port (not the HTTP port;
	// with TLS, the server's tcp_port_secure).
	Addr string
	// Database holds leadpipe's tables; it is created if missing.
	Database string
	// Marketing holds the answers marketers read (marketing.go); it is
	// created if missing.
	Marketing string
	// User authenticates, with Password, or else the content of
	// PasswordFile, or else LEADPIPE_CLICKHOUSE_PASSWORD; the default user
	// has no password.
	User, Password, PasswordFile string
	// TLS turns TLS on; CAFile (PEM) replaces the system's roots.
	TLS    bool
	CAFile string
	// Cluster, when set, is the ClickHouse cluster (remote_servers) that
	// holds leadpipe's tables: migrations create them ON CLUSTER, replicated
	// and sharded (cluster.go), and the sink inserts, erases and retains
	// across it. Empty: one server.
	Cluster string
}

// DefaultConfig is a local server on the native port.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:9000", Database: "leadpipe", Marketing: "marketing", User: "default"}
}

// RegisterFlags binds the fields to flags on fs.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "clickhouse", c.Addr, "ClickHouse native protocol address, host:port (the TCP port, not HTTP)")
	fs.StringVar(&c.Database, "clickhouse-db", c.Database, "ClickHouse database of leadpipe's tables")
	fs.StringVar(&c.Cluster, "clickhouse-cluster", c.Cluster, "ClickHouse cluster (remote_servers) of leadpipe's tables: replicated, sharded tables under Distributed ones (default: one server)")
	c.registerAccess(fs)
}

// RegisterMarketerFlags binds the fields that reading the marketing
// database needs to flags on fs: all but --clickhouse-db, which a marketer
// has no use for.
func (c *Config) RegisterMarketerFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "clickhouse", c.Addr, "ClickHouse native protocol address, host:port (the TCP port, not HTTP)")
	c.registerAccess(fs)
}

func (c *Config) registerAccess(fs *pflag.FlagSet) {
	fs.StringVar(&c.Marketing, "marketing-db", c.Marketing, "ClickHouse database of the marketers' answers, the only one the marketer user reads")
	fs.StringVar(&c.User, "clickhouse-user", c.User, "ClickHouse user")
	fs.StringVar(&c.PasswordFile, "clickhouse-password-file", c.PasswordFile, "file holding the ClickHouse user's password (else "+EnvPassword+")")
	fs.BoolVar(&c.TLS, "clickhouse-tls", c.TLS, "connect over TLS, to the server's tcp_port_secure (implied by --clickhouse-tls-ca-file)")
	fs.StringVar(&c.CAFile, "clickhouse-tls-ca-file", c.CAFile, "PEM file of the CAs that sign the server's certificate (default: the system's)")
}

// password is the password to log in with.
func (c *Config) password() (string, error) {
	if c.Password != "" {
		return c.Password, nil
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("--clickhouse-password-file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv(EnvPassword), nil
}

// tlsConfig is the TLS configuration; nil without TLS.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS && c.CAFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--clickhouse-tls-ca-file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--clickhouse-tls-ca-file: %s holds no PEM certificate", c.CAFile)
		}
	}
	return t, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return errors.New("--clickhouse: an address host:port is needed")
	}
	if !identRE.MatchString(c.Database) {
		return fmt.Errorf("--clickhouse-db: %q is not a plain identifier (letters, digits, _)", c.Database)
	}
	if !identRE.MatchString(c.Marketing) {
		return fmt.Errorf("--marketing-db: %q is not a plain identifier (letters, digits, _)", c.Marketing)
	}
	if c.Cluster != "" && !identRE.MatchString(c.Cluster) {
		return fmt.Errorf("--clickhouse-cluster: %q is not a plain identifier (letters, digits, _)", c.Cluster)
	}
	if c.Marketing == c.Database {
		return fmt.Errorf("--marketing-db: %q is --clickhouse-db too; the marketer reads the marketing database and must not read leadpipe's", c.Marketing)
	}
	if _, err := c.password(); err != nil {
		return err
	}
	if _, err := c.tlsConfig(); err != nil {
		return err
	}
	return nil
}

// Open connects over the native protocol and checks that the server
// answers. It does not need the database to exist.
func Open(ctx context.Context, c Config) (driver.Conn, error) {
	password, err := c.password()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     []string{c.Addr},
		Protocol: clickhouse.Native,
		TLS:      tlsCfg,
		// No database to log into: every query names its database, and a
		// server refuses a login into one the user may not use (the
		// marketer may use the marketing database only).
		Auth:         clickhouse.Auth{Database: "", Username: c.User, Password: password},
		DialTimeout:  5 * time.Second,
		ReadTimeout:  60 * time.Second,
		MaxOpenConns: 8,
		MaxIdleConns: 4,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", c.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s does not answer: %w", c.Addr, err)
	}
	return conn, nil
}
