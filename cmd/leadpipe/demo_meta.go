package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/intake"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// demoSources is the demo's sources.yaml: what the boxes of its Meta lead
// form grant.
//
//go:embed demo_sources.yaml
var demoSources []byte

// demoMetaForm is the Meta lead form id of the demo's Facebook and
// Instagram lead-form leads (demo_sources.yaml maps it).
const demoMetaForm = "861234567890123"

// demoMetaBoxes is the box of the demo's form for each purpose; the form
// ticks partner_offers by default (demoMetaFormJSON).
var demoMetaBoxes = map[string]string{
	"email_marketing": "email_offers", "sms_marketing": "sms_offers", "phone_marketing": "phone_calls",
	"profiling": "personalised_ads", "third_party_sharing": "partner_offers", "sales_followup": "sales_contact",
}

// demoMetaFormJSON is the form as the Graph API gives it
// (GET /{form-id}?fields=id,legal_content{custom_disclaimer}).
const demoMetaFormJSON = `{"id":"861234567890123","legal_content":{"id":"1","custom_disclaimer":{"title":"Stay in touch",` +
	`"body":{"text":"Choose what we may send you."},"checkboxes":[` +
	`{"key":"email_offers","text":"Email me offers","is_required":false,"is_checked_by_default":false},` +
	`{"key":"sms_offers","text":"Text me offers","is_required":false,"is_checked_by_default":false},` +
	`{"key":"phone_calls","text":"Call me about offers","is_required":false,"is_checked_by_default":false},` +
	`{"key":"personalised_ads","text":"Personalise what I see","is_required":false,"is_checked_by_default":false},` +
	`{"key":"partner_offers","text":"Share my details with partners","is_required":false,"is_checked_by_default":true},` +
	`{"key":"sales_contact","text":"Have sales contact me","is_required":false,"is_checked_by_default":false}]}}}`

// demoFeed is how the demo's workload reached the raw topics: most of it
// produced straight to them, as leadpipe's own events, and the Facebook
// and Instagram lead-form leads as Meta leadgen webhooks through intake.
type demoFeed struct {
	produced int // records produced straight to the raw topics
	// metaLeads are the lead ids ("meta:ID") of the leads sent through
	// intake; their later events were produced under these ids.
	metaLeads []string
	// metaProduced and metaDeadLettered are what intake answered for them;
	// preTicked counts the boxes that came back ticked on a box the form
	// ticks by default (leadpipe_intake_unmapped_total{kind="pre_ticked"}).
	metaProduced, metaDeadLettered int
	preTicked                      float64
}

