package main

import (
	"context"
	"fmt"
	"io"

	"github.com/leadpipe/leadpipe/pipeline"
)

const topicsSynopsis = `Usage: leadpipe topics [flags]

Creates every topic leadpipe uses that does not exist yet, with --partitions
partitions; the topics that hold state (leads.classified, leads.quarantine,
leadpipe.state) are compacted. Existing topics are left as they are.`

func cmdTopics(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := pipeline.DefaultConfig()
	fs := newFlagSet("topics", topicsSynopsis, stdout, stderr)
	cfg.RegisterConnFlags(fs)
	cfg.RegisterTopicFlags(fs)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "leadpipe topics: %v\n", err)
		return 2
	}
	created, err := pipeline.CreateTopics(ctx, &cfg)
	if err != nil {
		fmt.Fprintf(stderr, "leadpipe topics: %v\n", err)
		return 1
	}
	for _, t := range pipeline.AllTopics {
		state := "exists"
		for _, c := range created {
			if c == cfg.Topic(t.Name) {
				state = "created"
			}
		}
		policy := "delete"
		if t.Compacted {
			policy = "compact"
		}
		fmt.Fprintf(stdout, "%-28s %-8s cleanup.policy=%s\n", cfg.Topic(t.Name), state, policy)
	}
	return 0
}
