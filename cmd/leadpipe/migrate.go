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
Running it again changes nothing. With --clickhouse-cluster, every table
is created ON CLUSTER: replicated, under a Distributed table of its name.
--print prints every migration's statements, as they would be applied,
and connects to nothing.`

func cmdMigrate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := analytics.DefaultConfig()
	fs := newFlagSet("migrate", migrateSynopsis, stdout, stderr)
	cfg.RegisterFlags(fs)
	printSQL := fs.Bool("print", false, "print the statements of every migration (rendered for --clickhouse-cluster when set) instead of applying them")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "leadpipe migrate: %v\n", err)
		return 2
	}
	if *printSQL {
		if err := printMigrations(stdout, cfg); err != nil {
			fmt.Fprintf(stderr, "leadpipe migrate: %v\n", err)
			return 1
		}
		return 0
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

// printMigrations writes every migration's statements for cfg, each ended
// by a semicolon and a newline, under a comment naming its migration.
func printMigrations(w io.Writer, cfg analytics.Config) error {
	ms, err := analytics.MigrationsOn(cfg.Database, cfg.Marketing, cfg.Cluster)
	if err != nil {
		return err
	}
	for _, m := range ms {
		fmt.Fprintf(w, "-- %04d_%s\n", m.Version, m.Name)
		for _, s := range m.Statements {
			fmt.Fprintf(w, "%s;\n\n", s)
		}
	}
	return nil
}
