package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/classify"
	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// leadOnPartition returns a lead id that the producer puts on partition p.
func leadOnPartition(t *testing.T, prefix string, p, partitions int) string {
	t.Helper()
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	for i := range 1000 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(id)}, parts...) == p {
			return id
		}
	}
	t.Fatalf("no lead id for partition %d", p)
	return ""
}

func startClassify(t *testing.T, cfg pipeline.Config, instance string) *pipeline.Runner {
	t.Helper()
	cfg.InstanceID = instance
	r := pipeline.NewRunner(cfg, nil, nil)
	e := classify.New(classify.DefaultPolicy(), pseudonym.Development())
	if err := r.Add(pipeline.NewClassifyStage(&cfg, e, schemas.DefaultLimits()), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func lead(id, event, email string) kafka.Message {
	return kafka.Message{Key: []byte(id), Value: []byte(`{"type":"lead","event_id":"` + event + `","occurred_at":"2026-03-01T10:00:00Z","lead_id":"` + id +
		`","contact":{"email":"` + email + `","country":"IT"},"source":{"kind":"web_form"}}`)}
}

func TestAnObjectionTakenByOneClassifyProcessSuppressesTheEmailInAnother(t *testing.T) {
	if !pipelinetest.Real() {
		// On kfake, one process was seen consuming every partition after
		// the group had reported both members assigned; the test needs the
		// real broker's rebalancing to put the two leads in two processes.
		t.Skip("skipped: needs the real broker's rebalancing (LEADPIPE_TEST_BROKERS); `make test` sets it")
	}
	cfg := pipelinetest.Kafka(t)
	cfg.Partitions = 2 // created by pipelinetest with 3; use topics of our own
	cfg.TopicPrefix += "two."
	ctx := context.Background()
	if _, err := pipeline.CreateTopics(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	first := leadOnPartition(t, "lead-a", 0, 2)
	reimport := leadOnPartition(t, "lead-b", 1, 2)
	other := leadOnPartition(t, "lead-c", 1, 2)

	// Two processes share the group; one partition of each topic each.
	a := startClassify(t, cfg, "a")
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, lead(first, "ev-1", "giulia@example.com"))
	pipelinetest.Eventually(t, 60*time.Second, "the first process did not start", func() bool { return a.Counts("classify").Consumed == 1 })
	b := startClassify(t, cfg, "b")
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	pipelinetest.Eventually(t, 60*time.Second, "the two processes did not share the partitions", func() bool {
		resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{cfg.Group("classify")}})
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" || len(resp.Groups[0].Members) != 2 {
			return false
		}
		for _, m := range resp.Groups[0].Members {
			if len(m.MemberAssignments.Topics) == 0 {
				return false
			}
		}
		return true
	})
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, lead(other, "ev-2", "sara@example.com"))
	pipelinetest.Eventually(t, 60*time.Second, "the second lead was not processed", func() bool {
		return a.Counts("classify").Consumed+b.Counts("classify").Consumed == 2 &&
			a.Counts("classify").InFlight == 0 && b.Counts("classify").InFlight == 0
	})

	// The objection reaches the process that owns the first lead's partition...
	pipelinetest.Produce(t, &cfg, pipeline.TopicConsentsRaw, kafka.Message{Key: []byte(first), Value: []byte(
		`{"type":"consent","event_id":"ev-3","occurred_at":"2026-03-02T10:00:00Z","lead_id":"` + first +
			`","purpose":"all","action":"object","method":"email_request","collection_point":"privacy-desk","text_version":"v3","proof_ref":"ticket-1"}`)})
	pipelinetest.Eventually(t, 60*time.Second, "the objection was not processed", func() bool {
		return a.Counts("classify").Consumed+b.Counts("classify").Consumed == 3 &&
			a.Counts("classify").InFlight == 0 && b.Counts("classify").InFlight == 0
	})
	time.Sleep(time.Second) // the other process follows leadpipe.state

	// ... and the re-import under a new lead id, on the other partition, is suppressed there.
	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, lead(reimport, "ev-4", "Giulia@Example.com"))
	pipelinetest.Eventually(t, 60*time.Second, "the re-import was not classified", func() bool {
		return a.Counts("classify").Consumed+b.Counts("classify").Consumed == 4 &&
			a.Counts("classify").InFlight == 0 && b.Counts("classify").InFlight == 0
	})
	if a.Counts("classify").Consumed == 0 || b.Counts("classify").Consumed == 0 {
		t.Fatalf("one process consumed everything (%d, %d): the test proves nothing", a.Counts("classify").Consumed, b.Counts("classify").Consumed)
	}
	var got string
	for _, m := range append(pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsClassified), pipelinetest.ReadAll(t, &cfg, pipeline.TopicLeadsQuarantine)...) {
		if strings.Contains(string(m.Value), `"event_id":"ev-4"`) {
			got = string(m.Value)
		}
	}
	if !strings.Contains(got, `"decision":"suppressed"`) || !strings.Contains(got, `"reason":"objection"`) {
		t.Errorf("the re-imported lead was classified %s, want suppressed for the objection", got)
	}
}
