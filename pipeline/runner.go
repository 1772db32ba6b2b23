package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
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
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    cfg.BatchRecords,
		BatchBytes:   900 << 10,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  10,
		WriteTimeout: 30 * time.Second,
	}
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
	return s.counters.ready.Load()
}

type stageRun struct {
	stage    Stage
	r        *Runner
	limits   StageOptions
	counters stageCounters
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
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		GroupID:        cfg.Group(s.stage.Name()),
		GroupTopics:    s.stage.Topics(),
		MinBytes:       1,
		MaxBytes:       8 << 20,
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  min(s.limits.BatchRecords, 10000),
		CommitInterval: 0, // synchronous commits, only after outputs are durable
		StartOffset:    kafka.FirstOffset,
		SessionTimeout: cfg.SessionTimeout,
		// One round of join/sync is enough on a quiet group; kafka-go's 5 s
		// default backoff slows every restart.
		JoinGroupBackoff:  time.Second,
		HeartbeatInterval: time.Second,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    250 * time.Millisecond,
	})
	defer reader.Close()
	log.Info("consuming", "group", cfg.Group(s.stage.Name()), "topics", strings.Join(s.stage.Topics(), ","))
	s.counters.ready.Store(true)

	// The fetch loop runs ahead of processing by at most one batch: when a
	// flush blocks (ClickHouse down, broker away), fetching stops too.
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	defer stopFetch()
	fetched := make(chan kafka.Message, min(s.limits.BatchRecords, 10000))
	fetchErr := make(chan error, 1)
	go func() {
		for {
			m, err := reader.FetchMessage(fetchCtx)
			if err != nil {
				fetchErr <- err
				return
			}
			select {
			case fetched <- m:
			case <-fetchCtx.Done():
				fetchErr <- fetchCtx.Err()
				return
			}
		}
	}()

	// Batches are double-buffered: while one is flushed (produced and
	// committed) in the background, the next is processed. At most one
	// flush is in flight, so outputs and commits keep their order. A stage
	// with outputs of its own (a Flusher, the sink) buffers them itself,
	// so it is flushed in line instead.
	_, inline := s.stage.(Flusher)
	b, spare := newBatch(), newBatch()
	var inflight chan error // the background flush, nil when none
	var flushing *batch
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		if err == nil {
			spare = flushing
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
			return s.flush(ctx, reader, b, log)
		}
		flushing, b, spare = b, spare, nil
		if b == nil {
			b = newBatch()
		}
		inflight = make(chan error, 1)
		go func(fb *batch) { inflight <- s.flush(ctx, reader, fb, log) }(flushing)
		return nil
	}
	timer := time.NewTimer(s.limits.BatchAge)
	timer.Stop()
	dlq := cfg.Topic(TopicDLQ)
	for {
		select {
		case <-ctx.Done():
			stopFetch()
			// Flush what was processed; it gets its own deadline since ctx is gone.
			fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			var err error
			if inflight != nil {
				<-inflight // interrupted or done; flush resumes where it stopped
				inflight = nil
				err = s.flush(fctx, reader, flushing, log)
			}
			if err == nil {
				err = s.flush(fctx, reader, b, log)
			}
			cancel()
			log.Info("stopped", "counts", s.counters.snapshot())
			return err
		case err := <-fetchErr:
			if ctx.Err() != nil {
				continue
			}
			return fmt.Errorf("fetch: %w", err)
		case <-timer.C:
			if err := cut(); err != nil && ctx.Err() == nil {
				return err
			}
		case m := <-fetched:
			s.counters.consumed.Add(1)
			outcome, err := s.stage.Process(ctx, &m, &b.out)
			if err != nil && ctx.Err() != nil {
				// Stopped while the stage waited: the record stays
				// uncommitted and is consumed again after the restart.
				continue
			}
			if err != nil {
				b.out.msgs = append(b.out.msgs, deadLetter(dlq, s.stage.Name(), &m, err.Error(), time.Now()))
				outcome = DeadLettered
				log.Debug("dead-lettered", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", err.Error())
			}
			b.outcomes[outcome]++
			b.records++
			b.bytes += len(m.Value) + len(m.Key)
			b.last[partitionKey{m.Topic, m.Partition}] = m
			if b.records == 1 {
				timer.Reset(s.limits.BatchAge)
			}
			if b.records >= s.limits.BatchRecords || b.bytes >= s.limits.BatchBytes {
				timer.Stop()
				if err := cut(); err != nil && ctx.Err() == nil {
					return err
				}
			}
		}
	}
}

func newBatch() *batch { return &batch{last: map[partitionKey]kafka.Message{}} }

type partitionKey struct {
	topic     string
	partition int
}

// batch is what was processed since the last commit.
type batch struct {
	records  int
	bytes    int
	outcomes [numOutcomes]int64
	out      Outputs
	last     map[partitionKey]kafka.Message
	flushed  bool // the stage's own outputs are durable
	produced bool // the Kafka outputs are durable
}

// flush makes the batch durable, then commits its offsets, retrying with
// backoff until it succeeds or ctx ends. Only then are the batch's outcomes
// counted.
func (s *stageRun) flush(ctx context.Context, reader *kafka.Reader, b *batch, log *slog.Logger) error {
	if b.records == 0 {
		return nil
	}
	backoff := 100 * time.Millisecond
	for {
		err := s.flushOnce(ctx, reader, b)
		if err == nil {
			break
		}
		s.counters.failures.Add(1)
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
	for o := range b.outcomes {
		s.counters.outcomes[o].Add(b.outcomes[o])
	}
	b.records, b.bytes, b.outcomes = 0, 0, [numOutcomes]int64{}
	b.out.reset()
	clear(b.last)
	b.flushed, b.produced = false, false
	return nil
}

func (s *stageRun) flushOnce(ctx context.Context, reader *kafka.Reader, b *batch) error {
	if f, ok := s.stage.(Flusher); ok && !b.flushed {
		if err := f.Flush(ctx, &b.out); err != nil {
			return fmt.Errorf("flush outputs: %w", err)
		}
		crashPoint("insert")
	}
	b.flushed = true
	if !b.produced && b.out.Len() > 0 {
		if err := s.r.writer.WriteMessages(ctx, b.out.msgs...); err != nil {
			return fmt.Errorf("produce %d records: %w", b.out.Len(), err)
		}
		crashPoint("produce")
	}
	b.produced = true
	msgs := make([]kafka.Message, 0, len(b.last))
	for _, m := range b.last {
		msgs = append(msgs, m)
	}
	if err := reader.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

// crashPoint ends the process at a named point when LEADPIPE_TEST_CRASH
// says so: "produce:N" exits right after the N-th batch's Kafka outputs
// are written and before its offsets are committed; "insert:N" after the
// N-th ClickHouse insert. Only the crash-recovery tests set it.
func crashPoint(point string) {
	spec := os.Getenv("LEADPIPE_TEST_CRASH")
	if spec == "" {
		return
	}
	name, n, ok := strings.Cut(spec, ":")
	if !ok || name != point {
		return
	}
	crashMu.Lock()
	defer crashMu.Unlock()
	crashSeen[point]++
	if want, _ := strconv.Atoi(n); crashSeen[point] >= want {
		fmt.Fprintf(os.Stderr, "leadpipe: LEADPIPE_TEST_CRASH=%s: exiting before the offsets are committed\n", spec)
		os.Exit(86)
	}
}

var (
	crashMu   sync.Mutex
	crashSeen = map[string]int{}
)
