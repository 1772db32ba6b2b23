package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// readJSONL returns the lines of testdata/e2e/name as Kafka records keyed
// by their lead_id (or anonymous_id).
func readJSONL(t *testing.T, name string) []kafka.Message {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "e2e", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []kafka.Message
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var k struct {
			Lead string `json:"lead_id"`
			Anon string `json:"anonymous_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &k); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, kafka.Message{Key: []byte(k.Lead + k.Anon), Value: slices.Clone(sc.Bytes())})
	}
	return out
}

// startStages runs stages in-process against cfg until the test ends.
func startStages(t *testing.T, cfg *runConfig, stages ...string) *pipeline.Runner {
	t.Helper()
	return startStagesLogging(t, cfg, nil, stages...)
}

// startStagesLogging is startStages logging to log (nil: nowhere).
func startStagesLogging(t *testing.T, cfg *runConfig, log *slog.Logger, stages ...string) *pipeline.Runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *pipeline.Runner, 1)
	done := make(chan error, 1)
	go func() {
		done <- runStages(ctx, cfg, stages, pseudonym.Development(), log, func(r *pipeline.Runner) { ready <- r })
	}()
	var r *pipeline.Runner
	select {
	case r = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("stages did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("stages: %v", err)
		}
	})
	return r
}

// waitClassify waits until classify has consumed and committed every
// record of its inputs, its own notices included.
func waitClassify(t *testing.T, runner *pipeline.Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := runner.WaitDrained(ctx, "classify"); err != nil {
		t.Fatal(err)
	}
}

// testRunConfig is a runConfig on the test's topics and database.
func testRunConfig(t *testing.T) (*runConfig, driver.Conn) {
	t.Helper()
	cfg := defaultRunConfig()
	chCfg, conn := pipelinetest.ClickHouse(t)
	cfg.ch = chCfg
	cfg.kafka = pipelinetest.Kafka(t)
	cfg.metricsAddr = ""
	cfg.sinkAge = 100 * time.Millisecond
	cfg.erasureEvery = 0 // a batch's erasures carried out in it: the tests check them once drained
	return &cfg, conn
}

// checkNoDrift runs `leadpipe check` on cfg's broker and database, as an
// operator would after an incident: every aggregate equals its base table,
// decisions holds one row per event id, no offset landed twice.
func checkNoDrift(t *testing.T, cfg *runConfig) {
	t.Helper()
	args := []string{"check", "--brokers", strings.Join(cfg.kafka.Brokers, ","), "--topic-prefix", cfg.kafka.TopicPrefix,
		"--clickhouse", cfg.ch.Addr, "--clickhouse-db", cfg.ch.Database}
	if cfg.ch.Cluster != "" {
		args = append(args, "--clickhouse-cluster", cfg.ch.Cluster)
	}
	var out, errs bytes.Buffer
	if code := dispatch(context.Background(), args, nil, &out, &errs); code != 0 {
		t.Errorf("leadpipe check exited %d:\n%s%s", code, out.String(), errs.String())
	}
}

func TestEndToEndEveryStageLandsTheFixedInputInClickHouseRowByRow(t *testing.T) {
	cfg, conn := testRunConfig(t)
	ctx := context.Background()
	db := cfg.ch.Database
	k := &cfg.kafka
	runner := startStages(t, cfg, stageNames...)
	leads, consents, behavior := readJSONL(t, "leads.jsonl"), readJSONL(t, "consents.jsonl"), readJSONL(t, "behavior.jsonl")

	// Leads and consents first, then behavior: the events of a lead that
	// is classified meanwhile are what the test checks.
	// The stage reads both topics at once, and a consent read before its
	// lead counts for it; the test wants the order of the input.
	pipelinetest.Produce(t, k, pipeline.TopicLeadsRaw, leads...)
	waitClassify(t, runner)
	pipelinetest.Produce(t, k, pipeline.TopicConsentsRaw, consents...)
	waitClassify(t, runner)
	pipelinetest.Produce(t, k, pipeline.TopicBehaviorRaw, behavior...)
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := waitDrained(wctx, runner, nil); err != nil {
		t.Fatal(err)
	}

	keys := pseudonym.Development()
	key := func(lead string) string { return keys.LeadKey(lead) }

	// leads: one current row per lead key.
	type leadRow struct{ decision, reason, channel, network, email, profiling, sales string }
	want := map[string]leadRow{
		key("lead-0a1"): {"accepted", "", "search", "google", "consent", "consent", "none"},
		key("lead-0b2"): {"accepted", "", "social", "linkedin", "consent", "none", "none"}, // released by the consent grant
		key("lead-0c3"): {"accepted", "", "email", "", "legitimate_interests", "none", "none"},
		key("lead-0d4"): {"accepted", "", "social", "facebook", "none", "none", "contract"},
	}
	// lead-0e5 asked for erasure: it has no row (its receipt is below).
	rows, err := conn.Query(ctx, `SELECT lead_key, decision, reason, channel, network, basis_email_marketing, basis_profiling, basis_sales_followup
		FROM `+db+`.leads FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]leadRow{}
	for rows.Next() {
		var k string
		var r leadRow
		if err := rows.Scan(&k, &r.decision, &r.reason, &r.channel, &r.network, &r.email, &r.profiling, &r.sales); err != nil {
			t.Fatal(err)
		}
		got[k] = r
	}
	rows.Close()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("leads row of %s = %+v, want %+v", k[:8], got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("leads holds %d lead keys, want %d", len(got), len(want))
	}

	// behavior_events: every event once (e2e-beh-2 is sent twice, as a
	// client retry would); a lead key only where the lead had a profiling
	// basis at the event's time.
	type behRow struct{ leadKey, decision, channel string }
	wantBeh := map[string]behRow{
		"e2e-beh-1":  {"", "unknown", "unknown"}, // before the lead signed up
		"e2e-beh-2":  {key("lead-0a1"), "accepted", "search"},
		"e2e-beh-3":  {key("lead-0a1"), "accepted", "search"},
		"e2e-beh-4":  {"", "quarantined", "social"}, // quarantined then
		"e2e-beh-5":  {"", "accepted", "email"},     // no profiling basis
		"e2e-beh-6":  {"", "erased", "unknown"},     // profiled then, but the lead is erased since: all of it goes
		"e2e-beh-7":  {"", "erased", "unknown"},     // after the erasure
		"e2e-beh-8":  {"", "anonymous", "unknown"},
		"e2e-beh-9":  {"", "anonymous", "unknown"},
		"e2e-beh-10": {"", "unknown", "unknown"}, // a lead never classified
	}
	rows, err = conn.Query(ctx, `SELECT event_id, lead_key, decision, channel FROM `+db+`.behavior_events`)
	if err != nil {
		t.Fatal(err)
	}
	gotBeh := map[string]behRow{}
	n := 0
	for rows.Next() {
		var id string
		var r behRow
		if err := rows.Scan(&id, &r.leadKey, &r.decision, &r.channel); err != nil {
			t.Fatal(err)
		}
		gotBeh[id] = r
		n++
	}
	rows.Close()
	if n != len(wantBeh) {
		t.Errorf("behavior_events holds %d rows, want %d", n, len(wantBeh))
	}
	for id, w := range wantBeh {
		if g, ok := gotBeh[id]; !ok || g != w {
			t.Errorf("behavior_events row %s = %+v (present %v), want %+v", id, g, ok, w)
		}
	}

	// classifications: the history, one row per classification, each with
	// its rule and the lead key of its lead; none of the erased lead-0e5.
	wantCls := []string{
		"e2e-consent-b-grant accepted released_by_consent " + key("lead-0b2"),
		"e2e-lead-a accepted accepted " + key("lead-0a1"),
		"e2e-lead-b quarantined social_no_consent " + key("lead-0b2"),
		"e2e-lead-c accepted accepted " + key("lead-0c3"),
		"e2e-lead-d accepted accepted " + key("lead-0d4"),
	}
	if got := pipelinetest.Strings(t, conn, `SELECT concat(event_id, ' ', decision, ' ', rule, ' ', lead_key) FROM `+db+`.classifications ORDER BY event_id`); !slices.Equal(got, wantCls) {
		t.Errorf("classifications =\n%v\nwant\n%v", got, wantCls)
	}
	// quarantine_daily counts the leads in quarantine now: lead-0b2 was
	// quarantined, then released by its consent, so none is.
	if got := pipelinetest.Strings(t, conn, `SELECT concat(toString(day), ' ', channel, ' ', network, ' ', reason, ' ', toString(leads)) FROM `+db+`.quarantine_daily`); len(got) != 0 {
		t.Errorf("quarantine_daily = %v, want no lead in quarantine", got)
	}
	// consent_coverage_daily: per day of the first lead event, channel and
	// purpose, the leads with a consent basis now, counted from the input
	// by hand (the erased lead-0e5 has none any more).
	wantCov := []string{
		"2026-03-02 search email_marketing 1", "2026-03-02 search profiling 1", "2026-03-02 social email_marketing 1",
	}
	gotCov := pipelinetest.Strings(t, conn, `SELECT concat(toString(day), ' ', channel, ' ', purpose, ' ', toString(uniqMerge(leads))) FROM `+db+
		`.consent_coverage_daily WHERE basis = 'consent' GROUP BY day, channel, purpose`)
	slices.Sort(gotCov)
	slices.Sort(wantCov)
	if !slices.Equal(gotCov, wantCov) {
		t.Errorf("consent coverage = %v, want %v", gotCov, wantCov)
	}
	// retention_runs: the erasure, recorded without keys.
	if got := pipelinetest.Strings(t, conn, `SELECT concat(reason, ' ', table_name, ' ', action) FROM `+db+`.retention_runs ORDER BY table_name`); !slices.Equal(got, []string{
		"erasure behavior_events clear_lead_key", "erasure category_affinity delete", "erasure classifications delete",
		"erasure decisions clear_lead_key", "erasure leads delete"}) {
		t.Errorf("retention_runs = %v", got)
	}
	// erasure_receipts: the request, its erasure id (not the lead key) and
	// what was removed, verified: no table holds the key any more. (How
	// many rows it removed depends on what had landed before the erasure's
	// batch: rows of the lead in that batch never land.)
	if got := pipelinetest.Strings(t, conn, `SELECT concat(request_event_id, ' ', erasure_id, ' ', toString(verified), ' ',
		toString(classifications_removed > 0)) FROM `+db+`.erasure_receipts FINAL`); !slices.Equal(got, []string{
		"e2e-consent-e-erase " + analytics.ErasureID(key("lead-0e5")) + " 1 1"}) {
		t.Errorf("erasure_receipts = %v", got)
	}

	// decisions: one audit row per lead and consent event, and the
	// erasure's receipt. Erasure (Art. 17): no row of any table links to
	// lead-0e5 any more; its decisions stay, without its key, as the record
	// of what was done.
	for _, table := range []string{"behavior_events", "category_affinity", "classifications", "leads", "decisions"} {
		if got := pipelinetest.Strings(t, conn, `SELECT toString(count()) FROM `+db+`.`+table+` WHERE lead_key = '`+key("lead-0e5")+`'`); !slices.Equal(got, []string{"0"}) {
			t.Errorf("%s still links %v rows to the erased lead", table, got)
		}
	}
	ids := pipelinetest.Strings(t, conn, `SELECT event_id FROM `+db+`.decisions ORDER BY event_id`)
	wantIDs := []string{"e2e-consent-b-grant", "e2e-consent-e-erase", "e2e-consent-e-erase/receipt/" + analytics.ErasureID(key("lead-0e5"))[:16], "e2e-lead-a", "e2e-lead-b", "e2e-lead-c", "e2e-lead-d", "e2e-lead-e"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("decisions = %v, want %v", ids, wantIDs)
	}

	// Aggregates equal what the input gives when counted by hand.
	checks := map[string]string{
		`SELECT toString(count()) FROM ` + db + `.leads FINAL WHERE network = 'linkedin' AND rule = 'released_by_consent'`:           "1",
		`SELECT toString(sumMerge(events)) FROM ` + db + `.engagement_daily`:                                                         "10",
		`SELECT toString(sumMerge(revenue)) FROM ` + db + `.engagement_daily WHERE channel = 'search'`:                               "50",
		`SELECT toString(uniqMerge(visitors)) FROM ` + db + `.engagement_daily WHERE channel = 'unknown'`:                            "5",
		`SELECT toString(sum(score)) FROM ` + db + `.category_affinity WHERE category = 'shoes'`:                                     "6",
		`SELECT toString(count()) FROM ` + db + `.category_affinity WHERE category = 'bags'`:                                         "0",
		`SELECT toString(uniqMerge(leads)) FROM ` + db + `.consent_coverage_daily WHERE purpose = 'profiling' AND basis = 'consent'`: "1",
	}
	for q, w := range checks {
		if g := pipelinetest.Strings(t, conn, q); len(g) != 1 || g[0] != w {
			t.Errorf("%s = %v, want %s", q, g, w)
		}
	}

	assertNoPersonalData(t, conn, db, append(append(leads, consents...), behavior...))
	checkNoDrift(t, cfg) // one behavior event was sent twice

	// An insert doubled by hand (as a sink without its lookup would have
	// done): check names the aggregates and the offsets, and exits 3.
	if err := conn.Exec(ctx, "INSERT INTO "+db+".behavior_events (event_id, occurred_at, action, channel, decision, lead_key, key_version, visitor_key, product_id, category, value, currency, _topic, _partition, _offset) "+
		"SELECT event_id, occurred_at, action, channel, decision, lead_key, key_version, visitor_key, product_id, category, value, currency, _topic, _partition, _offset FROM "+db+".behavior_events WHERE lead_key != '' LIMIT 3"); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	args := []string{"check", "--brokers", strings.Join(k.Brokers, ","), "--topic-prefix", k.TopicPrefix, "--clickhouse", cfg.ch.Addr, "--clickhouse-db", db}
	if code := dispatch(ctx, args, nil, &out, &errs); code != 3 ||
		!strings.Contains(out.String(), "drift: engagement_daily ") || !strings.Contains(out.String(), "drift: category_affinity ") ||
		!strings.Contains(out.String(), "drift: behavior_events "+k.Topic(pipeline.TopicBehaviorEnriched)) {
		t.Errorf("leadpipe check after a doubled insert exited %d, want 3 naming engagement_daily, category_affinity and behavior_events:\n%s%s", code, out.String(), errs.String())
	}
}

