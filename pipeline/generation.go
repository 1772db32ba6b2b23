package pipeline

// This file holds one generation of a stage's consumer group: joining
// it, learning where each assigned partition ends, and the loop that hands
// the tasks' records to the stage and cuts batches (consume). Flushing and
// committing a batch is flush.go's; the runner's life is runner.go's.
// consume stays one function of about 300 lines: its local closures (cut,
// finish) share the batch, the timers and the flush in flight, and split
// apart they would pass all of them around.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// next waits for the group's next generation, saying in the log when it
// waits for long: the group completes a rebalance only when every member
// has rejoined, or a dead one's session has timed out.
func (s *stageRun) next(ctx context.Context, group *kafka.ConsumerGroup, log *slog.Logger) (*kafka.Generation, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			log.Info("waiting for the consumer group to assign partitions (a member that left without a word holds them until its session times out)",
				"session_timeout", s.r.cfg.SessionTimeout)
		case <-wctx.Done():
		}
	}()
	return group.Next(ctx)
}

// generation runs the tasks of one generation of the consumer group: the
// partitions assigned to this process, from the offsets committed. All its
// work runs inside the generation (Generation.Start): outputs are written
// and offsets committed only while the partitions are this process's, and
// the group moves on only once the batch in hand is flushed and committed.
func (s *stageRun) generation(ctx context.Context, gen *kafka.Generation, log *slog.Logger) error {
	done := make(chan error, 1)
	gen.Start(func(gctx context.Context) { done <- s.consume(ctx, gctx, gen, log) })
	return <-done
}

// dryFlushAge is how old a batch must be to be flushed as soon as every
// input has run dry, before its age limit.
const dryFlushAge = 100 * time.Millisecond

// allDry reports whether every task's inputs are dry.
func allDry(tasks []*task, now time.Time, maxIdle time.Duration) bool {
	for _, t := range tasks {
		if !t.dry(now, maxIdle) {
			return false
		}
	}
	return true
}

// wholeTasks checks that every task of a co-partitioned stage has every
// input: the group's assignor (taskAssignor) gives whole tasks, but a
// member of an older leadpipe may lead the group with range, which splits
// them when the broker lists partitions in different orders.
func wholeTasks(s Stage, tasks map[int]*task) error {
	if _, ok := s.(CoPartitioned); !ok {
		return nil
	}
	for p, t := range tasks {
		if len(t.inputs) != len(s.Topics()) {
			var have []string
			for _, in := range t.inputs {
				have = append(have, in.topic)
			}
			return fmt.Errorf("partition %d is assigned of %s only, not of every input (%s)", p, strings.Join(have, ", "), strings.Join(s.Topics(), ", "))
		}
	}
	return nil
}

// learnEnds lists the first and end offsets of every assigned partition,
// so that a task does not wait up to MaxIdle at the start of a generation
// for an input that has nothing to give. Without it the end of an input is
// known only once a record of it is fetched, and an empty one (the
// suppressions topic until an objection is written to it) holds its task
// for MaxIdle in every generation. A listing that fails costs only that
// wait.
func (s *stageRun) learnEnds(ctx context.Context, assignments map[string][]kafka.PartitionAssignment, tasks map[int]*task, log *slog.Logger) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for topic, as := range assignments {
		for _, a := range as {
			req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(a.ID), kafka.LastOffsetOf(a.ID))
		}
	}
	if len(req.Topics) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := s.r.cfg.Client(5*time.Second).ListOffsets(lctx, req)
	if err != nil {
		log.Warn("listing the assigned partitions' offsets failed; a task waits up to max-idle for an input it has fetched nothing of", "err", err)
		return
	}
	for topic, as := range assignments {
		for _, a := range as {
			for _, po := range resp.Topics[topic] {
				if po.Partition != a.ID || po.Error != nil {
					continue
				}
				start := a.Offset
				if start < 0 { // nothing committed: consumed from the first offset
					start = po.FirstOffset
				}
				for _, in := range tasks[a.ID].inputs {
					if in.topic == topic {
						in.known(start, po.LastOffset)
					}
				}
			}
		}
	}
}

// errGenerationGone is a commit refused because the generation is over:
// the records are processed again by the partitions' next owner.
var errGenerationGone = errors.New("the consumer group generation is over")

