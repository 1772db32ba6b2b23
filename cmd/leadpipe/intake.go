package main

import (
	"context"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/intake"
	"github.com/leadpipe/leadpipe/stages/sources"
)

const intakeSynopsis = `Usage: leadpipe intake [--sources FILE] [--addr HOST:PORT] [flags]

Receives leads over HTTP and produces them to the raw topics (leads.raw,
consents.raw, behavior.raw), where leadpipe run's stages read them:

  POST /v1/events      leadpipe's own events, JSON lines, with
                       Authorization: Bearer TOKEN (--events-token-file)
  GET  /v1/meta        Meta's subscription handshake (hub.verify_token)
  POST /v1/meta        Meta Lead Ads leadgen webhooks, signed
                       (X-Hub-Signature-256 with the app secret); each lead
                       is fetched from the Graph API with its form
  POST /v1/google-ads  Google Ads lead form webhooks (google_key)
  GET  /v1/linkedin    LinkedIn's webhook validation (challengeCode)
  POST /v1/linkedin    LinkedIn Lead Sync notifications, signed
                       (X-LI-Signature): DELETED erases the lead; CREATED
                       is dead-lettered with its ids, to import

A source without its secret is off (404). Secrets come from the files the
flags name, else from LEADPIPE_EVENTS_TOKEN, LEADPIPE_META_APP_SECRET,
LEADPIPE_META_VERIFY_TOKEN, LEADPIPE_META_PAGE_TOKEN, LEADPIPE_GOOGLE_KEY,
LEADPIPE_LINKEDIN_CLIENT_SECRET; never from a flag's value.

Answers: 200 once Kafka acknowledged every record of the request
(acks=all); 400 with each bad record's position and field (never a value),
nothing produced; 401 for a bad signature, token or key; 413 over
--max-body-bytes; 429 over --rate; 503 with Retry-After when Kafka did not
acknowledge: send again, nothing is lost and nothing is doubled (event ids
derive from the platforms' ids). A Meta lead the Graph API does not give
after --graph-attempts goes to leadpipe.dlq with its ids.

What each form's consent boxes grant is --sources (sources.yaml, as for
leadpipe import): an unmapped form or box gives no consent, and is counted
in leadpipe_intake_unmapped_total on --metrics-addr.

Example:
  LEADPIPE_EVENTS_TOKEN=... leadpipe intake --brokers kafka:9092 --sources sources.yaml \
    --meta-app-secret-file /run/secrets/meta_app_secret --meta-verify-token-file /run/secrets/meta_verify \
    --meta-page-token-file /run/secrets/meta_page_token --tls-cert cert.pem --tls-key key.pem`

func cmdIntake(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	kcfg := pipeline.DefaultConfig()
	cfg := intake.DefaultConfig()
	var logs logFlags
	fs := newFlagSet("intake", intakeSynopsis, stdout, stderr)
	cfg.RegisterFlags(fs)
	kcfg.RegisterConnFlags(fs)
	logs.register(fs)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "leadpipe intake: %v\n", err)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, fmt.Errorf("takes no arguments, got %q", fs.Args()))
	}
	if err := cfg.Validate(); err != nil {
		return fail(2, err)
	}
	if err := kcfg.Validate(); err != nil {
		return fail(2, err)
	}
	log, err := logs.logger(stderr)
	if err != nil {
		return fail(2, err)
	}
	secrets, err := cfg.LoadSecrets()
	if err != nil {
		return fail(2, err)
	}
	mapping := &sources.Config{}
	if cfg.SourcesFile != "" {
		if mapping, err = sources.LoadConfig(cfg.SourcesFile); err != nil {
			return fail(2, err)
		}
	} else {
		log.Warn("no --sources file: no consent box of any form gives consent")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := intake.Run(ctx, cfg, &kcfg, mapping, secrets, reg, log, nil); err != nil {
		return fail(1, err)
	}
	return 0
}
