package pipeline

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// PassthroughStage copies records from its topics to one output topic
// without looking at them, or drops them when the output is empty. It is
// the baseline the benchmarks hold the real stages against: the same
// runtime, consumer group, batching, producer and commits, and no work.
type PassthroughStage struct {
	name   string
	topics []string
	output string
}

// NewPassthroughStage returns a stage named name that copies topics (full
// names) to output (a full name; "" to only consume and commit).
func NewPassthroughStage(name string, topics []string, output string) *PassthroughStage {
	return &PassthroughStage{name: name, topics: topics, output: output}
}

func (s *PassthroughStage) Name() string     { return s.name }
func (s *PassthroughStage) Topics() []string { return s.topics }

// Process copies the record.
func (s *PassthroughStage) Process(_ context.Context, m *kafka.Message, out *Outputs) (Outcome, error) {
	if s.output != "" {
		out.Add(s.output, m.Key, m.Value)
	}
	return Produced, nil
}
