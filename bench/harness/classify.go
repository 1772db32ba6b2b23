package main

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/adapter"
	"github.com/leadpipe/leadpipe/pipeline/wire"
)

// runClassify: consume → classify → produce through Kafka, against the
// same runtime copying the records without classifying them. Two more
// variants take classify apart. The fan-out writes, per record consumed,
// as many records and bytes to each output topic as classify wrote in its
// first run, without classifying: what classify's outputs cost the
// runtime and the broker alone. The silent classify classifies and
// writes nothing (so no notice comes back to it either): what the engine
// costs with the runtime's reads and commits alone.
func runClassify(ctx context.Context, o *options, r *report) error {
	events, err := corpus(o.leads*5, false)
	if err != nil {
		return err
	}
	c := comparison{scenario: "classify stage through Kafka", what: "events/s", unit: "lead and consent events",
		variant: "classify", baseline: "passthrough", goal: "≥ 0.6× passthrough", goalRatio: 0.6}
	fc := comparison{scenario: "classify's outputs without classifying", what: "events/s", unit: "lead and consent events",
		variant: "fan-out", baseline: "passthrough"}
	sc := comparison{scenario: "classifying without outputs", what: "events/s", unit: "lead and consent events",
		variant: "silent classify", baseline: "passthrough"}
	var volume []topicVolume         // classify's outputs per record consumed, from its first run
	cpu := map[string][][2]float64{} // per variant and run: leadpipe's and the broker's CPU-s per million events
	for run := range o.runs {
		variants := []string{"passthrough", "classify", "fan-out", "silent classify"}
		if run%2 == 1 { // alternate which goes first
			slices.Reverse(variants)
		}
		if volume == nil {
			variants = []string{"classify", "passthrough", "fan-out", "silent classify"} // the fan-out needs classify's volume
		}
		rates := map[string]float64{}
		for _, variant := range variants {
			cfg := kafkaConfig(o, "classify")
			var rate float64
			err := withTopics(ctx, &cfg, func() error {
				if err := produce(ctx, &cfg, events); err != nil {
					return err
				}
				inputs := []string{cfg.Topic(pipeline.TopicLeadsRaw), cfg.Topic(pipeline.TopicConsentsRaw)}
				add, stage := addClassify(&cfg), variant
				switch variant {
				case "passthrough":
					add = func(rn *pipeline.Runner) error {
						return rn.Add(pipeline.NewPassthroughStage(variant, inputs, cfg.Topic(pipeline.TopicLeadsClassified)), nil)
					}
				case "fan-out":
					add = func(rn *pipeline.Runner) error {
						return rn.Add(&fanOutStage{name: variant, topics: inputs, volume: volume, prefix: cfg.TopicPrefix}, nil)
					}
				case "silent classify":
					stage = "classify"
					add = func(rn *pipeline.Runner) error {
						st, opts, err := wire.Stage(&cfg, settings(nil), "classify")
						if err != nil {
							return err
						}
						return rn.Add(silentStage{st.(*adapter.Classify)}, opts)
					}
				}
				var err error
				var used cpuClock
				if rate, used, err = drainRateCPU(ctx, &cfg, add, stage, len(events)); err != nil {
					return err
				}
				perM := func(c time.Duration) float64 { return c.Seconds() / (float64(len(events)) / 1e6) }
				cpu[variant] = append(cpu[variant], [2]float64{perM(used.self), perM(used.broker)})
				if variant == "classify" && volume == nil {
					volume, err = outputVolume(ctx, &cfg, len(events))
				}
				return err
			})
			if err != nil {
				return err
			}
			rates[variant] = rate
			log.Printf("  run %d %s: %.0f events/s", run+1, variant, rate)
		}
		c.vs, c.bs = append(c.vs, rates["classify"]), append(c.bs, rates["passthrough"])
		fc.vs, fc.bs = append(fc.vs, rates["fan-out"]), append(fc.bs, rates["passthrough"])
		sc.vs, sc.bs = append(sc.vs, rates["silent classify"]), append(sc.bs, rates["passthrough"])
	}
	r.add(c)
	r.add(fc)
	r.add(sc)
	for i, who := range []string{"leadpipe process", "Kafka broker"} {
		col := func(variant string) []float64 {
			var xs []float64
			for _, run := range cpu[variant] {
				xs = append(xs, run[i])
			}
			return xs
		}
		if median(col("passthrough")) == 0 {
			continue // a broker on another machine
		}
		r.add(comparison{scenario: "classify stage through Kafka", what: who + " CPU-s per million events", unit: "its process",
			variant: "classify", baseline: "passthrough", vs: col("classify"), bs: col("passthrough"), lowerIsBetter: true})
		r.add(comparison{scenario: "classify's outputs without classifying", what: who + " CPU-s per million events", unit: "its process",
			variant: "fan-out", baseline: "passthrough", vs: col("fan-out"), bs: col("passthrough"), lowerIsBetter: true})
		r.add(comparison{scenario: "classifying without outputs", what: who + " CPU-s per million events", unit: "its process",
			variant: "silent classify", baseline: "passthrough", vs: col("silent classify"), bs: col("passthrough"), lowerIsBetter: true})
	}
	var recs, bytes float64
	for _, v := range volume {
		recs += v.records
		bytes += v.records * v.size
	}
	r.note(fmt.Sprintf("Classify wrote %.2f records and %.0f bytes per lead or consent event consumed, to %d topics; "+
		"the passthrough writes one record of the event's size (the fan-out variant writes classify's records and bytes, without classifying).",
		recs, bytes, len(volume)))
	return nil
}

