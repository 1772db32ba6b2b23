package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
