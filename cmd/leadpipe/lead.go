package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/pflag"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

const leadSynopsis = `Usage: leadpipe lead [flags] LEAD_ID
       leadpipe lead [flags] --email ADDRESS
       leadpipe lead [flags] --phone NUMBER [--country CC]

Prints, as JSON, what leadpipe holds about one person: the basis of an
answer to an access request (GDPR Art. 15). For each lead of the person
(the lead id given, or every lead classify knows under the email address or
phone number, which are keyed with the HMAC key and never printed or logged):

  classify    its current decision and purposes with the rules evaluated
              and the consents they rest on, its consent history, the
              suppression entries in force, its contact keys, the events
              applied (leadpipe.state, as classify holds it now)
  audit       every decision recorded for it (leadpipe.audit)
  clickhouse  its rows in every table, by lead key, and its erasure receipt

It reads the lead's partition of leadpipe.state and leadpipe.audit from the
start, so it takes as long as those partitions take to read. Exit status: 0
when answered (also when nothing is held), 1 when Kafka or ClickHouse fails,
2 on bad usage.

Example:
  leadpipe lead --brokers kafka:9092 --clickhouse clickhouse:9000 \
      --hmac-key-file /run/secrets/hmac --email anna@example.com`

// subjectFlags are the flags of the commands that look up or act on one
// person: where Kafka and ClickHouse are, and the key.
type subjectFlags struct {
	kafka      pipeline.Config
	ch         analytics.Config
	keys       keyFlags
	policyFile string
}

func (f *subjectFlags) register(fs *pflag.FlagSet) {
	f.kafka = pipeline.DefaultConfig()
	f.ch = analytics.DefaultConfig()
	f.kafka.RegisterConnFlags(fs)
	f.ch.RegisterFlags(fs)
	f.keys.register(fs)
}

func (f *subjectFlags) validate() error {
	if err := f.kafka.Validate(); err != nil {
		return err
	}
	return f.ch.Validate()
}

// subjectReport is the output of leadpipe lead.
type subjectReport struct {
	// Query is what was looked up: a lead id, or contact keys.
	Query struct {
		LeadID      string   `json:"lead_id,omitempty"`
		ContactKeys []string `json:"contact_keys,omitempty"`
	} `json:"query"`
	Leads []subjectLead `json:"leads"`
}

type subjectLead struct {
	LeadID     string                      `json:"lead_id"`
	LeadKey    string                      `json:"lead_key"`
	KeyVersion string                      `json:"key_version"`
	Classify   *classify.Access            `json:"classify"`
	Audit      []json.RawMessage           `json:"audit"`
	ClickHouse map[string][]map[string]any `json:"clickhouse"`
}

func cmdLead(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var f subjectFlags
	fs := newFlagSet("lead", leadSynopsis, stdout, stderr)
	f.register(fs)
	email := fs.String("email", "", "look the person up by email address")
	phone := fs.String("phone", "", "look the person up by phone number")
	country := fs.String("country", "", "country of a --phone number written without its country code (ISO 3166-1 alpha-2)")
	fs.StringVar(&f.policyFile, "policy", "", "YAML policy classify runs with, to explain the current decision by (default: the built-in one)")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "leadpipe lead: "+format+"\n", a...)
		return code
	}
	given := 0
	for _, v := range []string{*email, *phone} {
		if v != "" {
			given++
		}
	}
	if fs.NArg() > 0 {
		given++
	}
	if given != 1 || fs.NArg() > 1 {
		return fail(2, "give one lead id, or --email, or --phone (see --help)")
	}
	if err := f.validate(); err != nil {
		return fail(2, "%v", err)
	}
	keyer, err := f.keys.keyer()
	if err != nil {
		return fail(2, "%v", err)
	}
	policy := classify.DefaultPolicy()
	if f.policyFile != "" {
		if policy, err = classify.LoadPolicy(f.policyFile); err != nil {
			return fail(2, "%v", err)
		}
	}
	engine := classify.New(policy, keyer)

	var report subjectReport
	var ids []string
	switch {
	case fs.NArg() == 1:
		ids = []string{fs.Arg(0)}
		report.Query.LeadID = fs.Arg(0)
	default:
		keys, why := contactKeys(keyer, policy, *email, *phone, *country)
		if why != "" {
			return fail(2, "%s", why)
		}
		report.Query.ContactKeys = keys
		if ids, err = contactLeads(ctx, &f.kafka, keys); err != nil {
			return fail(1, "%v", err)
		}
	}
	conn, err := analytics.Open(ctx, f.ch)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer conn.Close()
	report.Leads = []subjectLead{}
	for _, id := range ids {
		l, err := lookUpLead(ctx, &f, engine, keyer, id)
		if err == nil {
			l.ClickHouse, err = analytics.SubjectRows(ctx, conn, f.ch.Database, l.LeadKey)
		}
		if err != nil {
			return fail(1, "%v", err)
		}
		if l.Classify == nil && len(l.Audit) == 0 && len(l.ClickHouse) == 0 {
			continue // nothing held under this id
		}
		report.Leads = append(report.Leads, l)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&report); err != nil {
		return fail(1, "%v", err)
	}
	if len(report.Leads) == 0 {
		fmt.Fprintln(stderr, "leadpipe lead: nothing is held about this person")
	}
	return 0
}

