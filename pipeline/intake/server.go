package intake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/leadpipe/leadpipe/pipeline"
	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// Producer writes records and returns once Kafka acknowledged them all
// (*kafka.Writer with RequiredAcks RequireAll, synchronous).
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ Producer = (*kafka.Writer)(nil)

// Server is the intake's HTTP handler and what it needs.
type Server struct {
	cfg          Config
	kafka        *pipeline.Config
	mapping      *sources.Config
	secrets      Secrets
	producer     Producer
	metrics      *Metrics
	log          *slog.Logger
	graph        *http.Client
	forms        *formCache
	limits       map[string]*rate.Limiter
	schemaLimits schemas.Limits
	ready        atomic.Bool
	mux          *http.ServeMux
}

// New returns a Server producing with p to kcfg's raw topics. A nil log
// is silent.
func New(cfg Config, kcfg *pipeline.Config, mapping *sources.Config, secrets Secrets, p Producer, m *Metrics, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if mapping == nil {
		mapping = &sources.Config{}
	}
	s := &Server{cfg: cfg, kafka: kcfg, mapping: mapping, secrets: secrets, producer: p, metrics: m, log: log,
		graph: &http.Client{}, forms: newFormCache(10 * time.Minute), limits: map[string]*rate.Limiter{},
		schemaLimits: schemas.DefaultLimits(), mux: http.NewServeMux()}
	s.ready.Store(true)
	for _, src := range []string{SourceEvents, SourceMeta, SourceGoogleAds, SourceLinkedIn} {
		s.limits[src] = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	}
	s.mux.Handle("POST /v1/events", s.endpoint(SourceEvents, secrets.EventsToken, s.events))
	s.mux.Handle("GET /v1/meta", s.endpoint(SourceMeta, secrets.MetaAppSecret, nil))
	s.mux.Handle("POST /v1/meta", s.endpoint(SourceMeta, secrets.MetaAppSecret, s.meta))
	s.mux.Handle("POST /v1/google-ads", s.endpoint(SourceGoogleAds, secrets.GoogleKey, s.googleAds))
	s.mux.Handle("GET /v1/linkedin", s.endpoint(SourceLinkedIn, secrets.LinkedInSecret, nil))
	s.mux.Handle("POST /v1/linkedin", s.endpoint(SourceLinkedIn, secrets.LinkedInSecret, s.linkedIn))
	return s
}

// ServeHTTP serves the endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Ready reports whether the last write to Kafka succeeded (/readyz).
func (s *Server) Ready() bool { return s.ready.Load() }

// A fieldError is one position of a 400 answer: where (the line or the
// item), the field and why, never a value.
type fieldError struct {
	Position string `json:"position"`
	Field    string `json:"field,omitempty"`
	Reason   string `json:"reason"`
}

func fieldErrorOf(pos string, err error) fieldError {
	var fe *schemas.FieldError
	if errors.As(err, &fe) {
		return fieldError{Position: pos, Field: fe.Field, Reason: fe.Reason}
	}
	return fieldError{Position: pos, Reason: err.Error()}
}

// result is what a source's handler made of a request: the records to
// produce (raw topics and dead letters), or the 400's field errors, or an
// answer of its own (status, body) such as a handshake or a 401.
type result struct {
	records      []kafka.Message
	received     int
	deadLettered int
	tests        int
	errors       []fieldError
	status       int
	body         []byte
}

// handler reads a source's authenticated request body and says what to
// do with it.
type handler func(ctx context.Context, r *http.Request, body []byte) result

// endpoint wraps a source's handler: off without its secret (404), the
// rate limit (429), the body limit (413), then produce every record and
// answer 200 only once Kafka acknowledged them all (503 otherwise). A nil
// h serves the source's GET handshake.
func (s *Server) endpoint(source string, secret []byte, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := s.serve(source, secret, h, w, r)
		s.metrics.Requests.WithLabelValues(source, strconv.Itoa(status)).Inc()
	})
}

