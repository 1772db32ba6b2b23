package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/intake"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// The secrets of the tests' intakes.
var testSecrets = intake.Secrets{
	EventsToken: []byte("events-token"), MetaAppSecret: []byte("meta-app-secret"), MetaVerifyToken: []byte("meta-verify"),
	MetaPageToken: []byte("page-token"), GoogleKey: []byte("secret"), LinkedInSecret: []byte("linkedin-secret"),
}

// testIntake is an intake served on a loopback port.
type testIntake struct {
	url string
	reg *prometheus.Registry
}

// startIntake serves an intake producing to kcfg's topics, its Graph API
// at graphURL, sources.yaml the Meta fixtures'; edit changes its Config.
func startIntake(t *testing.T, kcfg *pipeline.Config, graphURL string, edit func(*intake.Config)) *testIntake {
	t.Helper()
	cfg := intake.DefaultConfig()
	cfg.Addr, cfg.MetricsAddr = "127.0.0.1:0", ""
	cfg.GraphURL = graphURL
	cfg.GraphBackoff, cfg.GraphTimeout = 20*time.Millisecond, 500*time.Millisecond
	cfg.ProduceTimeout = 15 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	mapping, err := sources.LoadConfig("../../stages/sources/testdata/meta/sources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- intake.Run(ctx, cfg, kcfg, mapping, testSecrets, reg, nil, func(a string) { addr <- a })
	}()
	var ti testIntake
	select {
	case a := <-addr:
		ti = testIntake{url: "http://" + a, reg: reg}
	case err := <-done:
		cancel()
		t.Fatalf("intake did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("intake: %v", err)
		}
	})
	return &ti
}

// post sends body to the intake's path with headers, and returns the
// status and the answer.
func (ti *testIntake) post(t *testing.T, path string, body []byte, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ti.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		t.Errorf("a 503 without Retry-After")
	}
	return resp.StatusCode, string(b)
}

