package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// TestARotatedKeyKeepsTheSuppressionListOfThePreviousOne runs classify as
// `leadpipe run` under the HMAC key k1, where a lead objects; then again
// under k2 with k1 given as --hmac-previous-key-file, where a new lead id
// with the same address arrives: it is suppressed by the objection made
// under k1, and keyed under k2.
func TestARotatedKeyKeepsTheSuppressionListOfThePreviousOne(t *testing.T) {
	if !pipelinetest.Real() {
		t.Skip("runs leadpipe as processes against the real broker (LEADPIPE_TEST_BROKERS); make test starts it")
	}
	k := pipelinetest.Kafka(t)
	dir := t.TempDir()
	keyFile := func(name, secret string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k1 := keyFile("k1", "the-first-secret-key-of-32-bytes")
	k2 := keyFile("k2", "the-second-secret-key-32-bytes!!")
	classifyWith := func(keyArgs ...string) *exec.Cmd {
		args := append([]string{"run", "--metrics-addr", "", "--brokers", strings.Join(k.Brokers, ","),
			"--topic-prefix", k.TopicPrefix, "--group-prefix", k.GroupPrefix, "--batch-age", "20ms", "--session-timeout", "6s"},
			keyArgs...)
		cmd := exec.Command(binary(t), append(args, "classify")...)
		var logs pipelinetest.LockedBuffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("classify's log:\n%s", tail(logs.String(), 20))
			}
		})
		return cmd
	}
	lead := func(id, leadID string) kafka.Message {
		return kafka.Message{Topic: pipeline.TopicLeadsRaw, Key: []byte(leadID), Value: []byte(`{"type":"lead","event_id":"` + id +
			`","occurred_at":"2026-11-10T12:00:00Z","lead_id":"` + leadID + `","contact":{"email":"anna@example.com"},"source":{"kind":"web_form"}}`)}
	}

	before := classifyWith("--hmac-key-file", k1, "--hmac-key-version", "k1")
	pipelinetest.ProduceEach(t, &k, lead("e1", "R-1"), kafka.Message{Topic: pipeline.TopicConsentsRaw, Key: []byte("R-1"),
		Value: []byte(`{"type":"consent","event_id":"c1","occurred_at":"2026-11-11T08:00:00Z","lead_id":"R-1","purpose":"all","action":"object"}`)})
	waitClassifyGroup(t, &k)
	before.Process.Signal(os.Interrupt)
	before.Wait()

	classifyWith("--hmac-key-file", k2, "--hmac-key-version", "k2", "--hmac-previous-key-file", k1, "--hmac-previous-key-version", "k1")
	pipelinetest.ProduceEach(t, &k, lead("e2", "R-2"))
	waitClassifyGroup(t, &k)

	k2Keyer, err := pseudonym.New([]byte("the-second-secret-key-32-bytes!!"), "k2")
	if err != nil {
		t.Fatal(err)
	}
	want := k2Keyer.LeadKey("R-2")
	var got []string
	for _, topic := range []string{pipeline.TopicLeadsClassified, pipeline.TopicLeadsQuarantine} {
		for _, m := range pipelinetest.ReadAll(t, &k, topic) {
			var r struct {
				LeadKey    string `json:"lead_key"`
				KeyVersion string `json:"key_version"`
				Decision   string `json:"decision"`
				Seq        uint64 `json:"seq"`
			}
			if json.Unmarshal(m.Value, &r) == nil && r.LeadKey == want {
				got = append(got, r.KeyVersion+" "+r.Decision+" seq "+strconv.FormatUint(r.Seq, 10))
			}
		}
	}
	if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "k2 suppressed") {
		t.Errorf("the new lead's records under its k2 key: %v; want it suppressed by the objection made under k1", got)
	}
}