func (s *Server) serve(source string, secret []byte, h handler, w http.ResponseWriter, r *http.Request) int {
	if len(secret) == 0 {
		return answer(w, http.StatusNotFound, "this source is off: intake has no secret for it")
	}
	if !s.limits[source].Allow() {
		w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
		return answer(w, http.StatusTooManyRequests, "over the rate limit of this source: retry later")
	}
	if h == nil {
		switch source {
		case SourceMeta:
			return s.metaHandshake(w, r)
		default:
			return s.linkedInHandshake(w, r)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes (--max-body-bytes): send fewer records a request", s.cfg.MaxBodyBytes))
		}
		return answer(w, http.StatusBadRequest, "the body could not be read")
	}
	// The work of a request that Kafka is acknowledging goes on if the
	// sender hangs up: it retries, and the records' ids make the same lead.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.budget())
	defer cancel()
	res := h(ctx, r, body)
	if res.status != 0 {
		if res.status == http.StatusUnauthorized {
			return answer(w, res.status, "the signature, token or key does not match")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.status)
		w.Write(res.body)
		return res.status
	}
	s.metrics.Received.WithLabelValues(source).Add(float64(res.received))
	if len(res.errors) > 0 {
		s.metrics.Records.WithLabelValues(source, OutcomeRejected).Add(float64(res.received))
		return answerJSON(w, http.StatusBadRequest, map[string]any{
			"error":  "no record of the request was produced: fix these and send it again",
			"errors": res.errors,
		})
	}
	if len(res.records) > 0 {
		start := time.Now()
		pctx, pcancel := context.WithTimeout(ctx, s.cfg.ProduceTimeout)
		err := s.producer.WriteMessages(pctx, res.records...)
		pcancel()
		s.metrics.ProduceSeconds.Observe(time.Since(start).Seconds())
		s.ready.Store(err == nil)
		if err != nil {
			s.log.Warn("kafka did not acknowledge a request's records; answered 503", "source", source, "records", len(res.records), "err", err)
			w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
			return answer(w, http.StatusServiceUnavailable, "Kafka did not acknowledge the records: nothing is lost if you send them again")
		}
	}
	produced := len(res.records) - res.deadLettered
	s.metrics.Records.WithLabelValues(source, OutcomeProduced).Add(float64(produced))
	s.metrics.Records.WithLabelValues(source, OutcomeDeadLettered).Add(float64(res.deadLettered))
	s.metrics.Records.WithLabelValues(source, OutcomeTest).Add(float64(res.tests))
	return answerJSON(w, http.StatusOK, map[string]int{"produced": produced, "dead_lettered": res.deadLettered, "test_leads": res.tests})
}

// budget bounds one request's work: the Graph API calls with their
// retries, then the produce.
func (s *Server) budget() time.Duration {
	graph := time.Duration(s.cfg.GraphAttempts)*s.cfg.GraphTimeout + s.cfg.GraphBackoff<<min(s.cfg.GraphAttempts, 10)
	return graph + s.cfg.ProduceTimeout + 5*time.Second
}

func answer(w http.ResponseWriter, status int, msg string) int {
	return answerJSON(w, status, map[string]string{"error": msg})
}

func answerJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
	return status
}

// record is the Kafka record of an event: on the raw topic of its type,
// keyed by its lead (an anonymous behavior by its visitor), so that the
// pipeline sees one lead's events in order and dedups a redelivery.
func (s *Server) record(ev schemas.Event, value []byte) kafka.Message {
	topic, key := pipeline.TopicLeadsRaw, ev.LeadID()
	switch e := ev.(type) {
	case *schemas.Consent:
		topic = pipeline.TopicConsentsRaw
	case *schemas.Behavior:
		topic = pipeline.TopicBehaviorRaw
		if key == "" {
			key = e.AnonymousID
		}
	}
	return kafka.Message{Topic: s.kafka.Topic(topic), Key: []byte(key), Value: value}
}

