package pipeline

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is where a consumed record ended. Every consumed record ends in
// exactly one outcome, counted once its outputs are durable and its offset
// committed.
type Outcome int

const (
	// Produced: written to an output topic or table (including records
	// whose only output is the audit trail).
	Produced Outcome = iota
	// Quarantined: written to the quarantine topic.
	Quarantined
	// DeadLettered: written to the dead-letter topic with its provenance.
	DeadLettered
	// Skipped: nothing written, because it had been written before: a
	// record consumed again after a restart or a rebalance whose row had
	// landed, or a copy of an event that had (an upstream replay).
	Skipped
	numOutcomes
)

func (o Outcome) String() string {
	switch o {
	case Produced:
		return "produced"
	case Quarantined:
		return "quarantined"
	case DeadLettered:
		return "dead_lettered"
	case Skipped:
		return "skipped"
	}
	return "unknown"
}

// Counts is a snapshot of one stage's record accounting. It keeps the
// identity
//
//	Consumed = Produced + Quarantined + DeadLettered + Skipped + InFlight
//
// where InFlight are records fetched whose offsets are not committed yet.
type Counts struct {
	Consumed, Produced, Quarantined, DeadLettered, Skipped, InFlight int64
}

// stageCounters are the atomics behind both Counts and the Prometheus
// metrics, so the two can never disagree.
type stageCounters struct {
	consumed atomic.Int64
	outcomes [numOutcomes]atomic.Int64
	flushes  atomic.Int64
	failures atomic.Int64 // failed flush attempts (retried)
	ready    atomic.Bool
	stalled  atomic.Bool // lag and no commit for Config.StallAfter (stall.go)
}

func (s *stageCounters) snapshot() Counts {
	// Read outcomes before consumed: a record is counted consumed before it
	// is counted in an outcome, so in-flight never goes negative.
	var c Counts
	c.Produced = s.outcomes[Produced].Load()
	c.Quarantined = s.outcomes[Quarantined].Load()
	c.DeadLettered = s.outcomes[DeadLettered].Load()
	c.Skipped = s.outcomes[Skipped].Load()
	c.Consumed = s.consumed.Load()
	c.InFlight = c.Consumed - c.Produced - c.Quarantined - c.DeadLettered - c.Skipped
	return c
}

// register declares the stage's metrics. All of leadpipe's runtime metrics
// are declared here:
//
//	leadpipe_records_consumed_total{stage}        records fetched from Kafka
//	leadpipe_records_total{stage,outcome}         records whose outcome is durable and committed
//	leadpipe_records_in_flight{stage}             consumed - sum(outcomes)
//	leadpipe_flushes_total{stage}                 batches flushed and committed
//	leadpipe_flush_failures_total{stage}          flush attempts that failed and were retried
//	leadpipe_stage_ready{stage}                   1 when the last flush succeeded and the stage is not blocked
//	leadpipe_stage_stalled{stage}                 1 when it has lag and committed nothing for --stall-after
func (s *stageCounters) register(reg prometheus.Registerer, stage string, ready func() bool) error {
	labels := prometheus.Labels{"stage": stage}
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "leadpipe_records_consumed_total", Help: "Records fetched from Kafka by the stage.", ConstLabels: labels,
		}, func() float64 { return float64(s.consumed.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_records_in_flight", Help: "Records fetched whose offsets are not committed yet.", ConstLabels: labels,
		}, func() float64 { return float64(s.snapshot().InFlight) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "leadpipe_flushes_total", Help: "Batches whose outputs were flushed and offsets committed.", ConstLabels: labels,
		}, func() float64 { return float64(s.flushes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "leadpipe_flush_failures_total", Help: "Flush attempts that failed and were retried.", ConstLabels: labels,
		}, func() float64 { return float64(s.failures.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_stage_stalled", Help: "1 when the stage holds partitions with records left and has committed nothing for --stall-after.", ConstLabels: labels,
		}, func() float64 {
			if s.stalled.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_stage_ready", Help: "1 when the stage's last flush succeeded.", ConstLabels: labels,
		}, func() float64 {
			if ready() {
				return 1
			}
			return 0
		}),
	}
	for o := Outcome(0); o < numOutcomes; o++ {
		o := o
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "leadpipe_records_total", Help: "Records whose outcome is durable and whose offsets are committed, by outcome.",
			ConstLabels: prometheus.Labels{"stage": stage, "outcome": o.String()},
		}, func() float64 { return float64(s.outcomes[o].Load()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
