// Package intake is `leadpipe intake`: an HTTP server that receives the
// platforms' lead webhooks (Meta Lead Ads, Google Ads lead forms, LinkedIn
// Lead Sync) and leadpipe's own events, and produces them to the raw
// topics (leads.raw, consents.raw, behavior.raw), where the stages read
// them. It sits before the first stage of the data flow: what it produces
// is what `leadpipe gen` or a producer of one's own would produce.
//
// What it promises:
//   - a 2xx only once Kafka acknowledged every record of the request
//     (acks=all); a 503 with Retry-After when it did not, so the sender
//     retries;
//   - every record received ends in exactly one place: produced, rejected
//     (the 400 names its position and field, never a value), dead-lettered
//     with its ids (a Meta lead the Graph API would not give), or left out
//     as a platform's test lead; the metrics count each;
//   - a webhook delivered again makes the same records (event ids derive
//     from the platform's ids, keys are lead ids), which the pipeline's
//     dedup collapses into one lead;
//   - nothing is guessed: the platforms' payloads go through the adapters
//     of stages/sources and sources.yaml, which give no consent for what
//     they do not map.
//
// The mapping of each platform is in stages/sources; this package is the
// transport around it: signatures, body limits, rate limits, the Graph API
// fetch with retries, producing, metrics.
package intake

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config configures the intake server. Secrets are never flag values:
// each comes from the file its flag names, else from its environment
// variable (Secrets).
type Config struct {
	// Addr is where the webhooks and /v1/events are served, host:port.
	Addr string
	// MetricsAddr serves /metrics, /healthz and /readyz ("": none).
	MetricsAddr string
	// TLSCert and TLSKey are PEM files; both or neither (plain HTTP,
	// behind a proxy that terminates TLS).
	TLSCert, TLSKey string
	// MaxBodyBytes bounds a request's body: a larger one gets 413.
	MaxBodyBytes int64
	// Rate is the requests per second each source (events, meta,
	// google-ads, linkedin) may send, with bursts of Burst: more get 429.
	Rate  float64
	Burst int
	// ProduceTimeout bounds the wait for Kafka's acknowledgement of a
	// request's records: past it the request gets 503.
	ProduceTimeout time.Duration
	// RetryAfter is the Retry-After a 503 or 429 carries.
	RetryAfter time.Duration
	// GraphURL is the Graph API's base URL, where Meta leads and forms are
	// fetched (GET {GraphURL}/{lead-id}).
	GraphURL string
	// GraphAttempts is how many times a Graph API call is tried before the
	// lead is dead-lettered; GraphBackoff the wait before the first retry,
	// doubled at each; GraphTimeout bounds each attempt.
	GraphAttempts int
	GraphBackoff  time.Duration
	GraphTimeout  time.Duration
	// SourcesFile is the sources.yaml that maps the platforms' forms
	// ("": none, so no form gives consent).
	SourcesFile string
	// Secret files; see Secrets for the environment variables.
	EventsTokenFile, MetaAppSecretFile, MetaVerifyTokenFile, MetaPageTokenFile, GoogleKeyFile, LinkedInSecretFile string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:           ":8443",
		MetricsAddr:    ":9464",
		MaxBodyBytes:   1 << 20,
		Rate:           200,
		Burst:          400,
		ProduceTimeout: 10 * time.Second,
		RetryAfter:     5 * time.Second,
		GraphURL:       "https://graph.facebook.com/v24.0",
		GraphAttempts:  4,
		GraphBackoff:   500 * time.Millisecond,
		GraphTimeout:   10 * time.Second,
	}
}

// RegisterFlags binds every field to a flag on fs.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "address of the webhooks and /v1/events, host:port")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "address of /metrics, /healthz and /readyz (empty: none)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate file: serve HTTPS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file of --tls-cert")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body; a larger one gets 413")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "requests per second each source may send (events, meta, google-ads, linkedin); more get 429")
	fs.IntVar(&c.Burst, "burst", c.Burst, "requests a source may send at once above --rate")
	fs.DurationVar(&c.ProduceTimeout, "produce-timeout", c.ProduceTimeout, "longest wait for Kafka to acknowledge a request's records; past it the request gets 503")
	fs.DurationVar(&c.RetryAfter, "retry-after", c.RetryAfter, "the Retry-After of a 503 or 429 answer")
	fs.StringVar(&c.GraphURL, "graph-url", c.GraphURL, "base URL of Meta's Graph API, where the leads a leadgen webhook names are fetched")
	fs.IntVar(&c.GraphAttempts, "graph-attempts", c.GraphAttempts, "tries of a Graph API call (5xx, 429, timeouts) before the lead is dead-lettered with its ids")
	fs.DurationVar(&c.GraphBackoff, "graph-backoff", c.GraphBackoff, "wait before the first Graph API retry, doubled at each")
	fs.DurationVar(&c.GraphTimeout, "graph-timeout", c.GraphTimeout, "longest a Graph API call may take")
	fs.StringVar(&c.SourcesFile, "sources", c.SourcesFile, "sources.yaml: what each form's consent boxes grant (none: no box gives consent)")
	fs.StringVar(&c.EventsTokenFile, "events-token-file", c.EventsTokenFile, "file of the bearer token of POST /v1/events (else LEADPIPE_EVENTS_TOKEN; neither: the endpoint is off)")
	fs.StringVar(&c.MetaAppSecretFile, "meta-app-secret-file", c.MetaAppSecretFile, "file of the Meta app secret that signs webhooks, X-Hub-Signature-256 (else LEADPIPE_META_APP_SECRET; neither: /v1/meta is off)")
	fs.StringVar(&c.MetaVerifyTokenFile, "meta-verify-token-file", c.MetaVerifyTokenFile, "file of the verify token of Meta's subscription handshake (else LEADPIPE_META_VERIFY_TOKEN)")
	fs.StringVar(&c.MetaPageTokenFile, "meta-page-token-file", c.MetaPageTokenFile, "file of the page access token that reads leads from the Graph API (else LEADPIPE_META_PAGE_TOKEN)")
	fs.StringVar(&c.GoogleKeyFile, "google-key-file", c.GoogleKeyFile, "file of the google_key set on the Google Ads lead forms (else LEADPIPE_GOOGLE_KEY; neither: /v1/google-ads is off)")
	fs.StringVar(&c.LinkedInSecretFile, "linkedin-secret-file", c.LinkedInSecretFile, "file of the LinkedIn app's client secret that signs X-LI-Signature (else LEADPIPE_LINKEDIN_CLIENT_SECRET; neither: /v1/linkedin is off)")
}

