package pipeline

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Stage is one step of the pipeline as the runtime sees it: it consumes
// some topics and decides what each record becomes.
type Stage interface {
	// Name is the stage's name ("classify", "enrich", "sink"); its consumer
	// group is Config.Group(Name()).
	Name() string
	// Topics are the full names of the topics the stage consumes.
	Topics() []string
	// Process decides one record. It appends the Kafka records it produces
	// to out and returns where the record ended. An error dead-letters the
	// record, the error text being its reason: it names the field and never
	// carries personal data.
	Process(ctx context.Context, m *kafka.Message, out *Outputs) (Outcome, error)
}

// Starter is implemented by stages with state to restore before the first
// record: Start returns once the stage can process.
type Starter interface {
	Start(ctx context.Context) error
}

// Tasked is implemented by stages that keep state per partition: per task,
// partition p of every input topic. Assign is called with the partition
// numbers of a new generation of the consumer group before any of their
// records (restore their state), Revoke once the generation's last batch
// is flushed and committed (drop it).
type Tasked interface {
	Assign(ctx context.Context, partitions []int) error
	Revoke(partitions []int)
}

// Flusher is implemented by stages that buffer outputs of their own, such as
// the ClickHouse sink. The runtime calls Flush before it writes the batch's
// Kafka outputs and commits its offsets, and retries it until it succeeds.
// Flush may add Kafka records to out (the sink's erasure receipts); it adds
// them only when it succeeds, so a retry does not add them twice.
type Flusher interface {
	Flush(ctx context.Context, out *Outputs) error
}

// Recounter is implemented by Flushers that learn only when they flush
// that some of the batch's records had been written before (the sink finds
// a replayed event already in ClickHouse). Recount returns how many of the
// batch's records counted under each outcome were skipped instead, and
// forgets them; the runtime calls it after a Flush that succeeded, so the
// outcomes keep adding up to the records consumed.
type Recounter interface {
	Recount() map[Outcome]int64
}

// Discarder is implemented by Flushers: Discard drops the outputs buffered
// since the last Flush, when the runtime leaves a batch unwritten to the
// partitions' next owner (a rebalance), and forgets what it knew of the
// partitions' offsets.
type Discarder interface {
	Discard()
}

// Blocker is implemented by stages that can wait inside Process for an
// outside service, as the sink waits for ClickHouse to say which offsets
// already landed. While Blocked is true the runtime reports the stage not
// ready.
type Blocker interface {
	Blocked() bool
}

// Observed is implemented by stages with metrics of their own; the runner
// registers them with its own.
type Observed interface {
	Collectors() []prometheus.Collector
}

// Outputs collects the Kafka records of one batch.
type Outputs struct {
	msgs []kafka.Message
}

// Add appends a record for topic (a full name) with key and value.
func (o *Outputs) Add(topic string, key, value []byte, headers ...kafka.Header) {
	o.msgs = append(o.msgs, kafka.Message{Topic: topic, Key: key, Value: value, Headers: headers})
}

// AddTo appends a record for a given partition of topic: a state
// changelog record goes to its task's partition, not to its key's hash
// (NewWriter's balancer).
func (o *Outputs) AddTo(topic string, partition int, key, value []byte) {
	o.msgs = append(o.msgs, kafka.Message{Topic: topic, Partition: partition, Key: key, Value: value})
}

// Len is the number of records collected.
func (o *Outputs) Len() int { return len(o.msgs) }

// Messages returns the records added, in order.
func (o *Outputs) Messages() []kafka.Message { return o.msgs }

func (o *Outputs) reset() {
	clear(o.msgs)
	o.msgs = o.msgs[:0]
}