// assertNoPersonalData scans every String column of every table of db for
// the emails, phones, names and raw ids of the input.
func assertNoPersonalData(t *testing.T, conn driver.Conn, db string, in []kafka.Message) {
	t.Helper()
	needles := map[string]bool{}
	for _, m := range in {
		var ev struct {
			Lead    string `json:"lead_id"`
			Anon    string `json:"anonymous_id"`
			Contact struct {
				Email, Phone, First_name, Last_name, Company string
			} `json:"contact"`
		}
		json.Unmarshal(m.Value, &ev)
		for _, s := range []string{ev.Lead, ev.Anon, ev.Contact.Email, ev.Contact.Phone, ev.Contact.First_name, ev.Contact.Last_name, ev.Contact.Company} {
			if s != "" {
				needles[s] = true
			}
		}
	}
	if len(needles) < 10 {
		t.Fatalf("only %d needles: the input has lost its personal data", len(needles))
	}
	rows, err := conn.Query(context.Background(), `SELECT table, name, type FROM system.columns
		WHERE database = ? AND (type = 'String' OR type = 'Array(String)')`, db)
	if err != nil {
		t.Fatal(err)
	}
	var cols [][3]string
	for rows.Next() {
		var c [3]string
		rows.Scan(&c[0], &c[1], &c[2])
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Fatalf("found only %d String columns in %s", len(cols), db)
	}
	for _, c := range cols {
		expr := c[1]
		if c[2] == "Array(String)" {
			expr = "arrayStringConcat(" + c[1] + ", ' ')"
		}
		for n := range needles {
			q := fmt.Sprintf("SELECT toString(count()) FROM %s.%s WHERE positionCaseInsensitive(%s, '%s') > 0", db, c[0], expr, strings.ReplaceAll(n, "'", "\\'"))
			if g := pipelinetest.Strings(t, conn, q); len(g) != 1 || g[0] != "0" {
				t.Errorf("%s.%s holds personal data of the input (%d rows)", c[0], c[1], len(g))
			}
		}
	}
}
