package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/intake"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// outageDelivery is one request of the outage test's client: the event it
// carries, what it was answered, and whether it was sent and answered
// while the broker was down.
type outageDelivery struct {
	eventID, leadID string
	path            string
	body            []byte
	headers         []string
	status          int
	retryAfter      string
	whileDown       bool
	answered        time.Time
}

// outageClient sends requests to an intake, one after another from each
// of its senders, until stopped, and keeps every answer.
type outageClient struct {
	t      *testing.T
	url    string
	http   *http.Client
	down   atomic.Bool // the broker is stopped (set after it exited, cleared before it starts)
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	sent   []*outageDelivery
	events []byte // a lead event of testdata/e2e, the template
}

// send delivers d once and records its answer.
func (c *outageClient) send(d *outageDelivery) {
	downBefore := c.down.Load()
	req, err := http.NewRequest(http.MethodPost, c.url+d.path, bytes.NewReader(d.body))
	if err != nil {
		c.t.Error(err)
		return
	}
	for i := 0; i+1 < len(d.headers); i += 2 {
		req.Header.Set(d.headers[i], d.headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Errorf("%s: %v", d.path, err)
		return
	}
	resp.Body.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	d.status, d.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	d.whileDown = downBefore && c.down.Load()
	d.answered = time.Now()
}

// own is leadpipe's own lead event number n of sender s, for /v1/events.
func (c *outageClient) own(s, n int) *outageDelivery {
	id, lead := fmt.Sprintf("outage-%d-%d", s, n), fmt.Sprintf("outage-lead-%d-%d", s, n)
	body := bytes.Replace(bytes.Replace(c.events, []byte(`"e2e-lead-a"`), fmt.Appendf(nil, "%q", id), 1),
		[]byte(`"lead-0a1"`), fmt.Appendf(nil, "%q", lead), 1)
	return &outageDelivery{eventID: id, leadID: lead, path: "/v1/events", body: body, headers: []string{"Authorization", "Bearer events-token"}}
}

// meta is a Meta leadgen webhook naming lead n, which the fake Graph API
// serves; intake fetches it and produces the lead "meta:ID".
func (c *outageClient) meta(n int) *outageDelivery {
	id := fmt.Sprintf("9%016d", n) // 17 digits, beyond a float64
	body := metaWebhook(c.t, id)
	return &outageDelivery{eventID: "meta:" + id, leadID: "meta:" + id, path: "/v1/meta", body: body,
		headers: []string{"X-Hub-Signature-256", metaSignature(body)}}
}

// run starts a sender: it sends next(n) for n = 0, 1, ... until stopped.
func (c *outageClient) run(next func(n int) *outageDelivery) {
	c.wg.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-c.stop:
				return
			default:
			}
			d := next(n)
			c.send(d)
			c.mu.Lock()
			c.sent = append(c.sent, d)
			c.mu.Unlock()
			time.Sleep(30 * time.Millisecond)
		}
	})
}

// count is how many requests answered so far match f.
func (c *outageClient) count(f func(*outageDelivery) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, d := range c.sent {
		if f(d) {
			n++
		}
	}
	return n
}

