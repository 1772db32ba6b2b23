package analytics

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/pflag"
)

// Config says where ClickHouse is.
type Config struct {
	// Addr is the native protocol address, host:port (not the HTTP port).
	Addr string
	// Database holds leadpipe's tables; it is created if missing.
	Database string
	// User and Password authenticate; the default user has no password.
	User, Password string
}

// DefaultConfig is a local server on the native port.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:9000", Database: "leadpipe", User: "default"}
}

// RegisterFlags binds the fields to flags on fs.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "clickhouse", c.Addr, "ClickHouse native protocol address, host:port (the TCP port, not HTTP)")
	fs.StringVar(&c.Database, "clickhouse-db", c.Database, "ClickHouse database of leadpipe's tables")
	fs.StringVar(&c.User, "clickhouse-user", c.User, "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", c.Password, "ClickHouse password")
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
	return nil
}

// Open connects over the native protocol and checks that the server
// answers. It does not need the database to exist.
func Open(ctx context.Context, c Config) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{c.Addr},
		Protocol:     clickhouse.Native,
		Auth:         clickhouse.Auth{Database: "default", Username: c.User, Password: c.Password},
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