// metaSignature is X-Hub-Signature-256 of body under the tests' app secret.
func metaSignature(body []byte) string {
	mac := hmac.New(sha256.New, testSecrets.MetaAppSecret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeGraph is a local Graph API: GET /{lead-id} answers Meta's lead
// sample with that id, GET /{form-id} the form fixture. A path may be
// given answers to make first: a status, or 0 to hang past the client's
// timeout.
type fakeGraph struct {
	*httptest.Server
	mu      sync.Mutex
	script  map[string][]int
	calls   map[string]int
	lead    []byte
	form    []byte
	tokenOK atomic.Bool
}

func newFakeGraph(t *testing.T) *fakeGraph {
	g := &fakeGraph{script: map[string][]int{}, calls: map[string]int{},
		lead: readFixture(t, "../../stages/sources/testdata/meta/lead_checked.json"),
		form: readFixture(t, "../../pipeline/intake/testdata/meta_form.json")}
	g.tokenOK.Store(true)
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/")
	g.mu.Lock()
	g.calls[id]++
	var status int
	if s := g.script[id]; len(s) > 0 {
		status, g.script[id] = s[0], s[1:]
	} else {
		status = http.StatusOK
	}
	g.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer page-token" {
		g.tokenOK.Store(false)
	}
	switch {
	case status == 0:
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		http.Error(w, "hung", http.StatusGatewayTimeout)
		return
	case status != http.StatusOK:
		http.Error(w, `{"error":{"message":"scripted"}}`, status)
		return
	case id == "12312312312":
		w.Write(g.form)
		return
	case id == "999000000000001": // testdata/hostile/platforms.jsonl: a lead cut short
		w.Write([]byte(`{"id":"999000000000001","created_time":"2015-02-28T08:4`))
		return
	}
	var lead map[string]any
	json.Unmarshal(g.lead, &lead)
	lead["id"] = id
	json.NewEncoder(w).Encode(lead)
}

func (g *fakeGraph) fail(id string, statuses ...int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.script[id] = statuses
}

func (g *fakeGraph) callsOf(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[id]
}

// metaWebhook is Meta's documented leadgen webhook naming leadID.
func metaWebhook(t *testing.T, leadID string) []byte {
	t.Helper()
	b := readFixture(t, "../../pipeline/intake/testdata/meta_webhook.json")
	return bytes.Replace(b, []byte(`"leadgen_id":123123123123`), []byte(`"leadgen_id":`+leadID), 1)
}

func TestIntakeTheSameMetaWebhookDeliveredThreeTimesMakesOneLeadInClickHouse(t *testing.T) {
	cfg, conn := testRunConfig(t)
	runner := startStages(t, cfg, "classify", "sink")
	graph := newFakeGraph(t)
	ti := startIntake(t, &cfg.kafka, graph.URL, nil)
	body := metaWebhook(t, "55459717045641545") // 17 digits: beyond a float64
	for i := range 3 {
		if code, ans := ti.post(t, "/v1/meta", body, "X-Hub-Signature-256", metaSignature(body)); code != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", i+1, code, ans)
		}
	}
	raw := pipelinetest.ReadAll(t, &cfg.kafka, pipeline.TopicLeadsRaw)
	if len(raw) != 3 {
		t.Fatalf("leads.raw holds %d records, want the 3 deliveries", len(raw))
	}
	for _, m := range raw {
		if string(m.Key) != "meta:55459717045641545" || !bytes.Contains(m.Value, []byte(`"event_id":"meta:55459717045641545"`)) {
			t.Errorf("a record keyed %q is not the lead's event: the pipeline could not dedup it", m.Key)
		}
	}
	waitClassify(t, runner)
	pipelinetest.Eventually(t, 60*time.Second, "one lead in leads FINAL", func() bool {
		var n uint64
		conn.QueryRow(context.Background(), "SELECT count() FROM "+cfg.ch.Database+".leads FINAL").Scan(&n)
		return n == 1
	})
	decision := pipelinetest.Strings(t, conn, "SELECT concat(decision, '/', basis_email_marketing, '/', network) FROM "+cfg.ch.Database+".leads FINAL")
	if len(decision) != 1 || decision[0] != "accepted/consent/facebook" {
		t.Errorf("the lead landed as %v, want accepted/consent/facebook (box optional_1 ticked, mapped to email_marketing)", decision)
	}
	time.Sleep(500 * time.Millisecond) // a second lead row would have landed by now
	var n uint64
	conn.QueryRow(context.Background(), "SELECT count() FROM "+cfg.ch.Database+".leads FINAL").Scan(&n)
	if n != 1 {
		t.Errorf("leads FINAL holds %d rows, want 1", n)
	}
	if got := intakeRecords(ti, intake.SourceMeta, intake.OutcomeProduced); got != 3 {
		t.Errorf("records produced = %v, want 3", got)
	}
	if !graph.tokenOK.Load() {
		t.Error("the Graph API was called without the page token as a bearer")
	}
}

