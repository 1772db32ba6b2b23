package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// The topics, unprefixed. Keys are lead ids everywhere, so that one lead's
// events stay in order on one partition.
const (
	TopicLeadsRaw         = "leads.raw"             // lead events in
	TopicConsentsRaw      = "consents.raw"          // consent events in
	TopicBehaviorRaw      = "behavior.raw"          // behavior events in
	TopicLeadsClassified  = "leads.classified"      // compacted: a lead's current classification
	TopicLeadsQuarantine  = "leads.quarantine"      // compacted: quarantined leads
	TopicBehaviorEnriched = "behavior.enriched"     // behavior with origin, decision, lead key
	TopicAudit            = "leadpipe.audit"        // one record per decision (Art. 5(2))
	TopicDLQ              = "leadpipe.dlq"          // records that could not be processed
	TopicState            = "leadpipe.state"        // compacted: classify's state changelog, one partition per task
	TopicSuppressions     = "leadpipe.suppressions" // classify's notices between leads and email keys
)

// TopicSpec describes one topic that `leadpipe topics` creates.
type TopicSpec struct {
	Name      string // unprefixed
	Compacted bool   // cleanup.policy=compact: the topic holds state
}

// AllTopics lists every topic leadpipe reads or writes.
var AllTopics = []TopicSpec{
	{Name: TopicLeadsRaw},
	{Name: TopicConsentsRaw},
	{Name: TopicBehaviorRaw},
	{Name: TopicLeadsClassified, Compacted: true},
	{Name: TopicLeadsQuarantine, Compacted: true},
	{Name: TopicBehaviorEnriched},
	{Name: TopicAudit},
	{Name: TopicDLQ},
	{Name: TopicState, Compacted: true},
	{Name: TopicSuppressions},
}

// Topic returns the full name of an unprefixed topic.
func (c *Config) Topic(name string) string { return c.TopicPrefix + name }

// Group returns the consumer group id of a stage.
func (c *Config) Group(stage string) string { return c.GroupPrefix + stage }

// DeleteTopics deletes every topic of c (its TopicPrefix's): the
// benchmarks and tests remove what they created, since a broker holding
// hundreds of topics answers every client's metadata request more slowly.
func DeleteTopics(ctx context.Context, c *Config) error {
	var names []string
	for _, t := range AllTopics {
		names = append(names, c.Topic(t.Name))
	}
	resp, err := c.Client(30*time.Second).DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("delete topic %s: %w", name, err)
		}
	}
	return nil
}

// CreateTopics creates every topic that does not exist yet, with c's
// partition count and replication factor. Existing topics are left as they
// are. It returns the names it created.
func CreateTopics(ctx context.Context, c *Config) ([]string, error) {
	conn, err := dialController(ctx, c)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	existing := map[string]bool{}
	parts, err := conn.ReadPartitions()
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	for _, p := range parts {
		existing[p.Topic] = true
	}
	var configs []kafka.TopicConfig
	var created []string
	for _, t := range AllTopics {
		name := c.Topic(t.Name)
		if existing[name] {
			continue
		}
		tc := kafka.TopicConfig{Topic: name, NumPartitions: c.Partitions, ReplicationFactor: c.ReplicationFactor,
			// Retention and segment rolls count from when a record reached
			// the broker, not from the producer's timestamp: records stamped
			// with an old occurred_at (a backfill, `leadpipe gen`) would
			// otherwise be deleted by the time retention before any stage
			// read them (a 20,000-lead workload stamped with January's
			// dates lost half its behavior records so). Consumers still
			// read the producer's timestamps (kafka-go reads each record's
			// own), and no stage orders by them for a decision.
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "message.timestamp.type", ConfigValue: "LogAppendTime"}}}
		if t.Compacted {
			tc.ConfigEntries = append(tc.ConfigEntries,
				kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"},
				kafka.ConfigEntry{ConfigName: "min.cleanable.dirty.ratio", ConfigValue: "0.1"},
			)
		}
		configs = append(configs, tc)
		created = append(created, name)
	}
	if len(configs) == 0 {
		return nil, nil
	}
	if err := conn.CreateTopics(configs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	// Return once every new partition has a leader, so that the first
	// produce or offset lookup does not meet "not leader for partition".
	client := c.Client(10 * time.Second)
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range created {
		for p := range c.Partitions {
			req.Topics[t] = append(req.Topics[t], kafka.LastOffsetOf(p))
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := endOffsets(wctx, client, req); err != nil {
		return created, fmt.Errorf("created topics have no leader yet: %w", err)
	}
	// Producers look topics up in the metadata, which a broker learns a
	// moment after the controller: wait until it lists every new topic.
	for {
		md, err := client.Metadata(wctx, &kafka.MetadataRequest{Topics: created})
		if err == nil {
			for _, t := range md.Topics {
				if t.Error != nil || len(t.Partitions) != c.Partitions {
					err = fmt.Errorf("topic %s: not in the metadata yet", t.Name)
				}
			}
		}
		if err == nil {
			return created, nil
		}
		select {
		case <-wctx.Done():
			return created, fmt.Errorf("created topics: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dialController connects to the cluster's controller, which creates topics.
func dialController(ctx context.Context, c *Config) (*kafka.Conn, error) {
	d := c.Dialer()
	if d == nil {
		d = kafka.DefaultDialer
	}
	var lastErr error
	for _, b := range c.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			lastErr = err
			continue
		}
		ctrl, err := conn.Controller()
		conn.Close()
		if err != nil {
			lastErr = err
			continue
		}
		cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
		if err != nil {
			lastErr = err
			continue
		}
		return cc, nil
	}
	return nil, fmt.Errorf("connect to Kafka at %v: %w", c.Brokers, lastErr)
}
