package main

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// TestRunEndsWithOneClearLineWhenKafkaIsNotReady runs `leadpipe run` as a
// user would against a broker that does not answer, topics that do not
// exist, and inputs partitioned differently: each ends with exit status 1
// and one line that names the cause, well within a session timeout.
func TestRunEndsWithOneClearLineWhenKafkaIsNotReady(t *testing.T) {
	k := pipelinetest.Kafka(t) // the broker, and topics of one prefix
	// Topics of another prefix with one partition more, but behavior.raw
	// with the usual count: enrich's inputs are not partitioned alike.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	odd := k
	odd.TopicPrefix = k.TopicPrefix + "odd."
	odd.Partitions = k.Partitions + 1
	pipelinetest.Topics(t, &odd)
	conn, err := kafka.DialContext(ctx, "tcp", k.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recreate(t, conn, odd.Topic(pipeline.TopicBehaviorRaw), k.Partitions)
	brokers := strings.Join(k.Brokers, ",")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"an unreachable broker", []string{"--brokers", "127.0.0.1:1", "classify"},
			[]string{"cannot reach Kafka at 127.0.0.1:1", "connection refused", "--brokers"}},
		{"missing topics", []string{"--brokers", brokers, "--topic-prefix", k.TopicPrefix + "none.", "classify"},
			[]string{"topics missing", k.TopicPrefix + "none.leads.raw", "leadpipe topics"}},
		{"inputs with different partition counts", []string{"--brokers", brokers, "--topic-prefix", odd.TopicPrefix, "enrich"},
			[]string{"stage enrich needs its input topics partitioned alike", "leads.classified has"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--dev-key", "--metrics-addr", ""}, tc.args...)
			start := time.Now()
			cctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, binary(t), args...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1; output:\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 {
				t.Errorf("%d lines, want one:\n%s", len(lines), out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output %q does not say %q", out, w)
				}
			}
			if d := time.Since(start); d > 25*time.Second {
				t.Errorf("took %s to say so", d)
			}
		})
	}
}

func TestRunRefusesTheDevelopmentKeyBesideARealOne(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
	}{
		{"with --hmac-key-file", []string{"--dev-key", "--hmac-key-file", "/run/secrets/hmac"}, ""},
		{"with LEADPIPE_HMAC_KEY_FILE", []string{"--dev-key"}, "LEADPIPE_HMAC_KEY_FILE=/run/secrets/hmac"},
		{"with LEADPIPE_DEV_KEY beside LEADPIPE_HMAC_KEY", nil, "LEADPIPE_DEV_KEY=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary(t), append([]string{"run", "--metrics-addr", "", "classify"}, tc.args...)...)
			cmd.Env = append(cmd.Environ(), "LEADPIPE_HMAC_KEY=a-real-secret-of-32-bytes-000000")
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			if tc.name != "with LEADPIPE_DEV_KEY beside LEADPIPE_HMAC_KEY" {
				cmd.Env = append(cmd.Env, "LEADPIPE_HMAC_KEY=")
			}
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "exclude each other") {
				t.Errorf("exit %v, output %q; want status 2 and the keys named", err, out)
			}
		})
	}
}

// recreate deletes topic and creates it again with n partitions.
func recreate(t *testing.T, conn *kafka.Conn, topic string, n int) {
	t.Helper()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := cc.DeleteTopics(topic); err != nil {
		t.Fatal(err)
	}
	pipelinetest.Eventually(t, 30*time.Second, "could not recreate "+topic, func() bool {
		return cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: n, ReplicationFactor: 1}) == nil
	})
}

// TestRunStopsOnAnErrorRetryingCannotMend runs the sink against a
// database that does not exist: not a ClickHouse that is away, which is
// waited for, but an error that retrying cannot mend; it ends with exit
// status 1 and says what to do.
func TestRunStopsOnAnErrorRetryingCannotMend(t *testing.T) {
	ch, _ := pipelinetest.ClickHouse(t) // skips without ClickHouse
	k := pipelinetest.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "run", "--metrics-addr", "", "--brokers", strings.Join(k.Brokers, ","),
		"--topic-prefix", k.TopicPrefix, "--clickhouse", ch.Addr, "--clickhouse-db", ch.Database+"_never_migrated", "sink")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "leadpipe migrate") || !strings.Contains(string(out), "_never_migrated") {
		t.Errorf("output %q does not name the database and what to do", out)
	}
}
