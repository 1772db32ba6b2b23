package pipeline

// This file holds what happens to a batch: each record processed into it
// (process, dead letters included), the fetch loop that feeds the tasks,
// and the flush: outputs written, changelog after them, offsets committed
// only while the generation is this process's.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// process runs the stage on one record and adds it to the batch; an error
// of the stage dead-letters the record. It returns an error only when the
// stage was stopped while it waited: the record then stays uncommitted and
// is consumed again after the restart.
func (s *stageRun) process(ctx context.Context, m *kafka.Message, b *batch, dlq string, log *slog.Logger) error {
	s.counters.consumed.Add(1)
	outcome, err := s.stage.Process(ctx, m, &b.out)
	if err != nil && ctx.Err() != nil {
		s.counters.consumed.Add(-1) // consumed again, by whoever has the partition next
		return err
	}
	if err != nil {
		b.out.msgs = append(b.out.msgs, deadLetter(dlq, s.stage.Name(), m, err.Error(), time.Now()))
		outcome = DeadLettered
		log.Debug("dead-lettered", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", err.Error())
	}
	b.outcomes[outcome]++
	b.records++
	b.bytes += len(m.Value) + len(m.Key)
	pk := partitionKey{m.Topic, m.Partition}
	if _, ok := b.first[pk]; !ok {
		b.first[pk] = m.Offset
	}
	b.last[pk] = *m
	return nil
}

// fetch reads one assigned partition from offset into in.ch until ctx
// ends, nudging wake after each record.
func fetch(ctx context.Context, cfg *Config, in *input, offset int64, wake chan<- struct{}) error {
	r, err := partitionReader(cfg, in.topic, in.partition, offset, 256)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("%s[%d]: %w", in.topic, in.partition, err)
		}
		select {
		case in.ch <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

func newBatch() *batch {
	return &batch{first: map[partitionKey]int64{}, last: map[partitionKey]kafka.Message{}}
}

type partitionKey struct {
	topic     string
	partition int
}

// batch is what was processed since the last commit.
type batch struct {
	records      int
	bytes        int
	outcomes     [numOutcomes]int64
	out          Outputs
	first        map[partitionKey]int64 // offset of the first record per partition
	last         map[partitionKey]kafka.Message
	started      time.Time // when its first record was processed
	flushed      bool      // the stage's own outputs are durable
	producing    bool      // writing the Kafka outputs has begun: they are finished before the batch is given up
	headProduced bool      // the outputs other than the state changelog are durable
	produced     bool      // the Kafka outputs are durable
}

// flush makes the batch durable, then commits its offsets, retrying with
// backoff what may go away by itself (IsRetryable) until it succeeds or ctx
// ends; any other error stops the stage. Only then are the batch's outcomes
// counted.
//
// An attempt under way when ctx ends (the process stops) goes on for up to
// Config.FlushGrace: cut off, a ClickHouse INSERT has an unknown outcome. The
// server may still be writing its parts when the sink, resuming the batch,
// reads back which offsets landed; it then finds them missing and inserts
// them again, and the materialized views count them twice (a sink stopped
// under load in TestSinksJoiningAndLeavingUnderLoadLandWhatOneSinkLands).
// A Kafka write cut off is written again in full, doubling its records.
func (s *stageRun) flush(ctx context.Context, gen *kafka.Generation, b *batch, log *slog.Logger) error {
	if b.records == 0 {
		return nil
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(s.r.cfg.FlushGrace, cancel) })()
	backoff := 100 * time.Millisecond
	for {
		err := s.flushOnce(actx, gen, b)
		if err == nil {
			break
		}
		if errors.Is(err, errGenerationGone) {
			return err
		}
		s.counters.failures.Add(1)
		if !IsRetryable(err) {
			s.counters.ready.Store(false)
			return fmt.Errorf("%w (not retryable: the stage stops)", err)
		}
		s.counters.ready.Store(false)
		if ctx.Err() != nil {
			return err
		}
		log.Warn("flush failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	s.counters.ready.Store(true)
	s.counters.flushes.Add(1)
	if rc, ok := s.stage.(Recounter); ok {
		for o, n := range rc.Recount() {
			b.outcomes[o] -= n
			b.outcomes[Skipped] += n
		}
	}
	for o := range b.outcomes {
		s.counters.outcomes[o].Add(b.outcomes[o])
	}
	b.records, b.bytes, b.outcomes = 0, 0, [numOutcomes]int64{}
	b.out.reset()
	clear(b.first)
	clear(b.last)
	b.flushed, b.producing, b.headProduced, b.produced = false, false, false, false
	return nil
}

func (s *stageRun) flushOnce(ctx context.Context, gen *kafka.Generation, b *batch) error {
	if !b.producing && (s.ended() || time.Since(b.started) > s.r.cfg.SessionTimeout/2) {
		if err := s.stillMember(gen, b); err != nil {
			return err
		}
	}
	if f, ok := s.stage.(Flusher); ok && !b.flushed {
		if err := f.Flush(ctx, &b.out); err != nil {
			return fmt.Errorf("flush outputs: %w", err)
		}
		crashPoint("insert")
	}
	b.flushed = true
	if !b.produced && b.out.Len() > 0 {
		// The changelog goes last: a batch whose state records are on
		// Kafka has all its other records there, so the next owner,
		// restoring the state and taking the batch's events for
		// duplicates, loses no record. A crash or a given-up batch before
		// that leaves no state behind, and the batch is processed again.
		// Once the writing has begun, the batch is not fenced, and a
		// failed write is retried.
		crashPoint("write")
		b.producing = true
		head, changelog := splitChangelog(b.out.msgs, s.r.cfg.Topic(TopicState))
		if !b.headProduced && len(head) > 0 {
			if err := s.r.writer.WriteMessages(ctx, head...); err != nil {
				return fmt.Errorf("produce %d records: %w", len(head), err)
			}
		}
		b.headProduced = true
		if len(changelog) > 0 {
			if err := s.r.writer.WriteMessages(ctx, changelog...); err != nil {
				return fmt.Errorf("produce %d changelog records: %w", len(changelog), err)
			}
		}
		crashPoint("produce")
	}
	b.produced = true
	offsets := map[string]map[int]int64{}
	for pk, m := range b.last {
		if offsets[pk.topic] == nil {
			offsets[pk.topic] = map[int]int64{}
		}
		offsets[pk.topic][pk.partition] = m.Offset + 1 // the next record to consume
	}
	if err := gen.CommitOffsets(offsets); err != nil {
		return commitError("commit offsets", err)
	}
	return nil
}

// splitChangelog returns msgs without and with the records of the state
// changelog topic, each in their order.
func splitChangelog(msgs []kafka.Message, changelog string) (head, tail []kafka.Message) {
	for i := range msgs {
		if msgs[i].Topic == changelog {
			tail = append(tail, msgs[i])
		} else {
			head = append(head, msgs[i])
		}
	}
	return head, tail
}

// stillMember fences a batch that may have outlived its member: one that
// began over half a session ago, because the process was paused (SIGSTOP,
// a long GC, a frozen VM) or its outputs were down, and one flushed after
// its generation ended, when no heartbeat keeps the member's session (the
// commit does, as a heartbeat would). The group may have
// given its partitions to another member, which has processed the same
// records since; this member's outputs would then land a second time
// (doubling the sink's aggregates) or overwrite newer state in the
// changelog with older. It commits the offsets the batch began at, which
// were committed already and change nothing, for the broker to check the
// generation: a member the group has moved past is refused, and its batch
// is left to the partitions' next owner (errGenerationGone). kafka-go has
// no transactions to fence with; this narrows the window to the time
// between this commit and the outputs.
func (s *stageRun) stillMember(gen *kafka.Generation, b *batch) error {
	offsets := map[string]map[int]int64{}
	for pk, off := range b.first {
		if offsets[pk.topic] == nil {
			offsets[pk.topic] = map[int]int64{}
		}
		offsets[pk.topic][pk.partition] = off
	}
	if err := gen.CommitOffsets(offsets); err != nil {
		return commitError("fence an old batch", err)
	}
	return nil
}

// commitError wraps an error of Generation.CommitOffsets. The generation
// is over when the broker refuses it, and also when the generation's
// connection to the group coordinator is gone (the broker restarted):
// kafka-go does not dial it again, so every retry would fail the same way
// until the process rejoins the group.
func commitError(what string, err error) error {
	if errors.Is(err, kafka.IllegalGeneration) || errors.Is(err, kafka.RebalanceInProgress) ||
		errors.Is(err, kafka.UnknownMemberId) || errors.Is(err, kafka.FencedInstanceID) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%s: %w: %w", what, errGenerationGone, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// CrashPoint, when set, is called at the points of a flush where a crash
// tests recovery: "insert" right after the stage's own outputs (ClickHouse)
// are durable, "write" right before the Kafka outputs are written,
// "produce" right after them, each before the offsets are committed. The
// crash tests set it, through the binary's LEADPIPE_TEST_CRASH, to end the
// process there, and a runner test to stop it there; nothing else does.
var CrashPoint func(point string)

func crashPoint(point string) {
	if CrashPoint != nil {
		CrashPoint(point)
	}
}
