package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers of a dead-lettered record. The record keeps its original key and
// value, so that nothing is lost and it can be replayed once fixed; one too
// large to copy (maxDeadLetterBytes) is dead-lettered as a reference: its
// coordinates, size and SHA-256, without key, value or headers.
const (
	HeaderStage     = "leadpipe.stage"     // the stage that gave up on it
	HeaderReason    = "leadpipe.reason"    // why, naming the field; no personal data
	HeaderTopic     = "leadpipe.topic"     // where it was consumed from
	HeaderPartition = "leadpipe.partition" // partition, decimal
	HeaderOffset    = "leadpipe.offset"    // offset, decimal
	HeaderTime      = "leadpipe.time"      // when it was dead-lettered, RFC 3339
	HeaderSize      = "leadpipe.size"      // bytes of the original key, value and headers, decimal
	HeaderSHA256    = "leadpipe.sha256"    // SHA-256 of the original value, hex
	HeaderOmitted   = "leadpipe.omitted"   // "true" when key, value and headers were left out
)

// maxDeadLetterBytes bounds the copy of a record in the dead-letter topic,
// well under the writer's batch bytes (NewWriter): a larger record (the
// broker takes up to 1 MiB) is dead-lettered as a reference, so that it can
// never block its partition.
const maxDeadLetterBytes = 256 << 10

// deadLetter builds the dead-letter record of m: a copy with the headers
// above, or, when m is too large to copy, a reference.
func deadLetter(dlqTopic, stage string, m *kafka.Message, reason string, now time.Time) kafka.Message {
	size := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		size += len(h.Key) + len(h.Value)
	}
	sum := sha256.Sum256(m.Value)
	ours := []kafka.Header{
		{Key: HeaderStage, Value: []byte(stage)},
		{Key: HeaderReason, Value: []byte(reason)},
		{Key: HeaderTopic, Value: []byte(m.Topic)},
		{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		{Key: HeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
		{Key: HeaderSize, Value: []byte(strconv.Itoa(size))},
		{Key: HeaderSHA256, Value: []byte(hex.EncodeToString(sum[:]))},
	}
	if size+len(reason) > maxDeadLetterBytes {
		return kafka.Message{Topic: dlqTopic, Headers: append(ours, kafka.Header{Key: HeaderOmitted, Value: []byte("true")})}
	}
	return kafka.Message{
		Topic:   dlqTopic,
		Key:     m.Key,
		Value:   m.Value,
		Headers: append(append([]kafka.Header(nil), m.Headers...), ours...),
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