// TestIntakeOnABrokerStoppedMidTestAnswers503AndEveryRequestAnswered2xxLandsOnce
// runs intake against a Kafka broker of the test's own (the shared one
// is never stopped) while a client sends it own events and Meta
// webhooks, one request after another: the broker is killed (SIGKILL),
// then started again on the same data directory. While it is down, every
// request gets 503 with Retry-After and /readyz says 503; every request
// answered 2xx is on leads.raw exactly once (by event id); what got 503
// is sent again, as the platforms do, and every lead is in leads FINAL
// once through classify and the sink (with LEADPIPE_TEST_CLICKHOUSE).
func TestIntakeOnABrokerStoppedMidTestAnswers503AndEveryRequestAnswered2xxLandsOnce(t *testing.T) {
	broker := pipelinetest.Broker(t) // skips without LEADPIPE_TEST_BROKERS
	cfg := defaultRunConfig()
	cfg.kafka = pipelinetest.KafkaOn(t, broker.Addr())
	cfg.metricsAddr, cfg.sinkAge, cfg.erasureEvery = "", 100*time.Millisecond, 0
	var conn driver.Conn
	var runner *pipeline.Runner
	if os.Getenv("LEADPIPE_TEST_CLICKHOUSE") != "" {
		cfg.ch, conn = pipelinetest.ClickHouse(t)
		runner = startStages(t, &cfg, "classify", "sink")
	} else {
		t.Log("LEADPIPE_TEST_CLICKHOUSE is not set: leads.raw is checked, leads FINAL is not")
	}
	graph := newFakeGraph(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics := ln.Addr().String()
	ln.Close()
	ti := startIntake(t, &cfg.kafka, graph.URL, func(c *intake.Config) {
		c.ProduceTimeout, c.RetryAfter, c.MetricsAddr = 3*time.Second, time.Second, metrics
	})
	readyz := func() int {
		resp, err := http.Get("http://" + metrics + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	c := &outageClient{t: t, url: ti.url, http: &http.Client{Timeout: time.Minute}, stop: make(chan struct{}),
		events: bytes.SplitN(readFixture(t, "testdata/e2e/leads.jsonl"), []byte("\n"), 2)[0]}
	ok := func(d *outageDelivery) bool { return d.status/100 == 2 }
	c.run(func(n int) *outageDelivery { return c.own(1, n) })
	c.run(func(n int) *outageDelivery { return c.own(2, n) })
	c.run(c.meta)
	stopped := false
	stopClient := func() {
		if !stopped {
			stopped = true
			close(c.stop)
			c.wg.Wait()
		}
	}
	defer stopClient()

	pipelinetest.Eventually(t, time.Minute, "30 requests answered 2xx before the broker stops", func() bool { return c.count(ok) >= 30 })
	broker.Kill()
	c.down.Store(true)
	killed := time.Now()
	t.Log("broker killed")
	unavailable := func(d *outageDelivery) bool { return d.whileDown && d.status == http.StatusServiceUnavailable }
	pipelinetest.Eventually(t, time.Minute, "10 requests answered 503 while the broker is down", func() bool { return c.count(unavailable) >= 10 })
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %d while the broker is down, want 503", code)
	}
	c.down.Store(false)
	broker.Start()
	back := time.Now()
	t.Log("broker started again on its data directory")
	before := c.count(ok)
	pipelinetest.Eventually(t, 2*time.Minute, "30 more requests answered 2xx after the broker is back", func() bool { return c.count(ok) >= before+30 })
	pipelinetest.Eventually(t, 30*time.Second, "/readyz answers 200 again", func() bool { return readyz() == http.StatusOK })
	stopClient()
	firstRefusal, firstAccepted := time.Duration(-1), time.Duration(-1)
	for _, d := range c.sent {
		if d.status == http.StatusServiceUnavailable && d.answered.After(killed) && (firstRefusal < 0 || d.answered.Sub(killed) < firstRefusal) {
			firstRefusal = d.answered.Sub(killed)
		}
		if ok(d) && d.answered.After(back) && (firstAccepted < 0 || d.answered.Sub(back) < firstAccepted) {
			firstAccepted = d.answered.Sub(back)
		}
	}

	var accepted, refused []*outageDelivery
	for _, d := range c.sent {
		switch {
		case ok(d):
			accepted = append(accepted, d)
		case d.status == http.StatusServiceUnavailable:
			refused = append(refused, d)
			if d.retryAfter == "" {
				t.Errorf("a 503 without Retry-After")
			}
		default:
			t.Errorf("%s %s answered %d, want 2xx or 503", d.path, d.eventID, d.status)
		}
		if d.whileDown && d.status != http.StatusServiceUnavailable {
			t.Errorf("%s %s, sent and answered while the broker was down, got %d, want 503", d.path, d.eventID, d.status)
		}
	}
	onRaw := func() map[string]int {
		ids := map[string]int{}
		for _, m := range pipelinetest.ReadAll(t, &cfg.kafka, pipeline.TopicLeadsRaw) {
			var v struct {
				EventID string `json:"event_id"`
			}
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatalf("leads.raw at offset %d: %v", m.Offset, err)
			}
			ids[v.EventID]++
		}
		return ids
	}
	raw := onRaw()
	for _, d := range accepted {
		if raw[d.eventID] != 1 {
			t.Errorf("%s was answered %d and is on leads.raw %d times, want once", d.eventID, d.status, raw[d.eventID])
		}
	}
	landedAnyway := 0
	for _, d := range refused {
		landedAnyway += min(raw[d.eventID], 1)
	}
	sent := map[string]bool{}
	for _, d := range c.sent {
		sent[d.eventID] = true
	}
	for id := range raw {
		if !sent[id] {
			t.Errorf("leads.raw holds %s, which nobody sent", id)
		}
	}
	if dead := pipelinetest.ReadAll(t, &cfg.kafka, pipeline.TopicDLQ); len(dead) != 0 {
		t.Errorf("%d dead letters: the fake Graph API answered every fetch", len(dead))
	}

	// What got 503 is sent again, as a platform does, until it gets 2xx.
	for _, d := range refused {
		deadline := time.Now().Add(time.Minute)
		for !ok(d) && time.Now().Before(deadline) {
			c.send(d)
			time.Sleep(100 * time.Millisecond)
		}
		if !ok(d) {
			t.Fatalf("%s still gets %d a minute after the broker is back", d.eventID, d.status)
		}
	}
	raw = onRaw()
	leads := map[string]bool{}
	for _, d := range c.sent {
		leads[pseudonym.Development().LeadKey(d.leadID)] = true
		if raw[d.eventID] == 0 {
			t.Errorf("%s was answered 2xx at last and is not on leads.raw", d.eventID)
		}
	}
	t.Logf("%d requests: %d answered 2xx at once, %d answered 503 (%d of them on leads.raw anyway); the first 503 %s after the kill "+
		"(--produce-timeout 3s); the first 2xx %s after the broker had started again", len(c.sent), len(accepted), len(refused), landedAnyway,
		firstRefusal.Round(100*time.Millisecond), firstAccepted.Round(100*time.Millisecond))
	if conn == nil {
		return
	}
	waitClassify(t, runner)
	var keys []string
	pipelinetest.Eventually(t, time.Minute, "every lead in leads FINAL", func() bool {
		keys = pipelinetest.Strings(t, conn, "SELECT lead_key FROM "+cfg.ch.Database+".leads FINAL")
		return len(keys) >= len(leads)
	})
	slices.Sort(keys)
	if len(slices.Compact(slices.Clone(keys))) != len(keys) || len(keys) != len(leads) {
		t.Errorf("leads FINAL holds %d rows, want the %d leads sent once each", len(keys), len(leads))
	}
	for _, k := range keys {
		if !leads[k] {
			t.Errorf("leads FINAL holds a lead key nobody sent")
		}
	}
	checkNoDrift(t, &cfg)
}
