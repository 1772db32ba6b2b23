package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Follower follows every partition of a topic (or those given to Only) from
// its first offset and hands each record to apply: it is how a stage
// restores state from a compacted topic and keeps up with what other
// processes write there. Apply is called from one goroutine per partition;
// it must do its own locking.
type Follower struct {
	cfg   *Config
	topic string
	apply func(m *kafka.Message)

	only []int // the partitions to follow; all when nil

	mu      sync.Mutex
	next    map[int]*atomic.Int64 // per partition: the next offset to read
	started chan struct{}
	client  *kafka.Client
}

// NewFollower returns a Follower of topic (a full name).
func NewFollower(cfg *Config, topic string, apply func(m *kafka.Message)) *Follower {
	return &Follower{
		cfg: cfg, topic: topic, apply: apply,
		next:    map[int]*atomic.Int64{},
		started: make(chan struct{}),
		client:  cfg.Client(10 * time.Second),
	}
}

// Only makes the follower follow these partitions of its topic, not every
// one: a task's. Call it before Run.
func (t *Follower) Only(partitions ...int) *Follower {
	t.only = partitions
	return t
}

// Run follows the topic until ctx ends.
func (t *Follower) Run(ctx context.Context) error {
	parts, err := t.partitions(ctx)
	if err != nil {
		return err
	}
	if t.only != nil {
		parts = slices.DeleteFunc(parts, func(p int) bool { return !slices.Contains(t.only, p) })
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(parts))
	t.mu.Lock()
	for _, p := range parts {
		t.next[p] = new(atomic.Int64)
	}
	t.mu.Unlock()
	close(t.started)
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.follow(ctx, p); err != nil && ctx.Err() == nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func (t *Follower) follow(ctx context.Context, partition int) error {
	r, err := partitionReader(t.cfg, t.topic, partition, kafka.FirstOffset, 1000)
	if err != nil {
		return err
	}
	defer r.Close()
	next := t.next[partition]
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("follow %s[%d]: %w", t.topic, partition, err)
		}
		t.apply(&m)
		next.Store(m.Offset + 1)
	}
}

func (t *Follower) partitions(ctx context.Context) ([]int, error) {
	md, err := t.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{t.topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", t.topic, err)
	}
	for _, tp := range md.Topics {
		if tp.Name != t.topic {
			continue
		}
		if tp.Error != nil {
			return nil, fmt.Errorf("topic %s: %w (run `leadpipe topics` first)", t.topic, tp.Error)
		}
		ps := make([]int, 0, len(tp.Partitions))
		for _, p := range tp.Partitions {
			ps = append(ps, p.ID)
		}
		return ps, nil
	}
	return nil, fmt.Errorf("topic %s does not exist (run `leadpipe topics` first)", t.topic)
}

// StartFollowers runs every follower in the background and returns once each has
// caught up with its topic, or with the first error of one, or ctx's.
func StartFollowers(ctx context.Context, followers ...*Follower) error {
	errc := make(chan error, 2*len(followers))
	for _, t := range followers {
		go func() {
			if err := t.Run(ctx); err != nil {
				errc <- err
			}
		}()
	}
	go func() {
		for _, t := range followers {
			if err := t.WaitCaughtUp(ctx); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	return <-errc
}

// partitionReader reads one partition of topic from offset, outside any
// consumer group: what the runtime's tasks, the followers and the restore of
// classify's state all read with. queue bounds the records it fetches
// ahead.
func partitionReader(cfg *Config, topic string, partition int, offset int64, queue int) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		Dialer:         cfg.Dialer(),
		Topic:          topic,
		Partition:      partition,
		MinBytes:       1,
		MaxBytes:       8 << 20,
		MaxWait:        200 * time.Millisecond,
		QueueCapacity:  queue,
		ReadBackoffMin: 10 * time.Millisecond,
		ReadBackoffMax: 200 * time.Millisecond,
	})
	if err := r.SetOffset(offset); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// WaitCaughtUp returns once every record written to the topic before the
// call has been applied, or ctx ends.
func (t *Follower) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-t.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range t.next {
		req.Topics[t.topic] = append(req.Topics[t.topic], kafka.LastOffsetOf(p))
	}
	ends, err := endOffsets(ctx, t.client, req)
	if err != nil {
		return err
	}
	for _, po := range ends[t.topic] {
		next := t.next[po.Partition]
		if next == nil {
			return errors.New("partitions of " + t.topic + " changed; restart the stage")
		}
		for next.Load() < po.LastOffset {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return nil
}

// Topic is the topic the follower follows (a full name).
func (t *Follower) Topic() string { return t.topic }

// Applied is the offset after the last record of partition p applied; -1
// for a partition not followed.
func (t *Follower) Applied(p int) int64 {
	select {
	case <-t.started:
	default:
		return -1
	}
	if next := t.next[p]; next != nil {
		return next.Load()
	}
	return -1
}

// endOffsets lists offsets, retrying while partitions have no leader yet
// (a topic just created) or the broker is briefly away, until ctx ends.
func endOffsets(ctx context.Context, client *kafka.Client, req *kafka.ListOffsetsRequest) (map[string][]kafka.PartitionOffsets, error) {
	backoff := 50 * time.Millisecond
	for {
		resp, err := client.ListOffsets(ctx, req)
		if err == nil {
			for topic, ps := range resp.Topics {
				for _, p := range ps {
					if p.Error != nil && err == nil {
						err = fmt.Errorf("offsets of %s[%d]: %w", topic, p.Partition, p.Error)
					}
				}
			}
		}
		if err == nil {
			return resp.Topics, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}
