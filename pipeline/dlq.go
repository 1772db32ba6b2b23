package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	// HeaderID names the dead letter: the same for every time the same
	// record of the same topic partition is dead-lettered by the same
	// stage (a replay after a crash or a group reset dead-letters it
	// again), so that its copies are counted once (DeadLetterID).
	HeaderID = "leadpipe.dead_letter_id"
)

// DeadLetterID is the id of the dead letter of the record at topic,
// partition and offset that stage gave up on: 32 hex digits of a SHA-256
// of them and of the value's SHA-256 (valueSHA256, hex), which tells a
// record from another at the same offset of a topic recreated since.
func DeadLetterID(stage, topic string, partition int, offset int64, valueSHA256 string) string {
	h := sha256.New()
	for _, s := range []string{stage, topic, strconv.Itoa(partition), strconv.FormatInt(offset, 10), valueSHA256} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

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
	valueSHA := hex.EncodeToString(sum[:])
	ours := []kafka.Header{
		{Key: HeaderStage, Value: []byte(stage)},
		{Key: HeaderReason, Value: []byte(reason)},
		{Key: HeaderTopic, Value: []byte(m.Topic)},
		{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		{Key: HeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
		{Key: HeaderSize, Value: []byte(strconv.Itoa(size))},
		{Key: HeaderSHA256, Value: []byte(valueSHA)},
		{Key: HeaderID, Value: []byte(DeadLetterID(stage, m.Topic, m.Partition, m.Offset, valueSHA))},
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

// DeadLetterOf is the dead-letter record of m that stage gives up on,
// as the runner writes it: for a record that never reached a topic (one
// `leadpipe intake` received but could not complete), m.Topic is the topic
// it was bound for and its partition and offset are -1, so that its
// dead-letter id derives from its value alone and a platform's redelivery
// of it makes the same dead letter.
func DeadLetterOf(dlqTopic, stage string, m *kafka.Message, reason string, now time.Time) kafka.Message {
	return deadLetter(dlqTopic, stage, m, reason, now)
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

// DeadLetters reads the dead-letter topic to its end and counts its
// records, and the dead letters they are (distinct HeaderID; a record
// written before the id existed counts as one of its own): a replay that
// dead-letters a record again adds a record, not a dead letter.
func DeadLetters(ctx context.Context, cfg *Config) (records, distinct int, err error) {
	topic := cfg.Topic(TopicDLQ)
	md, err := cfg.Client(10*time.Second).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	ids := map[string]struct{}{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, 0, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			err := ScanPartition(ctx, cfg, topic, p.ID, func(m *kafka.Message) error {
				records++
				id := Header(m, HeaderID)
				if id == "" {
					id = fmt.Sprintf("%d/%d", m.Partition, m.Offset)
				}
				ids[id] = struct{}{}
				return nil
			})
			if err != nil {
				return 0, 0, fmt.Errorf("read %s[%d]: %w", topic, p.ID, err)
			}
		}
	}
	return records, len(ids), nil
}
