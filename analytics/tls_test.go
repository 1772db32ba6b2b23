package analytics_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// TestClickHouseOverTLSWithAPasswordFromAFile: against a server that takes
// the native protocol over TLS only, leadpipe connects with the CA file and
// the password from a file (or LEADPIPE_CLICKHOUSE_PASSWORD) and migrates;
// a wrong password, a CA that did not sign the server's certificate and
// plain TCP are refused, and no error repeats a password.
func TestClickHouseOverTLSWithAPasswordFromAFile(t *testing.T) {
	addr, ca := pipelinetest.SecureClickHouse(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, wrong := write("good", pipelinetest.SecurePassword+"\n"), write("wrong", "not-the-password\n")
	t.Setenv(analytics.EnvPassword, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := analytics.Config{Addr: addr, Database: "secure", Marketing: "secure_marketing", User: pipelinetest.SecureUser, PasswordFile: good, TLS: true, CAFile: ca}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("over TLS with the password file: %v", err)
	}
	if _, err := analytics.Migrate(ctx, conn, cfg.Database, cfg.Marketing, cfg.Cluster); err != nil {
		t.Errorf("migrate over TLS: %v", err)
	}
	conn.Close()

	t.Setenv(analytics.EnvPassword, pipelinetest.SecurePassword)
	env := cfg
	env.PasswordFile = ""
	if conn, err := analytics.Open(ctx, env); err != nil {
		t.Errorf("over TLS with %s: %v", analytics.EnvPassword, err)
	} else {
		conn.Close()
	}
	t.Setenv(analytics.EnvPassword, "")

	bad := cfg
	bad.PasswordFile = wrong
	_, err = analytics.Open(ctx, bad)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "password") || strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("a wrong password: %v; want a refusal that says so without the password", err)
	}
	other := cfg
	other.CAFile = pipelinetest.MakeCA(t, t.TempDir())
	if _, err := analytics.Open(ctx, other); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a CA that did not sign the server's certificate: %v; want a certificate error", err)
	}
	plain := cfg
	plain.TLS, plain.CAFile = false, ""
	if _, err := analytics.Open(ctx, plain); err == nil {
		t.Error("plain TCP to the secure port connected")
	}
}
