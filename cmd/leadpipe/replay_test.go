package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
	"github.com/leadpipe/leadpipe/stages/classify"
)

// TestAReplayOfEveryRawTopicFromTheStartBringsNobodyBack: after a workload
// with objections and erasures has landed, every stage runs again under new
// consumer groups, reading every raw topic from offset 0 against the same
// state and database (an operator resetting offsets, a disaster recovery).
// Nothing changes in ClickHouse: no erased person comes back, no suppressed
// one is accepted again, and no aggregate counts a record twice.
func TestAReplayOfEveryRawTopicFromTheStartBringsNobodyBack(t *testing.T) {
	events := orderWorkload(t, 300, 3)
	cfg, conn := testRunConfig(t)
	db := cfg.ch.Database
	var msgs []kafka.Message
	for _, e := range events {
		msgs = append(msgs, kafka.Message{Topic: e.Topic, Key: e.Key, Value: e.Value})
	}
	runner := startStages(t, cfg, stageNames...)
	pipelinetest.ProduceEach(t, &cfg.kafka, msgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := waitDrained(ctx, runner, nil); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, conn, db)
	decisions := pipelinetest.Strings(t, conn, `SELECT toString(count()) FROM `+db+`.decisions`)
	assertSomeOfEach(t, conn, db)

	replay := *cfg
	replay.kafka.GroupPrefix += "replay-"
	again := startStages(t, &replay, stageNames...)
	if err := waitDrained(ctx, again, nil); err != nil {
		t.Fatal(err)
	}
	if c := again.Counts("classify"); c.Consumed < int64(len(msgs))/2 {
		t.Fatalf("the replay's classify consumed %d records: it did not read the raw topics again", c.Consumed)
	}
	after := snapshot(t, conn, db)
	for name, want := range before {
		if got := after[name]; !slices.Equal(got, want) {
			t.Errorf("%s changed with the replay:\n%s", name, firstDiff(want, got))
		}
	}
	if got := pipelinetest.Strings(t, conn, `SELECT toString(count()) FROM `+db+`.decisions`); !slices.Equal(got, decisions) {
		t.Errorf("decisions: %v rows after the replay, %v before: the audit landed twice", got, decisions)
	}
	for _, erased := range pipelinetest.Strings(t, conn, `SELECT lead_key FROM `+db+`.leads FINAL WHERE decision = '`+classify.DecisionErased+`'`) {
		t.Errorf("an erased lead has a row again: %s", erased[:8])
	}
	checkNoDrift(t, cfg)
}
