package pipeline

import (
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers of a dead-lettered record. The record keeps its original key and
// value, so that nothing is lost and it can be replayed once fixed.
const (
	HeaderStage     = "leadpipe.stage"     // the stage that gave up on it
	HeaderReason    = "leadpipe.reason"    // why, naming the field; no personal data
	HeaderTopic     = "leadpipe.topic"     // where it was consumed from
	HeaderPartition = "leadpipe.partition" // partition, decimal
	HeaderOffset    = "leadpipe.offset"    // offset, decimal
	HeaderTime      = "leadpipe.time"      // when it was dead-lettered, RFC 3339
)

// deadLetter builds the dead-letter record of m.
func deadLetter(dlqTopic, stage string, m *kafka.Message, reason string, now time.Time) kafka.Message {
	return kafka.Message{
		Topic: dlqTopic,
		Key:   m.Key,
		Value: m.Value,
		Headers: append(append([]kafka.Header(nil), m.Headers...),
			kafka.Header{Key: HeaderStage, Value: []byte(stage)},
			kafka.Header{Key: HeaderReason, Value: []byte(reason)},
			kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
			kafka.Header{Key: HeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
		),
	}
}

// Header returns the value of the last header named key, or "".
func Header(m *kafka.Message, key string) string {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return string(m.Headers[i].Value)
		}
	}
	return ""
}
