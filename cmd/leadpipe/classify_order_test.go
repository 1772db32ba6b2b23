package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/bench/workload"
)

// finalByLead runs `leadpipe classify` over lines and returns the last
// output line of every lead key, without the fields that say which event
// produced it (event_id, occurred_at, seq) and may differ between orders.
func finalByLead(t *testing.T, lines [][]byte) map[string]map[string]any {
	t.Helper()
	in := bytes.Join(lines, []byte("\n"))
	var out, errOut bytes.Buffer
	code := cmdClassify(context.Background(), []string{"--dev-key", "--now", "2026-11-20T10:00:00Z"}, bytes.NewReader(in), &out, &errOut)
	if code != 0 {
		t.Fatalf("leadpipe classify exited %d: %s", code, errOut.String())
	}
	final := map[string]map[string]any{}
	seq := map[string]float64{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		key, _ := rec["lead_key"].(string)
		switch rec["decision"] {
		case "no_lead", "duplicate":
			continue
		}
		if s := rec["seq"].(float64); s < seq[key] {
			t.Fatalf("lead %s: seq %v after %v", key[:8], s, seq[key])
		}
		seq[key] = rec["seq"].(float64)
		delete(rec, "event_id")
		delete(rec, "occurred_at")
		delete(rec, "seq")
		final[key] = rec
	}
	return final
}

// orderWorkload is a seeded workload of leads, consents and behavior
// (behaviorPerLead on average), plus the same person under a second lead id
// for a tenth of the leads with an email, every third of whom objects
// under the first id: the cross-lead suppression in every order.
func orderWorkload(t *testing.T, leads int, behaviorPerLead float64) []workload.Event {
	t.Helper()
	wl := workload.DefaultConfig()
	wl.Leads, wl.BehaviorPerLead, wl.MalformedRate = leads, behaviorPerLead, 0
	events, err := workload.All(wl)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		var ev struct {
			Type    string `json:"type"`
			Lead    string `json:"lead_id"`
			At      string `json:"occurred_at"`
			Contact *struct {
				Email string `json:"email"`
			} `json:"contact"`
		}
		if json.Unmarshal(e.Value, &ev) != nil || ev.Type != "lead" || ev.Contact == nil || ev.Contact.Email == "" {
			continue
		}
		if n++; n%10 != 0 {
			continue
		}
		again := ev.Lead + "-again"
		events = append(events, workload.Event{Topic: workload.TopicLeads, Kind: workload.KindLead, Key: []byte(again),
			Value: fmt.Appendf(nil, `{"type":"lead","event_id":"x-%d","occurred_at":%q,"lead_id":%q,"contact":{"email":%q},"source":{"kind":"import","import_batch":"b-1"}}`,
				n, ev.At, again, strings.ToUpper(ev.Contact.Email))})
		if n%30 == 0 {
			events = append(events, workload.Event{Topic: workload.TopicConsents, Kind: workload.KindConsent, Key: []byte(ev.Lead),
				Value: fmt.Appendf(nil, `{"type":"consent","event_id":"o-%d","occurred_at":%q,"lead_id":%q,"purpose":"all","action":"object"}`,
					n, ev.At, ev.Lead)})
		}
	}
	return events
}

// TestClassifyGivesEveryLeadTheSameFinalRecordInAnyOrder is the event-time
// guarantee as a user of `leadpipe classify` would check it: a seeded
// workload of leads and consents (with the same person under two lead ids
// objecting under one of them), fed in time order and then in many random
// permutations with duplicated events, ends every lead with the same
// decision, purposes, evidence and timeline.
func TestClassifyGivesEveryLeadTheSameFinalRecordInAnyOrder(t *testing.T) {
	var lines [][]byte
	for _, e := range orderWorkload(t, 400, 0) {
		lines = append(lines, e.Value)
	}
	want := finalByLead(t, lines)
	decisions := map[any]int{}
	for _, r := range want {
		decisions[r["decision"]]++
		decisions[r["rule"]]++
	}
	for _, d := range []string{"accepted", "quarantined", "suppressed", "erased", "released_by_consent"} {
		if decisions[d] == 0 {
			t.Errorf("the workload has no lead ending %s (%v): the test would prove little", d, decisions)
		}
	}

	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 30 {
		perm := append([][]byte(nil), lines...)
		for range len(perm) / 20 { // 5% duplicates: replays and client retries
			perm = append(perm, perm[rng.IntN(len(perm))])
		}
		rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		got := finalByLead(t, perm)
		if len(got) != len(want) {
			t.Fatalf("permutation %d: %d leads, want %d", i, len(got), len(want))
		}
		for k, w := range want {
			if g := got[k]; !reflect.DeepEqual(g, w) {
				gj, _ := json.Marshal(g)
				wj, _ := json.Marshal(w)
				t.Fatalf("permutation %d: lead %s ends\n%s\nwant (time order)\n%s", i, k[:8], gj, wj)
			}
		}
	}
}