// deadLetter is the dead-letter record of a record intake received but
// could not complete: value holds its ids, so that it can be fetched and
// imported later.
func (s *Server) deadLetter(key string, value []byte, reason string) kafka.Message {
	m := kafka.Message{Topic: s.kafka.Topic(pipeline.TopicLeadsRaw), Partition: -1, Offset: -1, Key: []byte(key), Value: value}
	return pipeline.DeadLetterOf(s.kafka.Topic(pipeline.TopicDLQ), "intake", &m, reason, time.Now())
}

// events is POST /v1/events: leadpipe's own events as JSON lines, with a
// bearer token. The request is all or nothing: one line that leadpipe
// cannot decode rejects it, with the position and field of each such line.
func (s *Server) events(_ context.Context, r *http.Request, body []byte) result {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !equal([]byte(token), s.secrets.EventsToken) {
		return result{status: http.StatusUnauthorized}
	}
	var res result
	for n, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		res.received++
		pos := fmt.Sprintf("line %d", n+1)
		ev, err := schemas.Decode(line, s.schemaLimits)
		if err != nil {
			res.errors = append(res.errors, fieldErrorOf(pos, err))
			continue
		}
		res.records = append(res.records, s.record(ev, bytes.Clone(line)))
	}
	return res
}

// googleAds is POST /v1/google-ads: one Google Ads lead form webhook
// body, authenticated by its google_key.
func (s *Server) googleAds(_ context.Context, _ *http.Request, body []byte) result {
	var key struct {
		GoogleKey string `json:"google_key"`
	}
	if json.Unmarshal(body, &key) != nil || !equal([]byte(key.GoogleKey), s.secrets.GoogleKey) {
		return result{status: http.StatusUnauthorized}
	}
	res := result{received: 1}
	lead, report, err := sources.FromGoogleAds(body)
	if errors.Is(err, sources.ErrTestLead) {
		res.tests = 1
		return res
	}
	s.adapted(&res, SourceGoogleAds, "body", &lead, report, err)
	return res
}

// adapted adds an adapter's event to res, or its error as a field error;
// the event is checked as classify would decode it.
func (s *Server) adapted(res *result, source, pos string, ev schemas.Event, report sources.Report, err error) {
	var v []byte
	if err == nil {
		v, err = json.Marshal(ev)
	}
	if err == nil {
		_, err = schemas.Decode(v, s.schemaLimits)
	}
	if err != nil {
		res.errors = append(res.errors, fieldErrorOf(pos, err))
		return
	}
	s.unmapped(source, report)
	res.records = append(res.records, s.record(ev, v))
}

// unmapped counts what gave no consent for want of a mapping, and logs
// the form (an id, no person's data) so that sources.yaml can be completed.
func (s *Server) unmapped(source string, r sources.Report) {
	add := func(kind string, n int) {
		if n > 0 {
			s.metrics.Unmapped.WithLabelValues(source, kind).Add(float64(n))
			s.log.Warn("a consent answer gave no consent: sources.yaml does not map it", "source", source, "form", r.Form, "kind", kind, "count", n)
		}
	}
	if r.UnmappedForm {
		add(UnmappedForm, 1)
	}
	add(UnmappedCheckbox, len(r.UnmappedCheckboxes))
	add(UnmappedPreTick, len(r.PreTicked))
	add(UnmappedAnswer, len(r.Unreadable))
}

// equal compares a secret in constant time, whatever the lengths.
func equal(got, want []byte) bool {
	a, b := sha256.Sum256(got), sha256.Sum256(want)
	return hmac.Equal(a[:], b[:]) && len(want) > 0
}

// signed reports whether sig (hex) is the HMAC-SHA256 of msg under key.
func signed(key, msg []byte, sig string) bool {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	want := mac.Sum(nil)
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(got, want)
}
