package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/pipeline/pipelinetest"
)

func TestTheDemoPrintsTheMarketersAnswersAndServesTheDashboardUntilStopped(t *testing.T) {
	addr := os.Getenv("LEADPIPE_TEST_CLICKHOUSE")
	if addr == "" {
		t.Skip("skipped: LEADPIPE_TEST_CLICKHOUSE is not set; `make test` starts ClickHouse and sets it")
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out, errs pipelinetest.LockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- dispatch(ctx, []string{"demo", "--clickhouse", addr, "--leads", "300", "--listen", "127.0.0.1:0"}, nil, &out, &errs)
	}()
	address := regexp.MustCompile(`The dashboard: (http://\S+) `)
	deadline := time.After(3 * time.Minute)
	var url string
	for url == "" {
		select {
		case c := <-code:
			t.Fatalf("the demo exited (%d) before serving the dashboard:\n%s\n%s", c, out.String(), errs.String())
		case <-deadline:
			t.Fatalf("no dashboard address after 3 minutes:\n%s\n%s", out.String(), errs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if m := address.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	printed := out.String()
	for _, want := range []string{"What marketers read (marketing_demo, as the marketer user", "How many leads arrived each week",
		"How do visitors of each channel go from page view", "acceptance_rate"} {
		if !strings.Contains(printed, want) {
			t.Errorf("the demo does not print %q:\n%s", want, printed)
		}
	}
	if strings.Contains(printed, "no marketer user on this server") {
		t.Errorf("the demo did not read as the marketer:\n%s", printed)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-question="lead_volume"`) {
		t.Errorf("the dashboard answered %s:\n%.2000s", resp.Status, body)
	}
	stop() // Ctrl-C
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("the demo exited %d after Ctrl-C:\n%s", c, errs.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("the demo still serves 10 s after Ctrl-C")
	}
}
