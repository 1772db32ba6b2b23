package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/enrich"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// benchNow is the processing time of every benchmark: after the workload's
// last event, so that no consent is in the future.
var benchNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// corpus is the well-formed events of the default workload (seed 1, 1,000
// leads, 20 behavior events per lead), in the order the stages read them,
// raw and decoded, with what the classify engine makes of them.
type corpus struct {
	// classify holds the lead and consent events, raw and decoded.
	classify       [][]byte
	classifyEvents []schemas.Event
	classifyBytes  int64 // mean bytes per event
	// results are the engine's results for classify, in order, from one
	// State.
	results []classify.Result
	// behavior holds the behavior events, raw and decoded.
	behavior       [][]byte
	behaviorEvents []*schemas.Behavior
	behaviorBytes  int64 // mean bytes per event
	// leads holds every classification the classify stage emitted, as the
	// enrich stage's table holds them after following the topics.
	leads *enrich.Leads
}

// newEngine is the engine of the classify stage: the default policy, the
// development key.
func newEngine() *classify.Engine {
	return classify.New(classify.DefaultPolicy(), pseudonym.Development())
}

var loadCorpus = sync.OnceValues(func() (*corpus, error) {
	wl := workload.DefaultConfig()
	wl.MalformedRate = 0
	events, err := workload.All(wl)
	if err != nil {
		return nil, err
	}
	c := &corpus{leads: enrich.NewLeads(1_000_000)}
	l := schemas.DefaultLimits()
	var cb, bb int64
	for _, e := range events {
		ev, err := schemas.Decode(e.Value, l)
		if err != nil {
			return nil, err
		}
		switch ev := ev.(type) {
		case *schemas.Behavior:
			c.behavior = append(c.behavior, e.Value)
			c.behaviorEvents = append(c.behaviorEvents, ev)
			bb += int64(len(e.Value))
		default:
			c.classify = append(c.classify, e.Value)
			c.classifyEvents = append(c.classifyEvents, ev)
			cb += int64(len(e.Value))
		}
	}
	c.classifyBytes, c.behaviorBytes = cb/int64(len(c.classify)), bb/int64(len(c.behavior))

	e, st := newEngine(), classify.NewState()
	for i, ev := range c.classifyEvents {
		res := classifyEvent(e, ev, c.classify[i], st)
		c.results = append(c.results, res)
		if r := res.Record; r.Decision != classify.DecisionNoLead {
			// What adapter.Enrich takes from leads.classified and
			// leads.quarantine.
			c.leads.Put(r.Key, enrich.Lead{
				Seq: r.Seq, AsOf: r.AsOf, Timeline: r.Timeline, LeadKey: r.LeadKey, KeyVersion: r.KeyVersion,
			})
		}
	}
	return c, nil
})

// load returns the corpus, set up for a benchmark of one classify event
// (or behavior event) per op.
func load(b *testing.B, behavior bool) *corpus {
	b.Helper()
	c, err := loadCorpus()
	if err != nil {
		b.Fatal(err)
	}
	if behavior {
		b.SetBytes(c.behaviorBytes)
	} else {
		b.SetBytes(c.classifyBytes)
	}
	b.ReportAllocs()
	return c
}

// classifyEvent runs the engine on a decoded lead or consent event.
func classifyEvent(e *classify.Engine, ev schemas.Event, raw []byte, st *classify.State) classify.Result {
	res, err := e.Apply(ev, raw, st, benchNow)
	if err != nil {
		panic(err) // the workload reuses no event id
	}
	return res
}