// intakeRecords is leadpipe_intake_records_total of source and outcome.
func intakeRecords(ti *testIntake, source, outcome string) float64 {
	mfs, _ := ti.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "leadpipe_intake_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == source && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestIntakeABadSignatureTokenOrKeyIs401AndProducesNothing(t *testing.T) {
	kcfg := pipelinetest.Kafka(t)
	graph := newFakeGraph(t)
	ti := startIntake(t, &kcfg, graph.URL, nil)
	meta := metaWebhook(t, "123123123123")
	google := readFixture(t, "../../stages/sources/testdata/google-ads/lead.json")
	event := readFixture(t, "testdata/e2e/leads.jsonl")
	deleted := readFixture(t, "../../stages/sources/testdata/linkedin/deleted.json")
	otherMAC := hmac.New(sha256.New, []byte("not-the-secret"))
	otherMAC.Write(meta)
	for _, c := range []struct {
		name, path string
		body       []byte
		headers    []string
	}{
		{"a Meta webhook signed with another secret", "/v1/meta", meta, []string{"X-Hub-Signature-256", "sha256=" + hex.EncodeToString(otherMAC.Sum(nil))}},
		{"a Meta webhook without a signature", "/v1/meta", meta, nil},
		{"a Meta webhook whose body changed after signing", "/v1/meta", append(bytes.Clone(meta), ' '), []string{"X-Hub-Signature-256", metaSignature(meta)}},
		{"a Meta webhook signed with sha1 only", "/v1/meta", meta, []string{"X-Hub-Signature", "sha1=00"}},
		{"a Google Ads lead with another google_key", "/v1/google-ads", bytes.Replace(google, []byte(`"google_key":"secret"`), []byte(`"google_key":"secreT"`), 1), nil},
		{"a Google Ads lead without google_key", "/v1/google-ads", bytes.Replace(google, []byte(`"google_key":"secret",`), nil, 1), nil},
		{"events with another bearer token", "/v1/events", event, []string{"Authorization", "Bearer events-tokeN"}},
		{"events without a token", "/v1/events", event, nil},
		{"a LinkedIn deletion signed without the hmacsha256= prefix", "/v1/linkedin", deleted, []string{"X-LI-Signature", hexHMAC(testSecrets.LinkedInSecret, deleted)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, ans := ti.post(t, c.path, c.body, c.headers...)
			if code != http.StatusUnauthorized {
				t.Errorf("%d %s, want 401", code, ans)
			}
		})
	}
	if n := graph.callsOf("123123123123"); n != 0 {
		t.Errorf("the Graph API was called %d times for an unauthenticated webhook", n)
	}
	for _, topic := range []string{pipeline.TopicLeadsRaw, pipeline.TopicConsentsRaw, pipeline.TopicBehaviorRaw, pipeline.TopicDLQ} {
		if got := pipelinetest.ReadAll(t, &kcfg, topic); len(got) != 0 {
			t.Errorf("%s holds %d records after unauthenticated requests", topic, len(got))
		}
	}
	// The handshake: the verify token gets the challenge back; another gets 401.
	for token, want := range map[string]int{"meta-verify": 200, "meta-verifY": 401} {
		resp, err := http.Get(ti.url + "/v1/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + token)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || want == 200 && string(b) != "1158201444" {
			t.Errorf("handshake with token %q: %d %q, want %d", token, resp.StatusCode, b, want)
		}
	}
}

