package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// CoPartitioned is implemented by stages whose inputs must be partitioned
// alike: a lead's events on every one of these topics are on the same
// partition number, so that they meet in one process. The runtime refuses
// to start such a stage on topics with different partition counts.
type CoPartitioned interface {
	CoPartitioned() []string
}

// preflightTimeout bounds the checks before the stages start: a broker
// that does not answer by then is reported, not waited for.
const preflightTimeout = 20 * time.Second

// preflight checks, before any stage starts, what every stage needs of
// Kafka: that a broker answers, that every topic leadpipe reads or writes
// exists, and that co-partitioned inputs have one partition count. It
// returns one error that names the cause and what to do.
func (r *Runner) preflight(ctx context.Context) error {
	var topics []string
	for _, t := range AllTopics {
		topics = append(topics, r.cfg.Topic(t.Name))
	}
	for _, s := range r.stages {
		topics = append(topics, s.stage.Topics()...)
		if cp, ok := s.stage.(CoPartitioned); ok {
			topics = append(topics, cp.CoPartitioned()...)
		}
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)

	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	client := r.cfg.Client(preflightTimeout)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("cannot reach Kafka at %s: %w (check --brokers)", strings.Join(r.cfg.Brokers, ","), err)
	}
	partitions := map[string]int{}
	var missing []string
	for _, t := range md.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				missing = append(missing, t.Name)
				continue
			}
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		partitions[t.Name] = len(t.Partitions)
	}
	for _, t := range topics {
		if _, ok := partitions[t]; !ok && !slices.Contains(missing, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("topics missing on Kafka at %s: %s (create them with `leadpipe topics`, with the same --topic-prefix)",
			strings.Join(r.cfg.Brokers, ","), strings.Join(missing, ", "))
	}
	for _, s := range r.stages {
		cp, ok := s.stage.(CoPartitioned)
		if !ok {
			continue
		}
		var counts []string
		same := true
		first := partitions[cp.CoPartitioned()[0]]
		for _, t := range cp.CoPartitioned() {
			counts = append(counts, fmt.Sprintf("%s has %d", t, partitions[t]))
			same = same && partitions[t] == first
		}
		if !same {
			return fmt.Errorf("stage %s needs its input topics partitioned alike, so that a lead's events meet in one process, but %s; recreate them with one partition count (leadpipe topics --partitions N)",
				s.stage.Name(), strings.Join(counts, ", "))
		}
	}
	return nil
}
