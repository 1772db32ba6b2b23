package analytics

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one versioned file of migrations/, NNNN_name.sql.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string // with {db} replaced
	Checksum   string   // sha256 of the file
}

// Migrations returns the embedded migrations in version order, for
// leadpipe's database db and the marketing database marketing.
func Migrations(db, marketing string) ([]Migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []Migration
	for _, path := range names {
		base := strings.TrimPrefix(path, "migrations/")
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: the name must be NNNN_name.sql", base)
		}
		b, err := migrationFS.ReadFile(path)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{
			Version: uint32(v), Name: name,
			Statements: SplitStatements(strings.NewReplacer("{db}", db, "{marketing}", marketing).Replace(string(b))),
			Checksum:   hex.EncodeToString(sum[:]),
		})
	}
	return ms, nil
}

// SplitStatements splits SQL on semicolons that end a line, dropping "--"
// comment lines. The migrations hold no semicolons inside strings.
func SplitStatements(sql string) []string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for _, s := range strings.Split(b.String(), ";\n") {
		if s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";")); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// MigrationsOn is Migrations with each statement as Migrate applies it:
// rendered by ClusterStatements when cluster is set. Every migration is
// rendered, applied or not: a later one may drop a table an earlier one
// created.
func MigrationsOn(db, marketing, cluster string) ([]Migration, error) {
	ms, err := Migrations(db, marketing)
	if err != nil || cluster == "" {
		return ms, err
	}
	stmts, err := ClusterStatements(ms, db, marketing, cluster)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		ms[i].Statements = stmts[i]
	}
	return ms, nil
}

// Migrate creates the databases db (leadpipe's) and marketing, and applies
// every migration not yet recorded in db's schema_migrations table, in
// order. Applied versions are skipped, so running it again changes
// nothing. With cluster set, everything is created ON CLUSTER, each
// statement rendered by ClusterStatements, and schema_migrations is
// replicated on every node. It returns the versions it applied.
func Migrate(ctx context.Context, conn driver.Conn, db, marketing, cluster string) ([]Migration, error) {
	on, engine := "", "MergeTree()"
	if cluster != "" {
		if !identRE.MatchString(cluster) {
			return nil, fmt.Errorf("cluster %q is not a plain identifier", cluster)
		}
		on = " ON CLUSTER " + cluster
		engine = "ReplicatedMergeTree('/clickhouse/tables/all/" + db + "/schema_migrations', '{shard}_{replica}')"
	}
	for _, name := range []string{db, marketing} {
		if !identRE.MatchString(name) {
			return nil, fmt.Errorf("database %q is not a plain identifier", name)
		}
		if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+name+on); err != nil {
			return nil, fmt.Errorf("create database %s: %w", name, err)
		}
	}
	if err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+db+`.schema_migrations`+on+` (
		version UInt32, name String, checksum String, applied_at DateTime
	) ENGINE = `+engine+` ORDER BY version`); err != nil {
		return nil, fmt.Errorf("create %s.schema_migrations: %w", db, err)
	}
	applied := map[uint32]string{}
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM "+db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		applied[v] = sum
	}
	rows.Close()

	ms, err := MigrationsOn(db, marketing, cluster)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, m := range ms {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return done, fmt.Errorf("migration %04d_%s was changed after it was applied; add a new migration instead", m.Version, m.Name)
			}
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return done, fmt.Errorf("migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if err := Insert(ctx, NewWriter(conn, db), "schema_migrations", []migrationRow{{m.Version, m.Name, m.Checksum, time.Now().UTC()}}); err != nil {
			return done, fmt.Errorf("record migration %04d: %w", m.Version, err)
		}
		done = append(done, m)
	}
	return done, nil
}

// migrationRow is a row of schema_migrations. (An INSERT ... VALUES sent
// through Exec hangs on ClickHouse 18.16; batches work on every version.)
type migrationRow struct {
	Version   uint32    `ch:"version"`
	Name      string    `ch:"name"`
	Checksum  string    `ch:"checksum"`
	AppliedAt time.Time `ch:"applied_at"`
}
