package pseudonym

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	k := Development()
	plain := sha256.Sum256([]byte("mario@example.com"))
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"an email is keyed after trimming and lower-casing", k.EmailKey(" Mario@Example.com ") == k.EmailKey("mario@example.com")},
		{"the same string of two kinds gives two keys", k.LeadKey("x") != k.Key("visitor", "x")},
		{"a visitor's key changes with the day", k.VisitorKey("v1", day) != k.VisitorKey("v1", day.AddDate(0, 0, 1))},
		{"a visitor's key is the same all day long, in any time zone", k.VisitorKey("v1", day) == k.VisitorKey("v1", day.Add(23*time.Hour).In(time.FixedZone("CET", 3600)))},
		{"a key is not the plain SHA-256 of its input", k.EmailKey("mario@example.com") != hex.EncodeToString(plain[:])},
		{"a key is 64 hex characters", len(k.LeadKey("lead-1")) == 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Fail()
			}
		})
	}
	other, err := New([]byte("another-secret-of-32-bytes-long!"), "k2")
	if err != nil {
		t.Fatal(err)
	}
	if other.LeadKey("lead-1") == k.LeadKey("lead-1") || other.Version() != "k2" {
		t.Error("a rotated key gives the same keys, or lost its version")
	}
}

func TestLoadSaysWhereItLooked(t *testing.T) {
	t.Setenv("LEADPIPE_TEST_HMAC", "")
	if _, err := Load("", "LEADPIPE_TEST_HMAC", "k1"); err == nil || !strings.Contains(err.Error(), "LEADPIPE_TEST_HMAC") {
		t.Errorf("no key: err = %v, want one naming the variable", err)
	}
	f := filepath.Join(t.TempDir(), "key")
	os.WriteFile(f, []byte("short\n"), 0o600)
	if _, err := Load(f, "LEADPIPE_TEST_HMAC", "k1"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short key: err = %v", err)
	}
	os.WriteFile(f, []byte("a-long-enough-secret-for-tests\n"), 0o600)
	if k, err := Load(f, "LEADPIPE_TEST_HMAC", "k1"); err != nil || k.Version() != "k1" {
		t.Errorf("key file: %v", err)
	}
}
