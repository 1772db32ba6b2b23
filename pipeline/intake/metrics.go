package intake

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The sources, the label of every metric: a fixed set, so labels stay bounded.
const (
	SourceEvents    = "events"
	SourceMeta      = "meta"
	SourceGoogleAds = "google-ads"
	SourceLinkedIn  = "linkedin"
)

// Outcomes of a received record. Every record a request carries ends in
// exactly one, so that, per source,
//
//	received = produced + rejected + dead_lettered + test
//
// where received counts the records of requests that were authenticated
// and read (a 401, 413 or 429 reads no record), and a request answered 503
// counts its records under none of them: the platform sends them again.
const (
	OutcomeProduced     = "produced"      // acknowledged by Kafka on a raw topic
	OutcomeRejected     = "rejected"      // answered 400, with its position and field
	OutcomeDeadLettered = "dead_lettered" // on leadpipe.dlq with its ids and the reason
	OutcomeTest         = "test"          // a platform's test lead, left out
)

// Unmapped kinds: what gave no consent for want of a mapping in
// sources.yaml. Form ids are not labels (a page can have any number of
// forms); the log names them.
const (
	UnmappedForm     = "form"       // the form is not in sources.yaml
	UnmappedCheckbox = "checkbox"   // the box's key is not in the form's entry
	UnmappedPreTick  = "pre_ticked" // the form ticks the box by default: never a consent
	UnmappedAnswer   = "unreadable" // an answer neither "1" nor "", or given twice
)

// Metrics are the intake's metrics, registered on one registry.
type Metrics struct {
	// Requests by source and HTTP status.
	Requests *prometheus.CounterVec
	// Received records by source; Records by source and outcome.
	Received *prometheus.CounterVec
	Records  *prometheus.CounterVec
	// Unmapped answers and forms by source and kind.
	Unmapped *prometheus.CounterVec
	// GraphCalls by outcome: ok, retried (a 5xx, 429 or timeout tried
	// again), failed (given up: the lead is dead-lettered).
	GraphCalls *prometheus.CounterVec
	// ProduceSeconds is the wait for Kafka's acknowledgement of a request's records.
	ProduceSeconds prometheus.Histogram
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadpipe_intake_requests_total",
			Help: "HTTP requests by source and status code."}, []string{"source", "status"}),
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadpipe_intake_received_total",
			Help: "Records read from authenticated requests, by source."}, []string{"source"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadpipe_intake_records_total",
			Help: "Records by source and where they ended: produced, rejected, dead_lettered, test."}, []string{"source", "outcome"}),
		Unmapped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadpipe_intake_unmapped_total",
			Help: "Consent answers and forms that gave no consent for want of a mapping, by source and kind (form, checkbox, pre_ticked, unreadable)."}, []string{"source", "kind"}),
		GraphCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadpipe_intake_graph_calls_total",
			Help: "Graph API calls by outcome: ok, retried, failed."}, []string{"outcome"}),
		ProduceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leadpipe_intake_produce_seconds",
			Help: "Wait for Kafka to acknowledge a request's records.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
	}
	reg.MustRegister(m.Requests, m.Received, m.Records, m.Unmapped, m.GraphCalls, m.ProduceSeconds)
	return m
}
