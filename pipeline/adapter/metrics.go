package adapter

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// enrichCollectors are the enrich stage's own metrics:
//
//	leadpipe_enrich_grace_expired_total   behavior events that went on after waiting
//	                                      --enrich-grace for classify, with what was known
//	leadpipe_enrich_waiting_seconds       how long enrich has been holding a behavior event
//	                                      for classify to catch up (0: not waiting)
//	leadpipe_enrich_partitions            partitions (tasks) whose leads the process holds
//	leadpipe_enrich_leads                 leads it holds over them
func enrichCollectors(expired, waitingSince *atomic.Int64, partitions, leads func() int) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_enrich_waiting_seconds",
			Help: "How long enrich has been holding a behavior event back until classify has applied every lead and consent event up to it (0: not waiting).",
		}, func() float64 {
			if since := waitingSince.Load(); since != 0 {
				return time.Since(time.Unix(0, since)).Seconds()
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "leadpipe_enrich_grace_expired_total",
			Help: "Behavior events enriched after waiting the grace period for classify, with what was known then.",
		}, func() float64 { return float64(expired.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_enrich_partitions",
			Help: "Partitions (tasks) whose leads this enrich process holds.",
		}, func() float64 { return float64(partitions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_enrich_leads",
			Help: "Leads this enrich process holds, over its partitions.",
		}, func() float64 { return float64(leads()) }),
	}
}

// newSignalCounter counts behavior events by what their consent signals
// allowed:
//
//	leadpipe_enrich_signal_events_total{permission, signal, outcome}
//	    permission analytics or profiling; signal the one that decided it
//	    (tcf, gcm, gcs, cdp, unknown: no signal said anything, the policy's
//	    default decided); outcome allowed or denied. Every enriched event
//	    counts once per permission: for each permission the sum over signal
//	    and outcome is the events enriched (a batch redone after a
//	    rebalance counts again). At most 2 × 5 × 2 series.
func newSignalCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leadpipe_enrich_signal_events_total",
		Help: "Behavior events by permission (analytics, profiling), the consent signal that decided it (tcf, gcm, gcs, cdp, unknown) and the outcome (allowed, denied).",
	}, []string{"permission", "signal", "outcome"})
}

// newUnknownCategoriesCounter counts CDP consent categories that the
// signal policy maps to no permission, which therefore counted for nothing:
//
//	leadpipe_enrich_signal_unknown_categories_total
func newUnknownCategoriesCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "leadpipe_enrich_signal_unknown_categories_total",
		Help: "CDP consent categories on behavior events that the signal policy maps to no permission (they allowed nothing).",
	})
}

// classifyCollectors are the classify stage's own metrics:
//
//	leadpipe_classify_partitions   partitions (tasks) whose state the process holds
//	leadpipe_classify_state_keys   state keys (leads and email keys) it holds over them
//	leadpipe_classify_purged_total quarantined leads purged after the retention
//	leadpipe_classify_ignored_grants_total{method}
//	                               grants ignored because their method is not an
//	                               affirmative act: by the policy's name of the
//	                               method, or "other" (a bounded label)
func classifyCollectors(partitions, keys func() int, purged *atomic.Int64) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_classify_partitions",
			Help: "Partitions (tasks) whose classify state this process holds.",
		}, func() float64 { return float64(partitions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "leadpipe_classify_state_keys",
			Help: "Classify state keys (leads and email keys) this process holds, over its partitions.",
		}, func() float64 { return float64(keys()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "leadpipe_classify_purged_total",
			Help: "Quarantined leads purged after --quarantine-days of event time without a counting consent (a batch redone after a rebalance counts again).",
		}, func() float64 { return float64(purged.Load()) }),
	}
}

// ignoredGrantsCounter is leadpipe_classify_ignored_grants_total.
func ignoredGrantsCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leadpipe_classify_ignored_grants_total",
		Help: "Consent grants ignored because their method is not an affirmative act, by method: the policy's name of it (affirmative_methods, not_affirmative_methods) or other (a batch redone after a rebalance counts again).",
	}, []string{"method"})
}