func hexHMAC(key, msg []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestIntakeRetriesTheGraphAPIAndDeadLettersALeadItCannotFetchWithItsIds(t *testing.T) {
	kcfg := pipelinetest.Kafka(t)
	graph := newFakeGraph(t)
	ti := startIntake(t, &kcfg, graph.URL, func(c *intake.Config) { c.GraphAttempts = 3 })
	cases := []struct {
		name, lead   string
		script       []int
		calls        int
		deadLettered bool
	}{
		{"a 500 then success is retried and produced", "1000000000000001", []int{500}, 2, false},
		{"a 429 then a timeout then success is retried and produced", "1000000000000002", []int{429, 0}, 3, false},
		{"a 500 at every attempt dead-letters the lead with its ids", "1000000000000003", []int{500, 502, 503, 500}, 3, true},
		{"a timeout at every attempt dead-letters the lead", "1000000000000004", []int{0, 0, 0}, 3, true},
		{"a 404 is not retried: dead-lettered at once", "1000000000000005", []int{404}, 1, true},
		{"a 403 (no leads_retrieval) is not retried: dead-lettered at once", "1000000000000006", []int{403}, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			graph.fail(c.lead, c.script...)
			body := metaWebhook(t, c.lead)
			code, ans := ti.post(t, "/v1/meta", body, "X-Hub-Signature-256", metaSignature(body))
			if code != http.StatusOK {
				t.Fatalf("%d %s, want 200: the lead is produced or dead-lettered", code, ans)
			}
			if got := graph.callsOf(c.lead); got != c.calls {
				t.Errorf("the Graph API was called %d times, want %d", got, c.calls)
			}
		})
	}
	leads := map[string]bool{}
	for _, m := range pipelinetest.ReadAll(t, &kcfg, pipeline.TopicLeadsRaw) {
		leads[string(m.Key)] = true
	}
	dead := map[string]string{}
	for _, m := range pipelinetest.ReadAll(t, &kcfg, pipeline.TopicDLQ) {
		dead[string(m.Key)] = string(m.Value)
		reason := pipeline.Header(&m, pipeline.HeaderReason)
		if pipeline.Header(&m, pipeline.HeaderStage) != "intake" || pipeline.Header(&m, pipeline.HeaderID) == "" || reason == "" {
			t.Errorf("dead letter %s lacks its provenance headers", m.Key)
		}
		if strings.Contains(reason, "10000000000000") {
			t.Errorf("the reason %q names the lead id", reason)
		}
	}
	for _, c := range cases {
		key := "meta:" + c.lead
		switch {
		case c.deadLettered && (!strings.Contains(dead[key], `"leadgen_id":"`+c.lead+`"`) || !strings.Contains(dead[key], `"form_id":"12312312312"`)):
			t.Errorf("%s: dead letter %q does not hold the lead's ids", c.name, dead[key])
		case c.deadLettered == leads[key]:
			t.Errorf("%s: on leads.raw %v, dead-lettered %v: want it dead-lettered %v, else on leads.raw", c.name, leads[key], dead[key] != "", c.deadLettered)
		}
	}
	if got := intakeRecords(ti, intake.SourceMeta, intake.OutcomeDeadLettered); got != 4 {
		t.Errorf("records dead_lettered = %v, want 4", got)
	}
}

func TestIntakeRejectsWith400NamingLineAndFieldNeverTheValue(t *testing.T) {
	kcfg := pipelinetest.Kafka(t)
	ti := startIntake(t, &kcfg, "http://127.0.0.1:1", func(c *intake.Config) { c.MaxBodyBytes = 4096 })
	good := bytes.SplitN(readFixture(t, "testdata/e2e/leads.jsonl"), []byte("\n"), 2)[0]
	bad := bytes.Replace(good, []byte(`"giulia.verdi@example.com"`), []byte(`"giulia.verdi@@example"`), 1)
	auth := []string{"Authorization", "Bearer events-token"}
	code, ans := ti.post(t, "/v1/events", bytes.Join([][]byte{good, bad}, []byte("\n")), auth...)
	if code != http.StatusBadRequest || !strings.Contains(ans, `"position":"line 2"`) || !strings.Contains(ans, `"field":"contact.email"`) {
		t.Errorf("%d %s, want 400 naming line 2 and contact.email", code, ans)
	}
	if strings.Contains(ans, "giulia") {
		t.Errorf("the answer holds the value: %s", ans)
	}
	if got := pipelinetest.ReadAll(t, &kcfg, pipeline.TopicLeadsRaw); len(got) != 0 {
		t.Errorf("a rejected request produced %d records", len(got))
	}
	google := readFixture(t, "../../stages/sources/testdata/google-ads/lead.json")
	code, ans = ti.post(t, "/v1/google-ads", bytes.Replace(google, []byte(`"lead_id":"TeSter-123"`), []byte(`"lead_id":["TeSter-123"]`), 1))
	if code != http.StatusBadRequest || !strings.Contains(ans, "lead_id") || strings.Contains(ans, "TeSter") {
		t.Errorf("google-ads with lead_id an array: %d %s, want 400 naming lead_id", code, ans)
	}
	code, ans = ti.post(t, "/v1/events", bytes.Repeat([]byte(" "), 5000), auth...)
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over --max-body-bytes: %d %s, want 413", code, ans)
	}
	if code, ans = ti.post(t, "/v1/events", good, auth...); code != http.StatusOK {
		t.Errorf("a good event: %d %s", code, ans)
	}
	if code, ans = ti.post(t, "/v1/google-ads", google); code != http.StatusOK {
		t.Errorf("a Google Ads lead: %d %s", code, ans)
	}
	deleted := readFixture(t, "../../stages/sources/testdata/linkedin/deleted.json")
	if code, ans = ti.post(t, "/v1/linkedin", deleted, "X-LI-Signature", hexHMAC(testSecrets.LinkedInSecret, append([]byte("hmacsha256="), deleted...))); code != http.StatusOK {
		t.Errorf("a LinkedIn deletion: %d %s", code, ans)
	}
	keys := map[string]bool{}
	for _, m := range pipelinetest.ReadAll(t, &kcfg, pipeline.TopicLeadsRaw) {
		keys[string(m.Key)] = true
	}
	if !keys["lead-0a1"] || !keys["google:TeSter-123"] || len(keys) != 2 {
		t.Errorf("leads.raw keys %v, want lead-0a1 and google:TeSter-123", keys)
	}
	erasures := pipelinetest.ReadAll(t, &kcfg, pipeline.TopicConsentsRaw)
	if len(erasures) != 1 || !bytes.Contains(erasures[0].Value, []byte(`"action":"erase"`)) {
		t.Errorf("consents.raw holds %d records, want the deletion's erasure", len(erasures))
	}
}

