package main

import (
	"context"
	"fmt"
	"io"

	"github.com/leadpipe/leadpipe/analytics"
)

const migrateSynopsis = `Usage: leadpipe migrate [flags]

Creates the database (--clickhouse-db) and applies every migration of
analytics/migrations not yet recorded in its schema_migrations table.
Running it again changes nothing.`

func cmdMigrate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := analytics.DefaultConfig()
	fs := newFlagSet("migrate", migrateSynopsis, stderr)
	cfg.RegisterFlags(fs)
	if code, ok := parse(fs, args, stderr); !ok {
		return code
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "leadpipe migrate: %v\n", err)
		return 2
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe migrate: %v\n", err)
		return 1
	}
	defer conn.Close()
	applied, err := analytics.Migrate(ctx, conn, cfg.Database, cfg.Marketing, cfg.Cluster)
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %04d_%s (%d statements)\n", m.Version, m.Name, len(m.Statements))
	}
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe migrate: %v\n", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "database %s is up to date\n", cfg.Database)
	}
	return 0
}
