package intake

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// Run serves the intake until ctx ends, then shuts down gracefully: it
// stops accepting, lets the requests under way finish (their records
// acknowledged or answered 503), and closes the Kafka writer. started, if
// not nil, is called with the address served once it listens.
func Run(ctx context.Context, cfg Config, kcfg *pipeline.Config, mapping *sources.Config, secrets Secrets, reg *prometheus.Registry, log *slog.Logger, started func(addr string)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := pipeline.NewWriter(kcfg) // acks=all, synchronous
	defer w.Close()
	srv := New(cfg, kcfg, mapping, secrets, w, NewMetrics(reg), log)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)} // TLS handshakes that fail: the sender's business
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return pipeline.Serve(gctx, cfg.MetricsAddr, reg, srv.Ready, log) })
	g.Go(func() error { srv.watchKafka(gctx, cfg.RetryAfter); return nil })
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), srv.budget())
		defer cancel()
		return hs.Shutdown(sctx)
	})
	g.Go(func() error {
		log.Info("intake serving", "addr", ln.Addr().String(), "tls", cfg.TLSCert != "")
		if started != nil {
			started(ln.Addr().String())
		}
		var err error
		if cfg.TLSCert != "" {
			err = hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	return g.Wait()
}

// watchKafka keeps Ready true only while the broker answers: at start,
// then every interval while it is not ready (a load balancer that takes
// an intake out on /readyz sends it nothing, so no produce would tell).
func (s *Server) watchKafka(ctx context.Context, interval time.Duration) {
	probe := func() {
		pctx, cancel := context.WithTimeout(ctx, interval)
		defer cancel()
		topics := []string{s.kafka.Topic(pipeline.TopicLeadsRaw), s.kafka.Topic(pipeline.TopicConsentsRaw), s.kafka.Topic(pipeline.TopicBehaviorRaw)}
		md, err := s.kafka.Client(interval).Metadata(pctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil {
			for _, t := range md.Topics {
				if t.Error != nil {
					err = t.Error
				}
			}
		}
		if err != nil && s.ready.Load() {
			s.log.Warn("Kafka does not answer for the raw topics: not ready", "err", err)
		}
		s.ready.Store(err == nil)
	}
	probe()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.ready.Load() {
				probe()
			}
		}
	}
}