// Validate reports every setting that cannot work, each as a sentence
// naming its flag.
func (c *Config) Validate() error {
	var errs []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP"))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("--max-body-bytes must be at least 1024"))
	}
	if c.Rate <= 0 || c.Burst < 1 {
		errs = append(errs, errors.New("--rate must be positive and --burst at least 1"))
	}
	if c.ProduceTimeout <= 0 || c.GraphTimeout <= 0 || c.RetryAfter < time.Second {
		errs = append(errs, errors.New("--produce-timeout and --graph-timeout must be positive, --retry-after at least 1s"))
	}
	if c.GraphAttempts < 1 || c.GraphBackoff < 0 {
		errs = append(errs, errors.New("--graph-attempts must be at least 1 and --graph-backoff not negative"))
	}
	if !strings.HasPrefix(c.GraphURL, "http://") && !strings.HasPrefix(c.GraphURL, "https://") {
		errs = append(errs, fmt.Errorf("--graph-url: %q is not an http(s) URL", c.GraphURL))
	}
	return errors.Join(errs...)
}

// Secrets are what authenticates each source. An empty one turns its
// endpoint off (404): nothing is accepted unauthenticated.
type Secrets struct {
	EventsToken     []byte // bearer token of /v1/events
	MetaAppSecret   []byte // HMAC key of X-Hub-Signature-256
	MetaVerifyToken []byte // hub.verify_token of the subscription handshake
	MetaPageToken   []byte // the Graph API's access token
	GoogleKey       []byte // google_key of the Google Ads lead forms
	LinkedInSecret  []byte // HMAC key of X-LI-Signature
}

// LoadSecrets reads each secret from its file, else from its environment
// variable (LEADPIPE_EVENTS_TOKEN, LEADPIPE_META_APP_SECRET,
// LEADPIPE_META_VERIFY_TOKEN, LEADPIPE_META_PAGE_TOKEN, LEADPIPE_GOOGLE_KEY,
// LEADPIPE_LINKEDIN_CLIENT_SECRET). Meta needs its three together.
func (c *Config) LoadSecrets() (Secrets, error) {
	var s Secrets
	var errs []error
	load := func(dst *[]byte, file, env string) {
		v := os.Getenv(env)
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
				return
			}
			v = string(b)
		}
		if v = strings.TrimSpace(v); v != "" {
			*dst = []byte(v)
		}
	}
	load(&s.EventsToken, c.EventsTokenFile, "LEADPIPE_EVENTS_TOKEN")
	load(&s.MetaAppSecret, c.MetaAppSecretFile, "LEADPIPE_META_APP_SECRET")
	load(&s.MetaVerifyToken, c.MetaVerifyTokenFile, "LEADPIPE_META_VERIFY_TOKEN")
	load(&s.MetaPageToken, c.MetaPageTokenFile, "LEADPIPE_META_PAGE_TOKEN")
	load(&s.GoogleKey, c.GoogleKeyFile, "LEADPIPE_GOOGLE_KEY")
	load(&s.LinkedInSecret, c.LinkedInSecretFile, "LEADPIPE_LINKEDIN_CLIENT_SECRET")
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	meta := [][]byte{s.MetaAppSecret, s.MetaVerifyToken, s.MetaPageToken}
	if n := countSet(meta...); n != 0 && n != len(meta) {
		return s, errors.New("the Meta endpoint needs its app secret, verify token and page token together (--meta-app-secret-file, --meta-verify-token-file, --meta-page-token-file or their LEADPIPE_* variables)")
	}
	if countSet(s.EventsToken, s.MetaAppSecret, s.GoogleKey, s.LinkedInSecret) == 0 {
		return s, errors.New("no source has a secret, so every endpoint would be off: set at least one of --events-token-file, --meta-app-secret-file, --google-key-file, --linkedin-secret-file (or their LEADPIPE_* variables)")
	}
	return s, nil
}

func countSet(bs ...[]byte) int {
	n := 0
	for _, b := range bs {
		if len(b) > 0 {
			n++
		}
	}
	return n
}