func TestIntakeAnswers503WithRetryAfterWhenKafkaIsAway(t *testing.T) {
	kcfg := pipeline.DefaultConfig()
	kcfg.Brokers = []string{"127.0.0.1:1"} // nothing listens
	kcfg.TopicPrefix = "t-intake-dead."
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics := ln.Addr().String()
	ln.Close()
	ti := startIntake(t, &kcfg, "http://127.0.0.1:1", func(c *intake.Config) { c.ProduceTimeout, c.MetricsAddr = time.Second, metrics })
	good := bytes.SplitN(readFixture(t, "testdata/e2e/leads.jsonl"), []byte("\n"), 2)[0]
	code, ans := ti.post(t, "/v1/events", good, "Authorization", "Bearer events-token")
	if code != http.StatusServiceUnavailable {
		t.Errorf("%d %s, want 503", code, ans)
	}
	resp, err := http.Get("http://" + metrics + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %d with no broker, want 503", resp.StatusCode)
	}
	if got := intakeRecords(ti, intake.SourceEvents, intake.OutcomeProduced); got != 0 {
		t.Errorf("records produced = %v with no broker", got)
	}
}

func TestIntakeEveryRequestAnswered200LandsWhenKafkaComesBack(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	kcfg := pipelinetest.KafkaOn(t, cluster.ListenAddrs()...)
	var down atomic.Bool
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("the broker is away"), true // closes the connection
		}
		return nil, nil, false
	})
	ti := startIntake(t, &kcfg, "http://127.0.0.1:1", func(c *intake.Config) { c.ProduceTimeout = 500 * time.Millisecond })
	good := bytes.SplitN(readFixture(t, "testdata/e2e/leads.jsonl"), []byte("\n"), 2)[0]
	event := func(i int) []byte {
		return bytes.Replace(bytes.Replace(good, []byte(`"e2e-lead-a"`), fmt.Appendf(nil, `"intake-%d"`, i), 1), []byte(`"lead-0a1"`), fmt.Appendf(nil, `"lead-%d"`, i), 1)
	}
	acked := map[int]bool{}
	var unavailable int
	for i := range 60 {
		down.Store(i >= 20 && i < 40)
		code, ans := ti.post(t, "/v1/events", event(i), "Authorization", "Bearer events-token")
		switch code {
		case http.StatusOK:
			acked[i] = true
		case http.StatusServiceUnavailable:
			unavailable++
		default:
			t.Fatalf("event %d: %d %s", i, code, ans)
		}
	}
	if unavailable == 0 {
		t.Fatal("no request got 503 while the broker refused produce requests")
	}
	// What got 503 is sent again, as a platform does: now it is acknowledged.
	for i := range 60 {
		for !acked[i] {
			if code, _ := ti.post(t, "/v1/events", event(i), "Authorization", "Bearer events-token"); code == http.StatusOK {
				acked[i] = true
			}
		}
	}
	landed := map[string]int{}
	for _, m := range pipelinetest.ReadAll(t, &kcfg, pipeline.TopicLeadsRaw) {
		landed[string(m.Key)]++
	}
	for i := range 60 {
		if landed[fmt.Sprintf("lead-%d", i)] == 0 {
			t.Errorf("event %d was answered 200 and is not on leads.raw", i)
		}
	}
	t.Logf("%d requests answered 503 while the broker was away; every event landed, %d records for 60 events", unavailable, len(landed))
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a client that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, client *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "intake"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func TestIntakeServesTLSRateLimitsCountsUnmappedFormsAndFinishesRequestsOnShutdown(t *testing.T) {
	kcfg := pipelinetest.Kafka(t)
	graph := newFakeGraph(t)
	certFile, keyFile, client := selfSigned(t)
	cfg := intake.DefaultConfig()
	cfg.Addr, cfg.MetricsAddr, cfg.GraphURL, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", "", graph.URL, certFile, keyFile
	cfg.GraphBackoff, cfg.GraphTimeout = 20*time.Millisecond, 500*time.Millisecond
	cfg.Rate, cfg.Burst = 0.001, 3 // three requests, then 429
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- intake.Run(ctx, cfg, &kcfg, &sources.Config{}, testSecrets, reg, nil, func(a string) { addr <- a })
	}()
	base := "https://" + <-addr
	post := func(body []byte) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/meta", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", metaSignature(body))
		return client.Do(req)
	}

	// Meta's real-world body (ids as numbers, ad_id 0): its form is in no
	// sources.yaml, so the lead is produced without consent and counted.
	gist := readFixture(t, "../../pipeline/intake/testdata/meta_webhook_gist.json")
	resp, err := post(gist)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Post(strings.Replace(base, "https", "http", 1)+"/v1/meta", "application/json", bytes.NewReader(gist)); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d, want 400", resp.StatusCode)
		}
	}

	// A request under way when the server is told to stop gets its answer.
	graph.fail("130528934038371", 0) // a first attempt that times out: the request takes a while
	slow := bytes.Replace(gist, []byte("130528934038370"), []byte("130528934038371"), 1)
	answered := make(chan int, 1)
	go func() {
		resp, err := post(slow)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	pipelinetest.Eventually(t, 5*time.Second, "the slow request reaches the Graph API", func() bool { return graph.callsOf("130528934038371") > 0 })

	// The rate limit: the burst is 3; two are spent, the third goes, the fourth gets 429.
	resp, err = post(gist)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = post(gist)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the rate: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	cancel() // SIGTERM
	if code := <-answered; code != http.StatusOK {
		t.Errorf("the request under way at shutdown got %d, want 200", code)
	}
	if err := <-done; err != nil {
		t.Errorf("intake: %v", err)
	}
	keys := map[string]bool{}
	for _, m := range pipelinetest.ReadAll(t, &kcfg, pipeline.TopicLeadsRaw) {
		keys[string(m.Key)] = true
	}
	if !keys["meta:130528934038370"] || !keys["meta:130528934038371"] {
		t.Errorf("leads.raw keys %v", keys)
	}
	mfs, _ := reg.Gather()
	var unmapped float64
	for _, mf := range mfs {
		if mf.GetName() == "leadpipe_intake_unmapped_total" {
			for _, m := range mf.GetMetric() {
				unmapped += m.GetCounter().GetValue()
				for _, l := range m.GetLabel() {
					if l.GetName() != "source" && l.GetName() != "kind" {
						t.Errorf("an unbounded label %s", l.GetName())
					}
				}
			}
		}
	}
	if unmapped != 3 {
		t.Errorf("leadpipe_intake_unmapped_total = %v, want 3 (the unmapped form, thrice)", unmapped)
	}
}

