package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config configures the Kafka side of the runtime. Every field has a flag,
// and every flag a LEADPIPE_* environment variable (see cmd/leadpipe).
type Config struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// TopicPrefix is put before every topic name ("" or e.g. "prod.").
	TopicPrefix string
	// GroupPrefix is put before every stage's consumer group id.
	GroupPrefix string
	// Partitions is the partition count of the topics `leadpipe topics` creates.
	Partitions int
	// ReplicationFactor of the topics `leadpipe topics` creates.
	ReplicationFactor int
	// BatchRecords is the largest number of consumed records processed
	// before their outputs are flushed and their offsets committed.
	BatchRecords int
	// BatchBytes bounds the consumed bytes of one batch.
	BatchBytes int
	// BatchAge is the longest a consumed record waits before its batch is
	// flushed and committed.
	BatchAge time.Duration
	// SessionTimeout of the consumer group.
	SessionTimeout time.Duration
	// MaxIdle is how long a task waits for an input that has records on
	// the broker but none fetched, before it goes on with the others
	// (Kafka Streams' max.task.idle.ms).
	MaxIdle time.Duration
	// FlushGrace is how long a flush attempt under way (a ClickHouse
	// INSERT, a Kafka write) goes on once the stage is told to stop: cut
	// off, an INSERT has an unknown outcome (Runner's flush).
	FlushGrace time.Duration
	// StallAfter is how long a stage may hold partitions with records
	// left to consume and commit nothing before it says it is stalled: a
	// log line, leadpipe_stage_stalled and /readyz 503 (stall.go). Zero
	// turns the watch off.
	StallAfter time.Duration
	// Security is TLS and SASL towards the brokers.
	Security Security

	net *network // built from Security once, shared by copies (security.go)
}

// DefaultConfig returns the defaults: a local broker, no prefix, batches of
// up to 2,000 records or 50 ms.
func DefaultConfig() Config {
	return Config{
		Brokers:           []string{"127.0.0.1:9092"},
		GroupPrefix:       "leadpipe-",
		Partitions:        4,
		ReplicationFactor: 1,
		BatchRecords:      2000,
		BatchBytes:        4 << 20,
		BatchAge:          50 * time.Millisecond,
		SessionTimeout:    30 * time.Second,
		MaxIdle:           500 * time.Millisecond,
		FlushGrace:        5 * time.Second,
		StallAfter:        time.Minute,
		net:               new(network),
	}
}

// RegisterFlags binds every field to a flag on fs: what `leadpipe run`
// and `leadpipe demo` take. Commands that use part of the Config register
// only that part (RegisterConnFlags, RegisterTopicFlags,
// RegisterConsumerFlags).
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	c.RegisterConnFlags(fs)
	c.RegisterTopicFlags(fs)
	c.RegisterConsumerFlags(fs)
}

// RegisterConnFlags binds what reaching the cluster takes: brokers, topic
// prefix, TLS and SASL.
func (c *Config) RegisterConnFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Brokers, "brokers", c.Brokers, "Kafka bootstrap brokers, host:port, comma separated")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", c.TopicPrefix, "prefix of every topic name")
	c.Security.RegisterFlags(fs)
}

// RegisterTopicFlags binds how `leadpipe topics` creates topics.
func (c *Config) RegisterTopicFlags(fs *pflag.FlagSet) {
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of each topic that the topics command creates")
	fs.IntVar(&c.ReplicationFactor, "replication-factor", c.ReplicationFactor, "replication factor of the topics that the topics command creates")
}

// RegisterConsumerFlags binds how the stages consume: group, batches,
// session, the wait for lagging inputs.
func (c *Config) RegisterConsumerFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.GroupPrefix, "group-prefix", c.GroupPrefix, "prefix of every stage's consumer group id (the group is PREFIX+STAGE)")
	fs.IntVar(&c.BatchRecords, "batch-records", c.BatchRecords, "records consumed before outputs are flushed and offsets committed")
	fs.IntVar(&c.BatchBytes, "batch-bytes", c.BatchBytes, "consumed bytes before outputs are flushed and offsets committed")
	fs.DurationVar(&c.BatchAge, "batch-age", c.BatchAge, "longest a consumed record waits for its batch to be flushed and committed")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", c.SessionTimeout, "consumer group session timeout")
	fs.DurationVar(&c.MaxIdle, "max-idle", c.MaxIdle, "longest a task waits for an input partition that lags, so that records are processed in timestamp order across inputs")
	fs.DurationVar(&c.FlushGrace, "flush-grace", c.FlushGrace, "on SIGTERM, how long a flush under way (a ClickHouse INSERT, a Kafka write) may go on before it is cut off")
	fs.DurationVar(&c.StallAfter, "stall-after", c.StallAfter, "how long a stage may have records left on its partitions and commit nothing before it logs that it is stalled and reports not ready (0: never)")
}

// Validate reports every setting that cannot work, each as a sentence
// naming its flag.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("--brokers: at least one broker address is needed"))
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("--brokers: %q has no port; write host:port", b))
		}
	}
	if c.Partitions < 1 {
		errs = append(errs, errors.New("--partitions must be at least 1"))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, errors.New("--replication-factor must be at least 1"))
	}
	if c.BatchRecords < 1 {
		errs = append(errs, errors.New("--batch-records must be at least 1"))
	}
	if c.BatchBytes < 1024 {
		errs = append(errs, errors.New("--batch-bytes must be at least 1024"))
	}
	if c.MaxIdle < 0 {
		errs = append(errs, errors.New("--max-idle must not be negative"))
	}
	if c.BatchAge <= 0 {
		errs = append(errs, errors.New("--batch-age must be positive"))
	}
	if c.FlushGrace < 0 {
		errs = append(errs, errors.New("--flush-grace must not be negative"))
	}
	if c.StallAfter < 0 {
		errs = append(errs, errors.New("--stall-after must not be negative (0 turns the watch off)"))
	}
	if _, err := c.Security.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Security.mechanism(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
