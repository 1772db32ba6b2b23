package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Runner runs stages: each its own consumer group, its own fetch loop, one
// shared producer. Create it with NewRunner, Add stages, then Run.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	reg    prometheus.Registerer
	writer *kafka.Writer
	stages []*stageRun
}

// NewRunner returns a Runner for cfg. A nil log is silent; a nil reg
// registers no metrics.
func NewRunner(cfg Config, log *slog.Logger, reg prometheus.Registerer) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log, reg: reg, writer: NewWriter(&cfg)}
}

// NewWriter returns the producer every stage uses: acks from all in-sync
// replicas, key-hashed partitions compatible with the Java client
// (murmur2), small batches flushed after 5 ms. A batch stays under the
// broker's default max.message.bytes (1 MiB): a larger one is refused and
// would be retried forever.
func NewWriter(cfg *Config) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Transport:    cfg.Transport(),
		Balancer:     taskBalancer{explicit: cfg.Topic(TopicState)},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    cfg.BatchRecords,
		BatchBytes:   900 << 10,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  10,
		WriteTimeout: 30 * time.Second,
	}
}

// taskBalancer puts a record on the partition of its key's murmur2 hash,
// as the Java client does, except records of the explicit topic (the state
// changelog), which go to the partition they name: their task's.
type taskBalancer struct {
	explicit string
	murmur2  kafka.Murmur2Balancer
}

func (b taskBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if msg.Topic == b.explicit {
		return msg.Partition
	}
	return b.murmur2.Balance(msg, partitions...)
}

// StageOptions override the runner's batch limits for one stage.
type StageOptions struct {
	BatchRecords int
	BatchBytes   int
	BatchAge     time.Duration
}

// Add registers a stage; opts, when not nil, override the batch limits of
// the Config for it. Call Add before Run.
func (r *Runner) Add(s Stage, opts *StageOptions) error {
	sr := &stageRun{stage: s, r: r, limits: StageOptions{r.cfg.BatchRecords, r.cfg.BatchBytes, r.cfg.BatchAge}}
	if opts != nil {
		if opts.BatchRecords > 0 {
			sr.limits.BatchRecords = opts.BatchRecords
		}
		if opts.BatchBytes > 0 {
			sr.limits.BatchBytes = opts.BatchBytes
		}
		if opts.BatchAge > 0 {
			sr.limits.BatchAge = opts.BatchAge
		}
	}
	if r.reg != nil {
		if err := sr.counters.register(r.reg, s.Name(), sr.ready); err != nil {
			return fmt.Errorf("stage %s: register metrics: %w", s.Name(), err)
		}
		if o, ok := s.(Observed); ok {
			for _, c := range o.Collectors() {
				if err := r.reg.Register(c); err != nil {
					return fmt.Errorf("stage %s: register metrics: %w", s.Name(), err)
				}
			}
		}
	}
	r.stages = append(r.stages, sr)
	return nil
}

// Counts returns the record accounting of the named stage.
func (r *Runner) Counts(stage string) Counts {
	for _, s := range r.stages {
		if s.stage.Name() == stage {
			return s.counters.snapshot()
		}
	}
	return Counts{}
}

// Ready reports whether every stage has started and its last flush
// succeeded.
func (r *Runner) Ready() bool {
	for _, s := range r.stages {
		if !s.ready() {
			return false
		}
	}
	return len(r.stages) > 0
}

// Run checks that Kafka answers and holds the topics the stages need
// (preflight), then runs every stage until ctx is cancelled, flushes and
// commits what was processed, and returns. It returns early with the first
// stage error that cannot be retried.
func (r *Runner) Run(ctx context.Context) error {
	defer r.writer.Close()
	if err := r.preflight(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while checking
		}
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	errs := make([]error, len(r.stages))
	for i, s := range r.stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.run(ctx); err != nil {
				errs[i] = fmt.Errorf("stage %s: %w", s.stage.Name(), err)
				cancel(errs[i])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ready reports whether the stage consumes: it has started, its last flush
// succeeded, and it is not blocked on an outside service.
func (s *stageRun) ready() bool {
	if b, ok := s.stage.(Blocker); ok && b.Blocked() {
		return false
	}
	return s.counters.ready.Load() && !s.counters.stalled.Load()
}

type stageRun struct {
	stage    Stage
	r        *Runner
	limits   StageOptions
	counters stageCounters
	// ended reports whether the generation being consumed has ended (its
	// context is done): kafka-go sends no heartbeat after that, so the
	// member's session runs out unless it rejoins.
	ended func() bool
}

func (s *stageRun) run(ctx context.Context) error {
	cfg := &s.r.cfg
	log := s.r.log.With("stage", s.stage.Name())
	if st, ok := s.stage.(Starter); ok {
		log.Info("restoring state")
		if err := st.Start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("start: %w", err)
		}
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:             cfg.Group(s.stage.Name()),
		Brokers:        cfg.Brokers,
		Dialer:         cfg.Dialer(),
		Topics:         s.stage.Topics(),
		StartOffset:    kafka.FirstOffset,
		SessionTimeout: cfg.SessionTimeout,
		// One round of join/sync is enough on a quiet group; kafka-go's 5 s
		// default backoff slows every restart.
		JoinGroupBackoff:  time.Second,
		GroupBalancers:    []kafka.GroupBalancer{taskAssignor{}, kafka.RangeGroupBalancer{}},
		HeartbeatInterval: time.Second,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("consumer group: %w", err)
	}
	defer group.Close()
	log.Info("joining", "group", cfg.Group(s.stage.Name()), "topics", strings.Join(s.stage.Topics(), ","))
	for {
		// Between generations the stage consumes nothing: it is not ready
		// until the group assigns it partitions again (which can take a
		// dead member's whole session timeout).
		s.counters.ready.Store(false)
		gen, err := s.next(ctx, group, log)
		if ctx.Err() != nil {
			log.Info("stopped", "counts", s.counters.snapshot())
			return nil
		}
		if err != nil {
			// The group retries the join itself, after its backoff.
			log.Warn("joining the consumer group failed; retrying", "err", err)
			continue
		}
		if err := s.generation(ctx, gen, log); err != nil {
			return err
		}
	}
}

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
