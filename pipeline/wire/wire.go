// Package wire builds leadpipe's three stages from their settings and adds
// them to a pipeline.Runner. It is the one place their defaults are
// written: `leadpipe run`, `leadpipe demo` and the benchmark harness all
// build their stages here.
package wire

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// Stages, in pipeline order.
var Stages = []string{"classify", "enrich", "sink"}

// Settings are what the stages need besides the Kafka Config.
type Settings struct {
	// Policy decides classify's rules; nil is the default policy.
	Policy *classify.Policy
	// RPO is the check of the Registro Pubblico delle Opposizioni that
	// limits phone_marketing (classify.RPO); nil: none.
	RPO *classify.RPO
	// Keys computes the pseudonymous keys (classify, enrich).
	Keys *pseudonym.Keyer
	// Limits bound the events the stages decode.
	Limits schemas.Limits
	// QuarantineRetention is how long, in event time, classify keeps a
	// lead quarantined without a counting consent before it purges it;
	// zero keeps it.
	QuarantineRetention time.Duration
	// EnrichMaxLeads bounds the leads enrich holds.
	EnrichMaxLeads int
	// EnrichGrace is the longest a behavior event waits for classify; zero
	// waits as long as classify takes (adapter.Enrich).
	EnrichGrace time.Duration
	// EnrichProduceDelay is how long after a behavior record a lead or
	// consent record sent before it may reach the broker and still be
	// waited for by enrich.
	EnrichProduceDelay time.Duration
	// Signals decides what a behavior event's consent signals allow
	// (enrich); nil is the default policy without a TCF vendor id.
	Signals *enrich.SignalPolicy
	// Sink are the sink's batch limits: it inserts fewer, larger batches
	// than the Kafka stages.
	Sink pipeline.StageOptions
	// Writer lands the sink's rows; needed when the sink is added.
	Writer *analytics.Writer
	// ErasureEvery is how often the sink carries out the queued erasures,
	// all in one set of mutations; zero carries out each batch's in it.
	ErasureEvery time.Duration
	// LedgerAnchorEvery is how often the sink anchors the decision
	// ledger's heads in ClickHouse (zero: every flush); LedgerKey signs the
	// anchors (nil: unsigned).
	LedgerAnchorEvery time.Duration
	LedgerKey         ed25519.PrivateKey
	// Log gets what the stages log besides the runner (the sink's
	// erasures); nil is slog.Default().
	Log *slog.Logger
}

// Defaults returns the stages' defaults.
func Defaults() Settings {
	return Settings{
		Limits:              schemas.DefaultLimits(),
		QuarantineRetention: 30 * 24 * time.Hour,
		EnrichMaxLeads:      1_000_000,
		EnrichGrace:         0,
		EnrichProduceDelay:  adapter.DefaultProduceDelay,
		Sink:                pipeline.StageOptions{BatchRecords: 50_000, BatchBytes: 64 << 20, BatchAge: time.Second},
		ErasureEvery:        time.Minute,
		LedgerAnchorEvery:   time.Minute,
	}
}

// Add builds the named stages (of Stages) and adds them to r.
func Add(r *pipeline.Runner, cfg *pipeline.Config, s Settings, stages ...string) error {
	for _, name := range stages {
		st, opts, err := Stage(cfg, s, name)
		if err != nil {
			return err
		}
		if err := r.Add(st, opts); err != nil {
			return err
		}
	}
	return nil
}

// Stage builds one named stage (of Stages) and the batch limits it is
// added with (nil: the Config's).
func Stage(cfg *pipeline.Config, s Settings, name string) (pipeline.Stage, *pipeline.StageOptions, error) {
	switch name {
	case "classify":
		p := s.Policy
		if p == nil {
			p = classify.DefaultPolicy()
		}
		e := classify.New(p, s.Keys)
		e.QuarantineRetention = s.QuarantineRetention
		e.RPO = s.RPO
		return adapter.NewClassify(cfg, e, s.Limits), nil, nil
	case "enrich":
		e := adapter.NewEnrich(cfg, s.Keys, s.Limits, s.EnrichMaxLeads, s.EnrichGrace)
		e.ProduceDelay = s.EnrichProduceDelay
		if s.Signals != nil {
			e.Signals = s.Signals
		}
		return e, nil, nil
	case "sink":
		if s.Writer == nil {
			return nil, nil, fmt.Errorf("the sink needs a ClickHouse writer")
		}
		opts := s.Sink
		sk := adapter.NewSink(cfg, s.Writer)
		sk.ErasureEvery, sk.Log = s.ErasureEvery, s.Log
		sk.AnchorEvery, sk.AnchorKey = s.LedgerAnchorEvery, s.LedgerKey
		return sk, &opts, nil
	default:
		return nil, nil, fmt.Errorf("no stage %q: the stages are %v", name, Stages)
	}
}
