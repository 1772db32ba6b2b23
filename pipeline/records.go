package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicRecords returns how many records the topics (full names) hold
// between their first and end offsets, summed.
func TopicRecords(ctx context.Context, cfg *Config, topics ...string) (int64, error) {
	client := cfg.Client(10 * time.Second)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	ends, err := endOffsets(ctx, client, req)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, ps := range ends {
		for _, p := range ps {
			n += p.LastOffset - p.FirstOffset
		}
	}
	return n, nil
}
