package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/leadpipe/leadpipe/stages/sources"
)

// metaHandshake answers the subscription handshake of a Meta webhook:
// GET ?hub.mode=subscribe&hub.verify_token=TOKEN&hub.challenge=N gets N
// back when TOKEN is the verify token, 401 otherwise.
func (s *Server) metaHandshake(w http.ResponseWriter, r *http.Request) int {
	q := r.URL.Query()
	if q.Get("hub.mode") != "subscribe" || !equal([]byte(q.Get("hub.verify_token")), s.secrets.MetaVerifyToken) {
		return answer(w, http.StatusUnauthorized, "the signature, token or key does not match")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(q.Get("hub.challenge")))
	return http.StatusOK
}

// metaNotification is the body of a Meta Page webhook: for the field
// leadgen, ids only (developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving).
type metaNotification struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// leadgenIDs are the ids of one leadgen change, kept as their digits (a
// lead id can be beyond what a float64 holds). It is also the value of
// the dead letter of a lead that could not be fetched (strings).
type leadgenIDs struct {
	Source      string    `json:"source"`
	LeadgenID   metaDigit `json:"leadgen_id"`
	FormID      metaDigit `json:"form_id,omitempty"`
	PageID      metaDigit `json:"page_id,omitempty"`
	AdID        metaDigit `json:"ad_id,omitempty"`
	AdgroupID   metaDigit `json:"adgroup_id,omitempty"`
	CreatedTime metaDigit `json:"created_time,omitempty"`
}

// metaDigit is a Meta id or time in a notification: a whole number, as a
// JSON number or string, kept as its digits.
type metaDigit string

func (d *metaDigit) UnmarshalJSON(b []byte) error {
	v := string(b)
	if len(b) > 1 && b[0] == '"' && b[len(b)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "null" {
		return nil
	}
	if !digits.MatchString(v) {
		// A type error, which encoding/json completes with the field's name.
		return &json.UnmarshalTypeError{Value: "value that is not a whole number of at most 32 digits", Type: reflect.TypeFor[int64]()}
	}
	*d = metaDigit(v)
	return nil
}

func (d metaDigit) String() string { return string(d) }

// strings are the ids as JSON strings: the dead letter's value, which a
// reader in any language takes without rounding a 17-digit id.
func (ids leadgenIDs) strings() map[string]string {
	m := map[string]string{"source": ids.Source}
	for k, v := range map[string]metaDigit{"leadgen_id": ids.LeadgenID, "form_id": ids.FormID, "page_id": ids.PageID,
		"ad_id": ids.AdID, "adgroup_id": ids.AdgroupID, "created_time": ids.CreatedTime} {
		if v != "" {
			m[k] = v.String()
		}
	}
	return m
}

var digits = regexp.MustCompile(`^[0-9]{1,32}$`)

// meta is POST /v1/meta: a leadgen notification signed with the app
// secret (X-Hub-Signature-256). Each lead it names is fetched from the
// Graph API with its form, mapped by sources.FromMeta, and produced; a
// lead that cannot be fetched or mapped is dead-lettered with its ids.
func (s *Server) meta(ctx context.Context, r *http.Request, body []byte) result {
	sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	if !ok || !signed(s.secrets.MetaAppSecret, body, sig) {
		return result{status: http.StatusUnauthorized}
	}
	if !utf8.Valid(body) {
		return result{received: 1, errors: []fieldError{{Position: "body", Reason: "not valid UTF-8"}}}
	}
	var n metaNotification
	if err := json.Unmarshal(body, &n); err != nil {
		return result{received: 1, errors: []fieldError{fieldErrorOf("body", jsonError(err))}}
	}
	var res result
	var leads []leadgenIDs
	for i, e := range n.Entry {
		for j, c := range e.Changes {
			if c.Field != "leadgen" {
				continue // another field of the Page: not a lead
			}
			res.received++
			pos := fmt.Sprintf("entry[%d].changes[%d]", i, j)
			var ids leadgenIDs
			if err := json.Unmarshal(c.Value, &ids); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) && te.Field != "" {
					res.errors = append(res.errors, fieldError{Position: pos, Field: "value." + te.Field, Reason: "a " + te.Value})
				} else {
					res.errors = append(res.errors, fieldError{Position: pos, Field: "value", Reason: jsonError(err).Error()})
				}
				continue
			}
			if ids.LeadgenID == "" {
				res.errors = append(res.errors, fieldError{Position: pos, Field: "value.leadgen_id", Reason: "missing"})
				continue
			}
			ids.Source = SourceMeta
			leads = append(leads, ids)
		}
	}
	if len(res.errors) > 0 {
		return res
	}
	for _, ids := range leads {
		s.metaLead(ctx, &res, ids)
	}
	return res
}

// metaLead fetches one lead and adds its record to res, or its dead letter.
func (s *Server) metaLead(ctx context.Context, res *result, ids leadgenIDs) {
	lead, err := s.graphGet(ctx, "lead", ids.LeadgenID.String(),
		"id,created_time,ad_id,ad_name,campaign_id,campaign_name,form_id,is_organic,platform,field_data,custom_disclaimer_responses")
	mapping := s.mapping
	if err == nil {
		mapping, err = s.formMapping(ctx, ids.FormID.String())
	}
	var try result
	if err == nil {
		ev, report, aerr := sources.FromMeta(lead, mapping)
		s.adapted(&try, SourceMeta, "lead", &ev, report, aerr)
		if len(try.errors) > 0 {
			e := try.errors[0]
			err = fmt.Errorf("the lead the Graph API gave cannot be mapped: %s", strings.TrimPrefix(e.Field+": "+e.Reason, ": "))
		}
	}
	if err != nil {
		v, _ := json.Marshal(ids.strings())
		s.log.Warn("a Meta lead was dead-lettered with its ids", "form", ids.FormID.String(), "reason", err.Error())
		res.records = append(res.records, s.deadLetter("meta:"+ids.LeadgenID.String(), v, err.Error()))
		res.deadLettered++
		return
	}
	res.records = append(res.records, try.records...)
}