// topicVolume is what classify writes to one output topic per record it
// consumes.
type topicVolume struct {
	topic   string  // the name without the prefix (pipeline.Topic*)
	records float64 // records per record consumed
	size    float64 // bytes (key and value) per record
}

// outputVolume reads classify's output topics whole and returns their
// records and bytes per consumed record (n of them).
func outputVolume(ctx context.Context, cfg *pipeline.Config, n int) ([]topicVolume, error) {
	var vs []topicVolume
	for _, t := range []string{pipeline.TopicLeadsClassified, pipeline.TopicLeadsQuarantine, pipeline.TopicAudit,
		pipeline.TopicState, pipeline.TopicSuppressions} {
		var recs, bytes int
		for p := range cfg.Partitions {
			err := pipeline.ScanPartition(ctx, cfg, cfg.Topic(t), p, func(m *kafka.Message) error {
				recs++
				bytes += len(m.Key) + len(m.Value)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", cfg.Topic(t), err)
			}
		}
		if recs > 0 {
			vs = append(vs, topicVolume{topic: t, records: float64(recs) / float64(n), size: float64(bytes) / float64(recs)})
		}
	}
	return vs, nil
}

// fanOutStage writes, for every record it consumes, volume's records of
// volume's sizes to each topic (fractions carried over to the next
// record), keyed by the record's key, and decides nothing.
type fanOutStage struct {
	name, prefix string
	topics       []string
	volume       []topicVolume
	credit       []float64
	buf          []byte
}

func (s *fanOutStage) Name() string     { return s.name }
func (s *fanOutStage) Topics() []string { return s.topics }

func (s *fanOutStage) Process(_ context.Context, m *kafka.Message, out *pipeline.Outputs) (pipeline.Outcome, error) {
	if s.credit == nil {
		s.credit = make([]float64, len(s.volume))
	}
	for i, v := range s.volume {
		s.credit[i] += v.records
		for ; s.credit[i] >= 1; s.credit[i]-- {
			size := max(int(v.size)-len(m.Key), 1)
			for len(s.buf) < size {
				s.buf = append(s.buf, m.Value...)
			}
			value := append([]byte(nil), s.buf[:size]...)
			if v.topic == pipeline.TopicState {
				out.AddTo(s.prefix+v.topic, m.Partition, m.Key, value)
			} else {
				out.Add(s.prefix+v.topic, m.Key, value)
			}
		}
	}
	return pipeline.Produced, nil
}

// silentStage is a stage whose outputs are dropped: it processes each
// record, and what it would write goes nowhere.
type silentStage struct{ *adapter.Classify }

func (s silentStage) Process(ctx context.Context, m *kafka.Message, _ *pipeline.Outputs) (pipeline.Outcome, error) {
	var dropped pipeline.Outputs
	return s.Classify.Process(ctx, m, &dropped)
}

// drainRate runs the stages add adds until stage has consumed n records
// and everything is committed, and returns records per second from the
// first record consumed.
func drainRate(ctx context.Context, cfg *pipeline.Config, add func(*pipeline.Runner) error, stage string, n int) (float64, error) {
	rate, _, err := drainRateCPU(ctx, cfg, add, stage, n)
	return rate, err
}

// drainRateCPU is drainRate, and the CPU time used meanwhile.
func drainRateCPU(ctx context.Context, cfg *pipeline.Config, add func(*pipeline.Runner) error, stage string, n int) (float64, cpuClock, error) {
	x, err := startRunner(ctx, cfg, add)
	if err != nil {
		return 0, cpuClock{}, err
	}
	defer x.stop()
	t0, c0, err := firstConsumed(ctx, x.r, stage)
	if err != nil {
		return 0, cpuClock{}, err
	}
	cpu0 := readCPU()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := x.r.WaitDrained(dctx); err != nil {
		return 0, cpuClock{}, err
	}
	d, used := time.Since(t0), readCPU().sub(cpu0)
	if got := x.r.Counts(stage).Consumed; got < int64(n) {
		return 0, cpuClock{}, fmt.Errorf("%s consumed %d of %d records", stage, got, n)
	}
	return float64(int64(n)-c0) / d.Seconds(), used, nil
}