// contactKeys are the keys an email address or a phone number is matched
// by, as classify keys them (Engine: normalised, with and without a
// sub-address; E.164). why says what is wrong with the value, without it.
func contactKeys(k *pseudonym.Keyer, p *classify.Policy, email, phone, country string) (keys []string, why string) {
	if email != "" {
		addr, why := schemas.NormalizeEmail(email)
		if why != "" {
			return nil, "--email: " + why
		}
		keys = append(keys, k.EmailKey(addr))
		if base, ok := schemas.BaseAddress(addr); ok && (p.SubAddressing == nil || *p.SubAddressing) {
			keys = append(keys, k.EmailKey(base))
		}
		return keys, ""
	}
	num, ok := schemas.NormalizePhone(phone, country)
	if !ok {
		return nil, "--phone: not a phone number that can be told; write it with its country code, or give --country"
	}
	return []string{k.PhoneKey(num)}, ""
}

// contactLeads returns the lead ids classify holds under the contact keys:
// each key's entry of leadpipe.state is on the partition of its key.
func contactLeads(ctx context.Context, cfg *pipeline.Config, keys []string) ([]string, error) {
	var ids []string
	for _, key := range keys {
		st, err := stateOf(ctx, cfg, cfg.Topic(pipeline.TopicSuppressions), key, classify.ContactStateKey(key))
		if err != nil {
			return nil, err
		}
		for _, id := range st.ContactLeads(key) {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// stateOf reads the entry stateKey of leadpipe.state into a State: it is
// on the partition that routeKey has on routeTopic, co-partitioned with
// leadpipe.state.
func stateOf(ctx context.Context, cfg *pipeline.Config, routeTopic, routeKey, stateKey string) (*classify.State, error) {
	p, err := pipeline.KeyPartition(ctx, cfg, routeTopic, []byte(routeKey))
	if err != nil {
		return nil, err
	}
	st := classify.NewState()
	topic := cfg.Topic(pipeline.TopicState)
	err = pipeline.ScanPartition(ctx, cfg, topic, p, func(m *kafka.Message) error {
		if string(m.Key) != stateKey {
			return nil
		}
		return st.Restore(stateKey, m.Value)
	})
	if err != nil {
		return nil, fmt.Errorf("read %s[%d]: %w", topic, p, err)
	}
	return st, nil
}

// lookUpLead returns what classify and the audit trail hold of one lead
// id; ClickHouse's rows are added by the caller.
func lookUpLead(ctx context.Context, f *subjectFlags, engine *classify.Engine, keyer *pseudonym.Keyer, id string) (subjectLead, error) {
	cfg := &f.kafka
	l := subjectLead{LeadID: id, LeadKey: keyer.LeadKey(id), KeyVersion: keyer.Version(), Audit: []json.RawMessage{}}
	st, err := stateOf(ctx, cfg, cfg.Topic(pipeline.TopicLeadsRaw), id, classify.LeadStateKey(l.LeadKey))
	if err != nil {
		return l, err
	}
	if a, ok := engine.Access(st, l.LeadKey, time.Now()); ok {
		l.Classify = &a
	}
	topic := cfg.Topic(pipeline.TopicAudit)
	p, err := pipeline.KeyPartition(ctx, cfg, topic, []byte(id))
	if err != nil {
		return l, err
	}
	err = pipeline.ScanPartition(ctx, cfg, topic, p, func(m *kafka.Message) error {
		if string(m.Key) == id && json.Valid(m.Value) {
			l.Audit = append(l.Audit, json.RawMessage(m.Value))
		}
		return nil
	})
	if err != nil {
		return l, fmt.Errorf("read %s[%d]: %w", topic, p, err)
	}
	return l, nil
}