// formMapping is the mapping to read a lead of formID with: sources.yaml,
// with every box the form itself ticks by default marked so (the Graph
// API's leadgen form, legal_content.custom_disclaimer.checkboxes[].
// is_checked_by_default): a pre-ticked box never counts, whatever the
// file says. An unmapped form needs no fetch: it gives no consent anyway.
func (s *Server) formMapping(ctx context.Context, formID string) (*sources.Config, error) {
	form, ok := s.mapping.Meta.Forms[formID]
	if !ok {
		return s.mapping, nil
	}
	preTicked, ok := s.forms.get(formID)
	if !ok {
		b, err := s.graphGet(ctx, "form", formID, "id,legal_content{custom_disclaimer}")
		if err != nil {
			return nil, err
		}
		var f struct {
			LegalContent struct {
				CustomDisclaimer struct {
					Checkboxes []struct {
						Key                string `json:"key"`
						IsCheckedByDefault bool   `json:"is_checked_by_default"`
					} `json:"checkboxes"`
				} `json:"custom_disclaimer"`
			} `json:"legal_content"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("the form the Graph API gave: %w", jsonError(err))
		}
		preTicked = map[string]bool{}
		for _, c := range f.LegalContent.CustomDisclaimer.Checkboxes {
			preTicked[c.Key] = c.IsCheckedByDefault
		}
		s.forms.put(formID, preTicked)
	}
	boxes := make(map[string]sources.MetaCheckbox, len(form.Checkboxes))
	for k, b := range form.Checkboxes {
		b.CheckedByDefault = b.CheckedByDefault || preTicked[k]
		boxes[k] = b
	}
	form.Checkboxes = boxes
	c := *s.mapping
	c.Meta.Forms = map[string]sources.MetaForm{formID: form}
	return &c, nil
}

// graphGet reads GET {GraphURL}/{id}?fields=FIELDS with the page token,
// retrying a 5xx, a 429 and a timeout with backoff. Its error names what
// (lead, form) and the status, never the id.
func (s *Server) graphGet(ctx context.Context, what, id, fields string) ([]byte, error) {
	u := strings.TrimSuffix(s.cfg.GraphURL, "/") + "/" + url.PathEscape(id) + "?fields=" + url.QueryEscape(fields)
	wait := s.cfg.GraphBackoff
	var last error
	for attempt := 1; ; attempt++ {
		b, retry, err := s.graphTry(ctx, u)
		if err == nil {
			s.metrics.GraphCalls.WithLabelValues("ok").Inc()
			return b, nil
		}
		last = fmt.Errorf("graph api: GET %s: %w", what, err)
		if !retry || attempt >= s.cfg.GraphAttempts {
			s.metrics.GraphCalls.WithLabelValues("failed").Inc()
			return nil, fmt.Errorf("%w (after %d attempts)", last, attempt)
		}
		s.metrics.GraphCalls.WithLabelValues("retried").Inc()
		select {
		case <-ctx.Done():
			s.metrics.GraphCalls.WithLabelValues("failed").Inc()
			return nil, fmt.Errorf("%w (after %d attempts, out of time)", last, attempt)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// graphTry is one attempt: the body of a 200, or whether to retry.
func (s *Server) graphTry(ctx context.Context, u string) ([]byte, bool, error) {
	actx, cancel := context.WithTimeout(ctx, s.cfg.GraphTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, errors.New("bad --graph-url")
	}
	req.Header.Set("Authorization", "Bearer "+string(s.secrets.MetaPageToken))
	resp, err := s.graph.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its text holds the URL, hence the id: leave it out
			if ue.Timeout() {
				return nil, true, errors.New("timed out")
			}
			return nil, true, ue.Err
		}
		return nil, true, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		return nil, true, errors.New("the answer could not be read")
	case resp.StatusCode == http.StatusOK:
		return b, false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, true, fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil, false, fmt.Errorf("status %d (not retried: the lead is gone, or the token lacks leads_retrieval)", resp.StatusCode)
}

// formCache keeps what forms tick by default for a while: forms change
// rarely, and leads come in bursts.
type formCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedForm
}

type cachedForm struct {
	preTicked map[string]bool
	at        time.Time
}

func newFormCache(ttl time.Duration) *formCache {
	return &formCache{ttl: ttl, m: map[string]cachedForm{}}
}

func (c *formCache) get(id string) (map[string]bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[id]
	if !ok || time.Since(f.at) > c.ttl {
		return nil, false
	}
	return f.preTicked, true
}

func (c *formCache) put(id string, preTicked map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[id] = cachedForm{preTicked: preTicked, at: time.Now()}
}

// kindName names a Go type as the JSON it decodes.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}

// jsonError names the field of a JSON error, never the value.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		prefix := ""
		if te.Field != "" {
			prefix = te.Field + ": "
		}
		return fmt.Errorf("%sa %s where %s belongs", prefix, te.Value, kindName(te.Type))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not JSON (at byte %d)", se.Offset)
	}
	return errors.New("not the expected JSON")
}