// The hostile platform payloads of testdata/hostile/platforms.jsonl
// (generate_platforms.py): each gets a clear answer (a 400 naming the
// field, a 401, or a 200 with its records produced or dead-lettered),
// none a 5xx, no answer holds a value, and the intake answers on after
// them all.
func TestIntakeHostilePlatformPayloads(t *testing.T) {
	kcfg := pipelinetest.Kafka(t)
	graph := newFakeGraph(t)
	ti := startIntake(t, &kcfg, graph.URL, func(c *intake.Config) { c.Burst = 1000 })
	b := readFixture(t, "testdata/hostile/platforms.jsonl")
	var produced, deadLettered int
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var c struct {
			Name, Path, Body, Expect string
			BodyB64                  string `json:"body_b64"`
		}
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatal(err)
		}
		if c.BodyB64 != "" {
			raw, err := base64.StdEncoding.DecodeString(c.BodyB64)
			if err != nil {
				t.Fatal(err)
			}
			c.Body = string(raw)
		}
		t.Run(c.Name, func(t *testing.T) {
			body := []byte(c.Body)
			var headers []string
			switch c.Path {
			case "/v1/meta":
				headers = []string{"X-Hub-Signature-256", metaSignature(body)}
			case "/v1/events":
				headers = []string{"Authorization", "Bearer events-token"}
			case "/v1/linkedin":
				headers = []string{"X-LI-Signature", hexHMAC(testSecrets.LinkedInSecret, append([]byte("hmacsha256="), body...))}
			}
			code, ans := ti.post(t, c.Path, body, headers...)
			status, text, _ := strings.Cut(c.Expect, ":")
			if fmt.Sprint(code) != status {
				t.Fatalf("%d %s, want %s", code, ans, c.Expect)
			}
			if status == "400" && !strings.Contains(ans, text) {
				t.Errorf("the answer %s does not name %q", ans, text)
			}
			if strings.Contains(ans, "Zq9") || strings.Contains(ans, "@") {
				t.Errorf("the answer holds a value: %.300s", ans)
			}
			var counts struct{ Produced, DeadLettered int }
			json.Unmarshal([]byte(ans), &struct {
				P *int `json:"produced"`
				D *int `json:"dead_lettered"`
			}{&counts.Produced, &counts.DeadLettered})
			switch text {
			case "produced":
				if counts.Produced == 0 || counts.DeadLettered != 0 {
					t.Errorf("answer %s, want records produced", ans)
				}
			case "dead_lettered":
				if counts.DeadLettered != 1 || counts.Produced != 0 {
					t.Errorf("answer %s, want one dead letter", ans)
				}
			case "none":
				if counts.Produced+counts.DeadLettered != 0 {
					t.Errorf("answer %s, want nothing", ans)
				}
			}
			produced += counts.Produced
			deadLettered += counts.DeadLettered
		})
	}
	if got := len(pipelinetest.ReadAll(t, &kcfg, pipeline.TopicLeadsRaw)) + len(pipelinetest.ReadAll(t, &kcfg, pipeline.TopicConsentsRaw)); got != produced {
		t.Errorf("the raw topics hold %d records, the answers say %d produced", got, produced)
	}
	if got := len(pipelinetest.ReadAll(t, &kcfg, pipeline.TopicDLQ)); got != deadLettered {
		t.Errorf("leadpipe.dlq holds %d records, the answers say %d", got, deadLettered)
	}
	event := readFixture(t, "testdata/e2e/leads.jsonl")
	if code, ans := ti.post(t, "/v1/events", bytes.SplitN(event, []byte("\n"), 2)[0], "Authorization", "Bearer events-token"); code != http.StatusOK {
		t.Errorf("after the hostile payloads, a good event: %d %s", code, ans)
	}
}