// consume fetches every assigned partition, merges each task's inputs by
// timestamp, processes them in batches and flushes each batch (outputs,
// then offsets) until the generation or ctx ends; then it flushes the
// batch in hand and drops the tasks' state.
func (s *stageRun) consume(ctx, gctx context.Context, gen *kafka.Generation, log *slog.Logger) error {
	cfg := &s.r.cfg
	// A record's processing ends with the generation too: a stage waiting
	// in Process (enrich waiting for classify) would otherwise hold a
	// generation the group has moved past, and its tasks, until it is done.
	pctx, stopProcessing := context.WithCancel(ctx)
	defer stopProcessing()
	defer context.AfterFunc(gctx, stopProcessing)()
	s.ended = func() bool { return gctx.Err() != nil }
	tasks := map[int]*task{}
	var partitions []int
	for topic, as := range gen.Assignments {
		for _, a := range as {
			t := tasks[a.ID]
			if t == nil {
				t = &task{partition: a.ID}
				tasks[a.ID] = t
				partitions = append(partitions, a.ID)
			}
			t.inputs = append(t.inputs, &input{topic: topic, partition: a.ID, ch: make(chan kafka.Message, 512)})
		}
	}
	slices.Sort(partitions)
	if err := wholeTasks(s.stage, tasks); err != nil {
		// A task split between members would have one process apply a
		// lead's consents and another its lead events, both writing its
		// state. Nothing is processed; the generation ends and the member
		// rejoins, which has the group assigned again.
		log.Warn("the group's assignment splits a task; rejoining", "generation", gen.ID, "err", err)
		select {
		case <-time.After(time.Second):
		case <-gctx.Done():
		case <-ctx.Done():
		}
		return nil
	}
	if _, ok := s.stage.(CoPartitioned); ok && cfg.MaxIdle > 0 {
		s.learnEnds(gctx, gen.Assignments, tasks, log)
	}
	order := make([]*task, 0, len(tasks))
	for _, p := range partitions {
		order = append(order, tasks[p])
	}
	log.Info("assigned", "generation", gen.ID, "partitions", partitions)
	if ts, ok := s.stage.(Tasked); ok {
		if err := ts.Assign(gctx, partitions); err != nil {
			if gctx.Err() != nil || ctx.Err() != nil {
				ts.Revoke(partitions)
				return nil
			}
			return fmt.Errorf("assign partitions %v: %w", partitions, err)
		}
		defer ts.Revoke(partitions)
	}
	// Ready once it has partitions to consume: a member left without any
	// (more members than partitions) reports 503 and consumes nothing.
	s.counters.ready.Store(len(partitions) > 0)
	if cfg.StallAfter > 0 && len(partitions) > 0 {
		watchCtx, stopWatch := context.WithCancel(gctx)
		defer stopWatch()
		go s.watchStall(watchCtx, gen, log)
	}
	if len(partitions) == 0 {
		log.Info("no partitions assigned: the group has more members than the stage's partitions", "generation", gen.ID)
	}

	// One reader per assigned partition, fetching ahead of processing by
	// its channel's capacity: when a flush blocks (ClickHouse down, broker
	// away), fetching stops too.
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	var fetchers sync.WaitGroup
	defer func() { stopFetch(); fetchers.Wait() }()
	wake := make(chan struct{}, 1)
	fetchErr := make(chan error, 1)
	for topic, as := range gen.Assignments {
		for _, a := range as {
			var in *input
			for _, x := range tasks[a.ID].inputs {
				if x.topic == topic {
					in = x
				}
			}
			offset := a.Offset
			if offset < 0 {
				offset = kafka.FirstOffset // nothing committed yet
			}
			fetchers.Add(1)
			go func() {
				defer fetchers.Done()
				if err := fetch(fetchCtx, cfg, in, offset, wake); err != nil && fetchCtx.Err() == nil {
					select {
					case fetchErr <- err:
					default:
					}
				}
			}()
		}
	}

	// Batches are double-buffered: while one is flushed (produced and
	// committed) in the background, the next is processed. At most one
	// flush is in flight, so outputs and commits keep their order. A stage
	// with outputs of its own (a Flusher, the sink) buffers them itself,
	// so it is flushed in line instead.
	_, inline := s.stage.(Flusher)
	b, spare := newBatch(), newBatch()
	var inflight chan error // the background flush, nil when none
	// flushing is the batch flushed in the background until its flush has
	// succeeded: a flush that failed (ctx cancelled in the middle of its
	// writes) keeps it here for finish to resume. No later batch is
	// committed before it, since a commit covers every offset before it.
	var flushing *batch
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		switch {
		case err == nil:
			spare, flushing = flushing, nil
		case errors.Is(err, errGenerationGone):
			flushing = nil // refused: left to the partitions' next owner, never resumed
		}
		return err
	}
	cut := func() error {
		if err := wait(); err != nil {
			return err
		}
		if b.records == 0 {
			return nil
		}
		if inline {
			return s.flush(ctx, gen, b, log)
		}
		flushing, b, spare = b, spare, nil
		if b == nil {
			b = newBatch()
		}
		inflight = make(chan error, 1)
		go func(fb *batch) { inflight <- s.flush(ctx, gen, fb, log) }(flushing)
		return nil
	}
	// finish ends the generation's work. The flush in flight completes.
	// When the process stops, the batch in hand is flushed and committed
	// too: the partitions stay this process's until it leaves the group.
	// When a rebalance ends the generation, the batch in hand is dropped
	// instead, neither written nor committed, and the partitions' next
	// owner processes it again: kafka-go sends no heartbeat once the
	// generation is over, so a flush begun now could outlast the session
	// and land while the next owner lands the same records.
	finish := func(why string, cause error) error {
		stopFetch()
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if inflight != nil {
			if ierr := <-inflight; errors.Is(ierr, errGenerationGone) {
				cause, flushing = ierr, nil // refused: never resumed
			}
			inflight = nil
		}
		if flushing != nil {
			// The background flush, done (nothing left to do), interrupted
			// or failed: it resumes where it stopped, before the batch in
			// hand may be committed. One the broker refused as of an old
			// generation is not: this member may no longer own its
			// partitions, and writing now would race their next owner.
			err = s.flush(fctx, gen, flushing, log)
			flushing = nil
			if errors.Is(err, errGenerationGone) {
				cause, err = err, nil
			}
		}
		// A flush the broker refused as of an old generation (the fence of
		// stillMember) ends the generation as a rebalance does, even before
		// kafka-go has noticed, and even when the process stops: the
		// stage's buffered outputs go too.
		refused := errors.Is(cause, errGenerationGone)
		if err == nil && (refused || gctx.Err() != nil && ctx.Err() == nil) && b.records > 0 {
			s.counters.consumed.Add(-int64(b.records)) // consumed again by the next owner
			if d, ok := s.stage.(Discarder); ok {
				d.Discard()
			}
			log.Info("rebalance: the batch in hand is left to the partitions' next owner", "records", b.records)
			b = newBatch()
		}
		if err == nil {
			err = s.flush(fctx, gen, b, log)
		}
		if errors.Is(err, errGenerationGone) {
			log.Warn("the last batch of the generation was not committed; the partitions' next owner processes it again", "generation", gen.ID)
			err = nil
		}
		log.Info("generation ended", "generation", gen.ID, "why", why, "counts", s.counters.snapshot())
		return err
	}

	timer := time.NewTimer(s.limits.BatchAge)
	timer.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	dlq := cfg.Topic(TopicDLQ)
	// Only stages whose inputs must meet in order (CoPartitioned) wait
	// for a lagging input; the sink lands each record on its own.
	maxIdle := cfg.MaxIdle
	if _, ok := s.stage.(CoPartitioned); !ok {
		maxIdle = 0
	}
	for {
		// Process what the tasks can give, a bounded number of records per
		// task and round so that no partition starves the others.
		progressed, shortest := false, time.Duration(0)
		now := time.Now()
		for _, t := range order {
			for range 256 {
				m, ok, w := t.next(now, maxIdle)
				if !ok {
					if w > 0 && (shortest == 0 || w < shortest) {
						shortest = w
					}
					break
				}
				progressed = true
				if err := s.process(pctx, &m, b, dlq, log); err != nil {
					return finish("stopped", nil)
				}
				if b.records == 1 {
					// When its first output was made, not when the round
					// began: Process may have waited since (enrich).
					b.started = time.Now()
					timer.Reset(s.limits.BatchAge)
				}
				// A batch is cut at its age here too, not only when the input
				// pauses: a stage that waits in Process (enrich waiting for
				// classify) keeps the loop busy, and its batch would
				// otherwise grow to its size limit however long that takes.
				if b.records >= s.limits.BatchRecords || b.bytes >= s.limits.BatchBytes || time.Since(b.started) >= s.limits.BatchAge {
					timer.Stop()
					if err := cut(); err != nil {
						if errors.Is(err, errGenerationGone) || ctx.Err() != nil {
							return finish("generation over", err)
						}
						return err
					}
				}
			}
		}
		if progressed {
			select {
			case <-ctx.Done():
				return finish("stopped", nil)
			case <-gctx.Done():
				return finish("rebalance", nil)
			default:
				continue
			}
		}
		// The input ran dry: flush what is in hand now rather than at its
		// age, once it is dryFlushAge old, so that a quiet stream is not
		// held for the batch age (the sink's is a second) and a busy one
		// does not insert more often than every dryFlushAge.
		if b.records > 0 && allDry(order, now, maxIdle) {
			if wait := dryFlushAge - now.Sub(b.started); wait > 0 {
				if shortest == 0 || wait < shortest {
					shortest = wait
				}
			} else {
				timer.Stop()
				if err := cut(); err != nil {
					if errors.Is(err, errGenerationGone) || ctx.Err() != nil {
						return finish("generation over", err)
					}
					return err
				}
				continue
			}
		}
		if shortest > 0 {
			idle.Reset(shortest)
		}
		select {
		case <-ctx.Done():
			return finish("stopped", nil)
		case <-gctx.Done():
			return finish("rebalance", nil)
		case err := <-fetchErr:
			if ctx.Err() != nil || gctx.Err() != nil {
				continue
			}
			return errors.Join(fmt.Errorf("fetch: %w", err), finish("fetch failed", nil))
		case <-timer.C:
			if err := cut(); err != nil {
				if errors.Is(err, errGenerationGone) || ctx.Err() != nil {
					return finish("generation over", err)
				}
				return err
			}
		case <-idle.C:
		case <-wake:
		}
		idle.Stop()
	}
}