// feedDemo puts the workload wl on the raw topics of cfg: every event
// produced as is, except the first lead event of each lead from a
// Facebook or Instagram lead form, which goes as a signed Meta leadgen
// webhook to an intake served in this process on a loopback port. Intake
// fetches the lead and its form from a local stand-in for the Graph API,
// maps it by demo_sources.yaml through the Meta adapter, and produces it
// as lead "meta:ID"; the lead's other events are produced under that id,
// each in its place in the workload's order.
func feedDemo(ctx context.Context, cfg *runConfig, wl workload.Config) (demoFeed, error) {
	var feed demoFeed
	// The first pass finds the leads to send through Meta: the workload is
	// the same on each pass.
	metaIDs := map[string]string{} // workload lead id -> Meta lead id
	err := workload.Generate(wl, func(e workload.Event) error {
		if e.Kind != workload.KindLead || e.Malformed || !bytes.Contains(e.Value, []byte(`"social_lead_form"`)) {
			return nil
		}
		var l schemas.Lead
		if json.Unmarshal(e.Value, &l) != nil || l.Source == nil || (l.Source.Network != "facebook" && l.Source.Network != "instagram") {
			return nil
		}
		if _, seen := metaIDs[l.Lead]; !seen {
			metaIDs[l.Lead] = strconv.Itoa(55459717045600001 + len(metaIDs)) // 17 digits, as Meta's are
		}
		return nil
	})
	if err != nil {
		return feed, err
	}

	graph := newDemoGraph()
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return feed, err
	}
	gsrv := &http.Server{Handler: graph, ReadHeaderTimeout: 10 * time.Second}
	go gsrv.Serve(gln)
	defer gsrv.Close()
	mapping, err := sources.ParseConfig(demoSources)
	if err != nil {
		return feed, fmt.Errorf("demo_sources.yaml:%w", err)
	}
	secrets := intake.Secrets{MetaAppSecret: randomSecret(), MetaVerifyToken: randomSecret(), MetaPageToken: randomSecret()}
	graph.token = "Bearer " + string(secrets.MetaPageToken)
	icfg := intake.DefaultConfig()
	icfg.Addr, icfg.MetricsAddr, icfg.GraphURL = "127.0.0.1:0", "", "http://"+gln.Addr().String()
	icfg.Rate, icfg.Burst = 1e6, 1e6
	reg := prometheus.NewRegistry()
	ictx, stopIntake := context.WithCancel(ctx)
	defer stopIntake()
	addr, intakeErr := make(chan string, 1), make(chan error, 1)
	go func() {
		// Silent: its warnings (each pre-ticked box) are summed up in the report.
		intakeErr <- intake.Run(ictx, icfg, &cfg.kafka, mapping, secrets, reg, nil, func(a string) { addr <- a })
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a + "/v1/meta"
	case err := <-intakeErr:
		return feed, fmt.Errorf("intake: %w", err)
	}

	w := pipeline.NewWriter(&cfg.kafka)
	defer w.Close()
	const batchSize = 5000
	batch := make([]kafka.Message, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		feed.produced += len(batch)
		batch = batch[:0]
		return nil
	}
	client := &http.Client{Timeout: time.Minute}
	sent := map[string]bool{}
	err = workload.Generate(wl, func(e workload.Event) error {
		key, value := e.Key, e.Value
		if id, ok := metaIDs[string(e.Key)]; ok {
			if e.Kind == workload.KindLead && !e.Malformed && !sent[id] {
				sent[id] = true
				// What was produced before the lead reaches the broker first.
				if err := flush(); err != nil {
					return err
				}
				return feed.sendMeta(ctx, client, url, secrets.MetaAppSecret, graph, id, e.Value)
			}
			key = []byte("meta:" + id)
			value = bytes.ReplaceAll(value, []byte(`"lead_id":"`+string(e.Key)+`"`), []byte(`"lead_id":"meta:`+id+`"`))
		}
		batch = append(batch, kafka.Message{Topic: cfg.kafka.Topic(e.Topic), Key: key, Value: value, Time: e.Time})
		if len(batch) == batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return feed, err
	}
	stopIntake()
	if err := <-intakeErr; err != nil {
		return feed, fmt.Errorf("intake: %w", err)
	}
	feed.preTicked = counterOf(reg, "leadpipe_intake_unmapped_total", "kind", intake.UnmappedPreTick)
	return feed, nil
}

// sendMeta serves lead (a workload lead event) as Meta lead id on the
// stand-in Graph API, and posts the leadgen webhook naming it, signed
// with the app secret, until intake answers 200 (after a 503, once its
// Retry-After has passed).
func (f *demoFeed) sendMeta(ctx context.Context, client *http.Client, url string, secret []byte, graph *demoGraph, id string, lead []byte) error {
	obj, err := demoMetaLead(id, lead)
	if err != nil {
		return err
	}
	graph.put(id, obj)
	// A fixed page and ad: intake reads the lead and form ids.
	body := fmt.Appendf(nil, `{"object":"page","entry":[{"id":"153125381133","time":%d,"changes":[{"field":"leadgen","value":`+
		`{"leadgen_id":%s,"page_id":153125381133,"form_id":%s,"adgroup_id":23850000000001,"ad_id":23850000000001,"created_time":%d}}]}]}`,
		time.Now().Unix(), id, demoMetaForm, time.Now().Unix())
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", signature)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("intake: %w", err)
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			var n struct {
				Produced     int `json:"produced"`
				DeadLettered int `json:"dead_lettered"`
			}
			json.Unmarshal(answer, &n)
			f.metaProduced += n.Produced
			f.metaDeadLettered += n.DeadLettered
			f.metaLeads = append(f.metaLeads, "meta:"+id)
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable && attempt < 10:
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			}
		default:
			return fmt.Errorf("intake answered a Meta webhook %s: %s", resp.Status, bytes.TrimSpace(answer))
		}
	}
}

