package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// hostileCase is one line of testdata/hostile/corpus.jsonl (generate.py).
type hostileCase struct {
	Name, Topic, Key, Expect string
	Value                    []byte
}

func readHostile(t *testing.T) []hostileCase {
	t.Helper()
	f, err := os.Open("testdata/hostile/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []hostileCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e struct{ Name, Topic, Key, Value, Value_b64, Expect string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		v := []byte(e.Value)
		if e.Value_b64 != "" {
			if v, err = base64.StdEncoding.DecodeString(e.Value_b64); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, hostileCase{Name: e.Name, Topic: e.Topic, Key: e.Key, Expect: e.Expect, Value: v})
	}
	if len(out) < 80 {
		t.Fatalf("the corpus has %d cases, want at least 80", len(out))
	}
	return out
}

// canaryRE matches the markers generate.py puts in every personal field.
var canaryRE = regexp.MustCompile(`Zq\d{3}k`)

// TestHostileInputThroughTheRunningPipeline produces the hostile corpus
// (injection strings in every personal field, broken encodings, oversized
// and deeply nested events, duplicate keys, wrong types, times far off,
// look-alike and sub-addressed emails, a reused event id, behavior of
// unknown and erased leads, a grant and a withdrawal at the same instant,
// a 100× burst) onto the raw topics of a running pipeline, on the real
// broker and ClickHouse. Every case ends where the policy says, with a
// reason that names the field; every stage keeps its accounting; and no
// personal value of it (its canary, a raw lead id) is found in a log line
// at debug level, the metrics, a dead-letter reason or any ClickHouse row.
func TestHostileInputThroughTheRunningPipeline(t *testing.T) {
	cases := readHostile(t)
	cfg, conn := testRunConfig(t)
	k := &cfg.kafka
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.metricsAddr = l.Addr().String()
	l.Close()
	logs := new(pipelinetest.LockedBuffer)
	runner := startStagesLogging(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), stageNames...)

	var msgs []kafka.Message
	for _, c := range cases {
		n := 1
		if strings.HasPrefix(c.Expect, "burst100:") {
			n = 100
		}
		for i := range n {
			key, value := c.Key, c.Value
			if n > 1 && strings.Contains(c.Expect, ":lead:") { // a hundred leads, not one lead a hundred times
				key = fmt.Sprintf("%s-%03d", c.Key, i)
				value = bytes.ReplaceAll(bytes.ReplaceAll(value, []byte(`"`+c.Key+`"`), []byte(`"`+key+`"`)), []byte(`"h-b"`), []byte(fmt.Sprintf(`"h-b-%03d"`, i)))
			}
			msgs = append(msgs, kafka.Message{Topic: c.Topic, Key: []byte(key), Value: value})
		}
	}
	pipelinetest.ProduceEach(t, k, msgs...)
	wctx, wcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer wcancel()
	if err := waitDrained(wctx, runner, nil); err != nil {
		t.Fatal(err)
	}

	// Where each case ended.
	audits := map[string][]classify.Audit{}
	final := map[string]string{} // lead key → the decision of its last audit record
	for _, m := range pipelinetest.ReadAll(t, k, pipeline.TopicAudit) {
		var a classify.Audit
		if json.Unmarshal(m.Value, &a) == nil {
			audits[a.EventID] = append(audits[a.EventID], a)
			if a.Decision != classify.DecisionDuplicate {
				final[a.LeadKey] = a.Decision
			}
		}
	}
	keys := pseudonym.Development()
	dead := map[string]kafka.Message{} // by the SHA-256 of the value
	for _, m := range pipelinetest.ReadAll(t, k, pipeline.TopicDLQ) {
		dead[pipeline.Header(&m, pipeline.HeaderSHA256)] = m
	}
	db := cfg.ch.Database
	countOf := func(q string, args ...any) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	eventID := func(v []byte) string {
		var e struct {
			ID string `json:"event_id"`
		}
		json.Unmarshal(v, &e) // much of the corpus is not JSON on purpose: no id
		return e.ID
	}
	stageOf := map[string]string{"leads.raw": "classify", "consents.raw": "classify", "behavior.raw": "enrich"}
	for _, c := range cases {
		id := eventID(c.Value)
		expect := strings.TrimPrefix(c.Expect, "burst100:")
		switch kind, arg, _ := strings.Cut(expect, ":"); kind {
		case "lead", "consent":
			if strings.HasPrefix(c.Expect, "burst100:") {
				accepted := 0
				for i := range 100 {
					for _, a := range audits[fmt.Sprintf("h-b-%03d", i)] {
						if a.Decision == arg {
							accepted++
						}
					}
				}
				if accepted != 100 {
					t.Errorf("%s: %d of 100 leads %s", c.Name, accepted, arg)
				}
				continue
			}
			if kind == "lead" { // the lead's decision once every event is in
				if got := final[keys.LeadKey(c.Key)]; got != arg {
					t.Errorf("%s: the lead ends %q, want %s", c.Name, got, arg)
				}
				continue
			}
			var got []string // the consent's own decision
			for _, a := range audits[id] {
				if a.EventType != classify.EventTypeReclassification {
					got = append(got, a.Decision)
				}
			}
			if len(got) == 0 || got[0] != arg {
				t.Errorf("%s: audit decisions %v, want %s", c.Name, got, arg)
			}
		case "duplicate":
			var got []string
			for _, a := range audits[id] {
				got = append(got, a.Decision)
			}
			if !strings.Contains(strings.Join(got, " "), classify.DecisionDuplicate) {
				t.Errorf("%s: audit decisions %v, want one duplicate", c.Name, got)
			}
		case "behavior":
			if n := countOf("SELECT count() FROM "+db+".behavior_events WHERE event_id = ?", id); n != 1 {
				t.Errorf("%s: %d rows in behavior_events, want 1", c.Name, n)
			}
		case "dlq":
			sum := sha256.Sum256(c.Value)
			d, ok := dead[hex.EncodeToString(sum[:])]
			if !ok {
				t.Errorf("%s: not dead-lettered", c.Name)
				continue
			}
			reason := pipeline.Header(&d, pipeline.HeaderReason)
			if !strings.Contains(reason, arg) || !strings.Contains(reason, ":") && !strings.Contains(reason, "_") {
				t.Errorf("%s: reason %q, want one naming %q", c.Name, reason, arg)
			}
			if got := pipeline.Header(&d, pipeline.HeaderStage); got != stageOf[c.Topic] {
				t.Errorf("%s: dead-lettered by %q, want %s", c.Name, got, stageOf[c.Topic])
			}
		default:
			t.Fatalf("%s: unknown expectation %q", c.Name, c.Expect)
		}
	}
	// Injection strings that are data land as written, harmlessly.
	if n := countOf("SELECT count() FROM " + db + ".classifications WHERE campaign = 'x'') DROP TABLE leads;--' OR campaign LIKE 'x%DROP TABLE leads%'"); n == 0 {
		t.Error("the campaign holding SQL did not land as data")
	}
	if n := countOf("SELECT count() FROM " + db + ".behavior_events WHERE category LIKE '%DROP TABLE behavior_events%'"); n != 1 {
		t.Errorf("the category holding SQL landed %d times, want once as data", n)
	}
	// Every stage accounts for every record it consumed.
	for _, s := range stageNames {
		c := runner.Counts(s)
		if c.Consumed != c.Produced+c.Quarantined+c.DeadLettered+c.Skipped+c.InFlight {
			t.Errorf("%s: %+v breaks consumed = produced + quarantined + dead-lettered + in flight", s, c)
		}
	}

	// No personal value anywhere but the dead-letter copies.
	leadIDs := map[string]bool{}
	canaries := map[string]bool{}
	for _, c := range cases {
		for _, m := range canaryRE.FindAll(c.Value, -1) {
			canaries[string(m)] = true
		}
		if strings.HasPrefix(c.Key, "H-") && len(c.Key) > 4 {
			leadIDs[c.Key] = true
		}
	}
	leaks := func(where, text string) {
		t.Helper()
		if m := canaryRE.FindString(text); m != "" && canaries[m] {
			t.Errorf("%s holds the personal value %s", where, m)
		}
		for id := range leadIDs {
			if strings.Contains(text, `"`+id+`"`) || strings.Contains(text, "\t"+id+"\t") || strings.Contains(text, "="+id+" ") {
				t.Errorf("%s holds the raw lead id %s", where, id)
				return
			}
		}
	}
	leaks("the log", logs.String())
	resp, err := http.Get("http://" + cfg.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	leaks("/metrics", string(body))
	for _, d := range dead {
		leaks("a dead-letter reason", pipeline.Header(&d, pipeline.HeaderReason))
	}
	for _, table := range pipelinetest.Strings(t, conn, "SELECT name FROM system.tables WHERE database = '"+db+"' AND engine NOT LIKE '%View' AND engine NOT LIKE 'Aggregating%'") {
		leaks("ClickHouse table "+table, dumpTable(t, conn, db+"."+table))
	}
	if !strings.Contains(logs.String(), "dead-lettered") {
		t.Error("the debug log says nothing of the dead letters: the leak check of the log proves little")
	}
}

// dumpTable returns every row of table as tab-separated text.
func dumpTable(t *testing.T, conn driver.Conn, table string) string {
	t.Helper()
	tab, err := analytics.ReadTable(context.Background(), conn, "SELECT * FROM "+table)
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	var b strings.Builder
	for _, row := range tab.Rows {
		b.WriteString("\t")
		for _, v := range row {
			fmt.Fprintf(&b, "%v\t", v)
		}
		b.WriteString("\n")
	}
	return b.String()
}
