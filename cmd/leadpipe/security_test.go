package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// TestKafkaOverSASLSSL: against a broker whose only client listener is
// SASL_SSL (certificates made in the test, SCRAM and PLAIN users),
// `leadpipe topics` creates the topics and the classify stage classifies a
// lead with each mechanism's flags; a wrong password and a missing CA are
// refused with one clear line, and the password appears nowhere.
func TestKafkaOverSASLSSL(t *testing.T) {
	addr, ca := pipelinetest.SecureBroker(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("password", pipelinetest.SecurePassword+"\n")
	wrong := write("wrong", "not-the-password\n")
	t.Setenv(pipeline.EnvSASLPassword, "")
	args := func(prefix, mechanism, passwordFile string) []string {
		return []string{"--brokers", addr, "--topic-prefix", prefix, "--partitions", "3", "--kafka-tls-ca-file", ca,
			"--kafka-sasl-mechanism", mechanism, "--kafka-sasl-username", pipelinetest.SecureUser, "--kafka-sasl-password-file", passwordFile}
	}
	for _, mech := range []string{"scram-sha-512", "scram-sha-256", "plain"} {
		t.Run(mech, func(t *testing.T) {
			prefix := "sec-" + mech + "."
			code, out, errs := runCmd(t, cmdTopics, args(prefix, mech, good)...)
			if code != 0 || !strings.Contains(out, prefix+"leads.raw") {
				t.Fatalf("leadpipe topics over SASL_SSL (%s): exit %d\n%s%s", mech, code, out, errs)
			}
			cfg := defaultRunConfig()
			cfg.kafka.Brokers, cfg.kafka.TopicPrefix, cfg.kafka.GroupPrefix, cfg.kafka.Partitions = []string{addr}, prefix, prefix, 3
			cfg.kafka.Security = pipeline.Security{TLS: true, CAFile: ca, SASLMechanism: mech, SASLUsername: pipelinetest.SecureUser, SASLPasswordFile: good}
			cfg.kafka.BatchAge, cfg.kafka.SessionTimeout = 20*time.Millisecond, 10*time.Second
			cfg.metricsAddr = ""
			k := &cfg.kafka
			runner := startStages(t, &cfg, "classify")
			pipelinetest.ProduceEach(t, k, kafka.Message{Topic: pipeline.TopicLeadsRaw, Key: []byte("S1"),
				Value: []byte(`{"type":"lead","event_id":"sec-1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"S1","source":{"kind":"web_form"}}`)})
			waitClassify(t, runner)
			if got := pipelinetest.ReadAll(t, k, pipeline.TopicLeadsClassified); len(got) != 1 {
				t.Errorf("leads.classified holds %d records over SASL_SSL, want 1", len(got))
			}
		})
	}
	t.Run("a wrong password is refused with one clear line", func(t *testing.T) {
		code, out, errs := runCmd(t, cmdTopics, args("sec-wrong.", "scram-sha-512", wrong)...)
		t.Logf("leadpipe topics said: %s", errs)
		if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(strings.ToLower(errs), "authentication") {
			t.Errorf("exit %d, stderr %q; want 1 and one line saying the authentication failed", code, errs)
		}
		if strings.Contains(out+errs, "not-the-password") || strings.Contains(out+errs, pipelinetest.SecurePassword) {
			t.Error("a password is printed")
		}
	})
	t.Run("a CA that did not sign the broker's certificate is refused", func(t *testing.T) {
		other := pipelinetest.MakeCA(t, t.TempDir())
		a := args("sec-ca.", "scram-sha-512", good)
		a[7] = other
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out, errb strings.Builder
		code := cmdTopics(ctx, a, strings.NewReader(""), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "certificate") {
			t.Errorf("exit %d, stderr %q; want 1 and a certificate error", code, errb.String())
		}
	})
	t.Run("flags that cannot work exit 2 before connecting", func(t *testing.T) {
		for _, a := range [][]string{
			{"--brokers", addr, "--kafka-sasl-mechanism", "scram-sha-1", "--kafka-sasl-username", "alice", "--kafka-sasl-password-file", good},
			{"--brokers", addr, "--kafka-sasl-mechanism", "plain", "--kafka-sasl-password-file", good},
			{"--brokers", addr, "--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "alice"},
			{"--brokers", addr, "--kafka-tls-ca-file", filepath.Join(dir, "missing.pem")},
			{"--brokers", addr, "--kafka-tls-cert-file", ca},
		} {
			if code, _, errs := runCmd(t, cmdTopics, a...); code != 2 || !strings.Contains(errs, "--kafka-") {
				t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", a, code, errs)
			}
		}
	})
}