// demoMetaLead is the Graph API's lead object for a workload lead event:
// its contact as field_data, and an answer on the form's box for each
// purpose it states ("1" granted, "" denied).
func demoMetaLead(id string, event []byte) ([]byte, error) {
	var l schemas.Lead
	if err := json.Unmarshal(event, &l); err != nil {
		return nil, fmt.Errorf("a workload lead: %w", err)
	}
	type field struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
	}
	type answer struct {
		Key       string `json:"checkbox_key"`
		IsChecked string `json:"is_checked"`
	}
	var fields []field
	add := func(name, v string) {
		if v != "" {
			fields = append(fields, field{name, []string{v}})
		}
	}
	if c := l.Contact; c != nil {
		add("email", c.Email)
		add("phone_number", c.Phone)
		add("first_name", c.FirstName)
		add("last_name", c.LastName)
		add("country", c.Country)
		add("company_name", c.Company)
		add("job_title", c.JobTitle)
		if t, err := time.Parse(time.DateOnly, c.BirthDate); err == nil {
			add("date_of_birth", t.Format("01/02/2006")) // as Meta gives it
		}
	}
	answers := []answer{}
	for _, c := range l.Consents {
		if box, ok := demoMetaBoxes[c.Purpose]; ok {
			checked := ""
			if c.Status == "granted" {
				checked = "1"
			}
			answers = append(answers, answer{box, checked})
		}
	}
	platform := "fb"
	if l.Source != nil && l.Source.Network == "instagram" {
		platform = "ig"
	}
	return json.Marshal(map[string]any{
		"id": id, "created_time": l.OccurredAt.UTC().Format("2006-01-02T15:04:05-0700"),
		"ad_id": "23850000000001", "ad_name": "demo-carousel", "campaign_id": "23850000000000", "campaign_name": "demo-lead-ads",
		"form_id": demoMetaForm, "is_organic": false, "platform": platform,
		"field_data": fields, "custom_disclaimer_responses": answers,
	})
}

// demoGraph stands in for Meta's Graph API: GET /{lead-id} gives a lead
// put there, GET /{form-id} the demo's form; only with the page token.
type demoGraph struct {
	token string
	mu    sync.Mutex
	leads map[string][]byte
}

func newDemoGraph() *demoGraph { return &demoGraph{leads: map[string][]byte{}} }

func (g *demoGraph) put(id string, lead []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leads[id] = lead
}

func (g *demoGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != g.token {
		http.Error(w, `{"error":{"message":"Invalid OAuth access token.","code":190}}`, http.StatusUnauthorized)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/")
	if id == demoMetaForm {
		w.Write([]byte(demoMetaFormJSON))
		return
	}
	g.mu.Lock()
	lead, ok := g.leads[id]
	g.mu.Unlock()
	if !ok {
		http.Error(w, `{"error":{"message":"Unsupported get request.","code":100}}`, http.StatusNotFound)
		return
	}
	w.Write(lead)
}

// randomSecret is a fresh secret of the demo's in-process intake.
func randomSecret() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// counterOf sums the counter name of reg over the series whose label is
// value.
func counterOf(reg *prometheus.Registry, name, label, value string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
