package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/leadpipe/leadpipe/bench/workload"
	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/pipeline/intake"
)

// intakeShapes are the request sizes measured: one event a request, and
// a hundred; with the requests each run sends and the clients sending
// them at once.
var intakeShapes = []struct{ events, requests, clients int }{
	{1, 4000, 8},
	{100, 1000, 4},
}

// runIntake: `leadpipe intake`'s POST /v1/events (JSON lines, bearer
// token, decoded, produced with acks=all, answered once acknowledged),
// served in this process on loopback, against the same records written by
// the same number of goroutines straight with kafka-go (one WriteMessages
// a request). Per request size: requests/s, and the p99 of a request's
// time to the Kafka acknowledgement (the HTTP round trip for intake).
func runIntake(ctx context.Context, o *options, r *report) error {
	events, err := corpus(o.leads, false)
	if err != nil {
		return err
	}
	var leads []workload.Event
	for _, e := range events {
		if e.Topic == workload.TopicLeads {
			leads = append(leads, e)
		}
	}
	cfg := kafkaConfig(o, "intake")
	return withTopics(ctx, &cfg, func() error {
		icfg := intake.DefaultConfig()
		icfg.Addr, icfg.MetricsAddr, icfg.Rate, icfg.Burst = "127.0.0.1:0", "", 1e9, 1<<30
		secrets := intake.Secrets{EventsToken: []byte("bench")}
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		addr := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- intake.Run(sctx, icfg, &cfg, nil, secrets, prometheus.NewRegistry(), nil, func(a string) { addr <- a })
		}()
		var url string
		select {
		case a := <-addr:
			url = "http://" + a + "/v1/events"
		case err := <-done:
			return fmt.Errorf("intake: %w", err)
		}
		w := pipeline.NewWriter(&cfg)
		defer w.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for _, shape := range intakeShapes {
			reqs := make([][]workload.Event, shape.requests)
			for i := range reqs {
				for j := range shape.events {
					reqs[i] = append(reqs[i], leads[(i*shape.events+j)%len(leads)])
				}
			}
			rate := comparison{scenario: fmt.Sprintf("intake, %d event(s) a request", shape.events), what: "requests/s",
				unit: fmt.Sprintf("%d clients", shape.clients), variant: "intake", baseline: "kafka-go WriteMessages"}
			p99 := comparison{scenario: rate.scenario, what: "p99 ms", unit: "request to Kafka ack", variant: "intake",
				baseline: "kafka-go WriteMessages", lowerIsBetter: true}
			for run := range o.runs {
				for i := range 2 {
					viaIntake := (run+i)%2 == 0
					send := func(batch []workload.Event) error {
						if viaIntake {
							return postEvents(ctx, client, url, batch)
						}
						msgs := make([]kafka.Message, len(batch))
						for k, e := range batch {
							msgs[k] = kafka.Message{Topic: cfg.Topic(e.Topic), Key: e.Key, Value: e.Value}
						}
						return w.WriteMessages(ctx, msgs...)
					}
					rps, lat, err := drive(reqs, shape.clients, send)
					if err != nil {
						return err
					}
					if viaIntake {
						rate.vs, p99.vs = append(rate.vs, rps), append(p99.vs, lat)
					} else {
						rate.bs, p99.bs = append(rate.bs, rps), append(p99.bs, lat)
					}
					log.Printf("  %s, run %d, intake %v: %.0f requests/s, p99 %.1f ms", rate.scenario, run+1, viaIntake, rps, lat)
				}
			}
			r.add(rate)
			r.add(p99)
		}
		stop()
		return <-done
	})
}

// drive sends every request of reqs from clients goroutines and returns
// requests per second and the p99 of their latencies in milliseconds.
func drive(reqs [][]workload.Event, clients int, send func([]workload.Event) error) (float64, float64, error) {
	lat := make([]float64, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				if err := send(reqs[i]); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
				lat[i] = float64(time.Since(t).Microseconds()) / 1000
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	return float64(len(reqs)) / time.Since(start).Seconds(), percentile(lat, 0.99), first
}

// postEvents sends events as one POST /v1/events and wants its 200.
func postEvents(ctx context.Context, client *http.Client, url string, events []workload.Event) error {
	var body bytes.Buffer
	for _, e := range events {
		body.Write(e.Value)
		body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer bench")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("intake answered %s", resp.Status)
	}
	return nil
}
