package pipeline_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

// stuckStage holds every record in Process until its gate opens: a stage
// that has lag and makes no progress.
type stuckStage struct {
	topic string
	gate  chan struct{}
}

func (s *stuckStage) Name() string     { return "stuck" }
func (s *stuckStage) Topics() []string { return []string{s.topic} }
func (s *stuckStage) Process(ctx context.Context, _ *kafka.Message, _ *pipeline.Outputs) (pipeline.Outcome, error) {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return pipeline.Produced, nil
}

// lockedBuffer is a log's output, read while the runner writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gauge reads a gauge of the runner's registry.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A stage with records left on its partitions that commits nothing for
// --stall-after says so: a log line, leadpipe_stage_stalled and not ready
// (/readyz); once it commits again, it is ready and says that too. An idle
// stage (nothing left) is not stalled.
func TestAStageWithLagThatCommitsNothingSaysItIsStalled(t *testing.T) {
	cfg := pipelinetest.Kafka(t)
	cfg.StallAfter = time.Second
	stage := &stuckStage{topic: cfg.Topic(pipeline.TopicLeadsRaw), gate: make(chan struct{})}
	var logs lockedBuffer
	reg := prometheus.NewRegistry()
	r := pipeline.NewRunner(cfg, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err := r.Add(stage, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	}()

	// Idle for three times --stall-after: ready, not stalled.
	pipelinetest.Eventually(t, 30*time.Second, "the stage did not become ready", r.Ready)
	time.Sleep(3 * cfg.StallAfter)
	if !r.Ready() || gauge(t, reg, "leadpipe_stage_stalled") != 0 {
		t.Fatalf("an idle stage: ready %v, stalled %v; want ready and not stalled", r.Ready(), gauge(t, reg, "leadpipe_stage_stalled"))
	}

	pipelinetest.Produce(t, &cfg, pipeline.TopicLeadsRaw, kafka.Message{Key: []byte("k"), Value: []byte(`{}`)})
	pipelinetest.Eventually(t, 30*time.Second, "the stuck stage was not reported stalled", func() bool {
		return gauge(t, reg, "leadpipe_stage_stalled") == 1 && !r.Ready() && strings.Contains(logs.String(), "stalled: records are left")
	})
	close(stage.gate)
	pipelinetest.Eventually(t, 30*time.Second, "the stage did not recover from the stall", func() bool {
		return gauge(t, reg, "leadpipe_stage_stalled") == 0 && r.Ready() && strings.Contains(logs.String(), "committing again after a stall")
	})
}
