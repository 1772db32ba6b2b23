package main

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/leadpipe/leadpipe/bench/workload"
)

// TestMembershipChangesNeverStallThePipeline is the scenario of issue 24
// point 6, ten times in a row, each on topics and a database of its own:
// two classify processes on 12 partitions, one killed with SIGKILL and
// started again, then a third that joins and leaves by SIGTERM, all under
// load. Once, two processes held all 12 partitions and consumed nothing
// for 78 s, and enrich waited on them: every run here must drain.
func TestMembershipChangesNeverStallThePipeline(t *testing.T) {
	wl := workload.DefaultConfig()
	wl.Seed, wl.Leads, wl.BehaviorPerLead = 11, 300, 8
	events, err := workload.All(wl)
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 10; run++ {
		t.Run(fmt.Sprintf("run %d", run), func(t *testing.T) {
			cfg, _ := testRunConfig(t)
			onPartitions(t, cfg, 12)
			c := newChaos(t, cfg)
			victim := c.start("classify")
			c.start("classify")
			c.start("enrich")
			c.start("sink")
			produceChunks(t, &cfg.kafka, events, 6, 200*time.Millisecond, func(i int) {
				switch i {
				case 1:
					victim = c.restart(victim)
				case 3:
					third := c.start("classify")
					time.Sleep(2 * time.Second)
					third.cmd.Process.Signal(syscall.SIGTERM)
					third.wait(t, time.Minute)
					c.procs["classify"] = slices.DeleteFunc(c.procs["classify"], func(p *chaosProc) bool { return p == third })
				}
			})
			c.drain(2 * time.Minute)
		})
	}
}
