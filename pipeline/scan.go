package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// ScanPartition calls fn with every record of one topic partition, from
// its first offset to the end it has when ScanPartition starts. It is how
// a task restores its state from a changelog partition, and how the
// subject-access and erasure commands find a lead's records.
func ScanPartition(ctx context.Context, cfg *Config, topic string, partition int, fn func(*kafka.Message) error) error {
	first, end, err := PartitionBounds(ctx, cfg, topic, partition)
	if err != nil || end <= first {
		return err
	}
	return ReadPartition(ctx, cfg, topic, partition, first, func(m *kafka.Message) (bool, error) {
		return m.Offset+1 >= end, fn(m)
	})
}

// EndOffset returns the offset the next record of a topic partition will
// have.
func EndOffset(ctx context.Context, cfg *Config, topic string, partition int) (int64, error) {
	_, end, err := PartitionBounds(ctx, cfg, topic, partition)
	return end, err
}

// PartitionBounds returns the first offset a topic partition holds and the
// offset its next record will have.
func PartitionBounds(ctx context.Context, cfg *Config, topic string, partition int) (first, end int64, err error) {
	client := cfg.Client(10 * time.Second)
	ends, err := endOffsets(ctx, client, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(partition), kafka.LastOffsetOf(partition)},
	}})
	if err != nil {
		return 0, 0, err
	}
	for _, po := range ends[topic] {
		first, end = po.FirstOffset, po.LastOffset
	}
	return first, end, nil
}

// ReadPartition calls fn with the records of one topic partition from
// offset from on, waiting for new ones, until fn says stop, fn fails or
// ctx ends.
func ReadPartition(ctx context.Context, cfg *Config, topic string, partition int, from int64, fn func(*kafka.Message) (stop bool, err error)) error {
	r, err := partitionReader(cfg, topic, partition, from, 1000)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return err
		}
		stop, err := fn(&m)
		if err != nil {
			return fmt.Errorf("offset %d: %w", m.Offset, err)
		}
		if stop {
			return nil
		}
	}
}

// KeyPartition returns the partition of topic that the writer puts key
// on: its murmur2 hash over the topic's partition count, as the Java
// client does. Co-partitioned topics give a key the same partition.
func KeyPartition(ctx context.Context, cfg *Config, topic string, key []byte) (int, error) {
	client := cfg.Client(10 * time.Second)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		return 0, fmt.Errorf("topic %s does not exist (leadpipe topics creates it)", topic)
	}
	ids := make([]int, len(md.Topics[0].Partitions))
	for i := range ids {
		ids[i] = i
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: key}, ids...), nil
}
