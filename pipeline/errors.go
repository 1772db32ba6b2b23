package pipeline

import (
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/segmentio/kafka-go"
)

// IsRetryable reports whether an error of a flush (producing, committing,
// inserting) may go away by itself: a broker or ClickHouse away, a leader
// moving, a timeout. Those are retried with backoff. The others (a record
// over the broker's size limit, a missing topic or table, a column of the
// wrong type, access denied) will not; retrying them would hold the stage
// forever, so the stage stops with the error instead.
func IsRetryable(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !IsRetryable(e) {
				return false
			}
		}
		return true
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary() || ke == kafka.RebalanceInProgress || ke == kafka.NotCoordinatorForGroup ||
			ke == kafka.GroupCoordinatorNotAvailable || ke == kafka.GroupLoadInProgress
	}
	var ce *proto.Exception
	if errors.As(err, &ce) {
		return retryableClickHouse[ce.Code]
	}
	return true // network errors, timeouts, EOF: the other end is away
}

// retryableClickHouse are the ClickHouse error codes that say "later", not
// "never".
// On a cluster, a Distributed table's INSERT or SELECT relays the error of
// a replica that went away in the middle (the codes of a closed
// connection) or of all of a shard's replicas away: another replica, or
// the same one back, takes the retry.
var retryableClickHouse = map[int32]bool{
	23:  true, // CANNOT_READ_FROM_ISTREAM (a replica's connection closed)
	24:  true, // CANNOT_WRITE_TO_OSTREAM
	32:  true, // ATTEMPT_TO_READ_AFTER_EOF (a replica went away in the middle)
	159: true, // TIMEOUT_EXCEEDED
	164: true, // READONLY (a replica catching up)
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	203: true, // NO_FREE_CONNECTION
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	225: true, // NO_ZOOKEEPER
	241: true, // MEMORY_LIMIT_EXCEEDED
	242: true, // TABLE_IS_READ_ONLY
	252: true, // TOO_MANY_PARTS
	279: true, // ALL_CONNECTION_TRIES_FAILED (every replica of a shard away)
	319: true, // UNKNOWN_STATUS_OF_INSERT
	425: true, // SYSTEM_ERROR
	999: true, // KEEPER_EXCEPTION
}
