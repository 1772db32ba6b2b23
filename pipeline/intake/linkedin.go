package intake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/leadpipe/leadpipe/stages/sources"
)

// linkedInHandshake answers LinkedIn's webhook validation: GET
// ?challengeCode=C gets {"challengeCode": C, "challengeResponse":
// hex(HMAC-SHA256(client secret, C))}.
func (s *Server) linkedInHandshake(w http.ResponseWriter, r *http.Request) int {
	code := r.URL.Query().Get("challengeCode")
	if code == "" {
		return answer(w, http.StatusBadRequest, "challengeCode: missing")
	}
	mac := hmac.New(sha256.New, s.secrets.LinkedInSecret)
	mac.Write([]byte(code))
	return answerJSON(w, http.StatusOK, map[string]string{"challengeCode": code, "challengeResponse": hex.EncodeToString(mac.Sum(nil))})
}

// linkedIn is POST /v1/linkedin: a Lead Sync notification signed with the
// client secret (X-LI-Signature: hex of HMAC-SHA256 of "hmacsha256=" and
// the body). A DELETED notification becomes an erasure request of its
// lead (consents.raw). A CREATED one carries ids only, and intake does
// not fetch LinkedIn lead responses: it is dead-lettered with its ids, to
// be fetched and imported with `leadpipe import --source linkedin`. A
// lead form response itself (what the Lead Sync API returns) is mapped.
func (s *Server) linkedIn(_ context.Context, r *http.Request, body []byte) result {
	if !signed(s.secrets.LinkedInSecret, append([]byte("hmacsha256="), body...), r.Header.Get("X-LI-Signature")) {
		return result{status: http.StatusUnauthorized}
	}
	res := result{received: 1}
	var probe struct {
		LeadAction          string `json:"leadAction"`
		LeadGenFormResponse string `json:"leadGenFormResponse"`
	}
	if json.Unmarshal(body, &probe) == nil && probe.LeadAction == "CREATED" {
		id := probe.LeadGenFormResponse[strings.LastIndexByte(probe.LeadGenFormResponse, ':')+1:]
		if id == "" {
			res.errors = []fieldError{{Position: "body", Field: "leadGenFormResponse", Reason: "not urn:li:leadGenFormResponse:ID"}}
			return res
		}
		s.log.Warn("a LinkedIn lead was dead-lettered with its ids: intake does not fetch lead form responses")
		res.records = append(res.records, s.deadLetter("linkedin:"+id, body,
			"linkedin: a CREATED notification carries ids only; fetch GET /rest/leadFormResponses/{id} and run leadpipe import --source linkedin"))
		res.deadLettered = 1
		return res
	}
	ev, report, err := sources.FromLinkedIn(body, s.mapping)
	if errors.Is(err, sources.ErrTestLead) {
		res.tests = 1
		return res
	}
	s.adapted(&res, SourceLinkedIn, "body", ev, report, err)
	return res
}
