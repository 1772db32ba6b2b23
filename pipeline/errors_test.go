package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/segmentio/kafka-go"
)

func TestIsRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"a broker that refuses connections is retried", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"a leader that moved is retried", fmt.Errorf("produce: %w", kafka.NotLeaderForPartition), true},
		{"a record over the broker's size limit is not", fmt.Errorf("produce: %w", kafka.MessageSizeTooLarge), false},
		{"a topic the broker does not know yet (being created) is retried", kafka.UnknownTopicOrPartition, true},
		{"a write with one record too large among good ones is not", kafka.WriteErrors{nil, kafka.MessageSizeTooLarge, nil}, false},
		{"a write whose records met a moving leader is", kafka.WriteErrors{kafka.LeaderNotAvailable, nil}, true},
		{"access denied to a topic is not", kafka.TopicAuthorizationFailed, false},
		{"a ClickHouse table that does not exist is not", fmt.Errorf("insert: %w", &proto.Exception{Code: 60, Name: "DB::Exception"}), false},
		{"a column of the wrong type is not", &proto.Exception{Code: 53}, false},
		{"ClickHouse over its memory limit is retried", &proto.Exception{Code: 241}, true},
		{"a timeout is retried", context.DeadlineExceeded, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsRetryable(tc.err); got != tc.want {
				t.Errorf("IsRetryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
