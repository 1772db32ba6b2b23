package pipeline

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// A task is one partition number across a stage's input topics, as in
// Kafka Streams: partition p of leads.raw and of consents.raw, which hold
// the events of the same leads because both are keyed by lead id with one
// partition count. Within a task the runtime hands the stage the buffered
// record with the smallest timestamp across its inputs (PartitionGroup);
// when an input that has records on the broker not fetched yet has none
// buffered, the task waits for it up to Config.MaxIdle (max.task.idle.ms)
// before it goes on without it.
type task struct {
	partition int
	inputs    []*input
}

// input is one assigned topic partition: its fetched records, in offset
// order, and what is known of its end.
type input struct {
	topic     string
	partition int
	ch        chan kafka.Message
	head      *kafka.Message // the next record, taken from ch
	fetched   bool           // a record was seen, so hwm is known
	next      int64          // the offset after the last record taken
	hwm       int64          // the high watermark of the last fetch
	idleSince time.Time      // when it was first seen empty while lagging; zero otherwise
}

// lagging reports whether the broker holds records of the input that are
// not fetched yet, or it is not known (nothing fetched yet).
func (in *input) lagging() bool { return !in.fetched || in.next < in.hwm }

// dry reports whether the input has nothing to give and nothing known to
// come: no record buffered, and its broker partition read to the end (or,
// its end unknown, waited for maxIdle already).
func (in *input) dry(now time.Time, maxIdle time.Duration) bool {
	if in.head != nil || len(in.ch) > 0 {
		return false
	}
	if in.fetched {
		return in.next >= in.hwm
	}
	return !in.idleSince.IsZero() && now.Sub(in.idleSince) >= maxIdle
}

// dry reports whether every input of the task is dry.
func (t *task) dry(now time.Time, maxIdle time.Duration) bool {
	for _, in := range t.inputs {
		if !in.dry(now, maxIdle) {
			return false
		}
	}
	return true
}

// known records what a listing of the partition's offsets told before
// anything was fetched: the input starts at start and the broker's high
// watermark is end. An input that starts at its end is caught up at once,
// rather than waited for up to maxIdle as one whose end is unknown: an
// internal topic nothing has been written to yet (the suppressions), or a
// partition consumed to its end before a rebalance.
func (in *input) known(start, end int64) {
	if in.fetched {
		return
	}
	in.fetched, in.next, in.hwm = true, start, end
}

// fill takes the next fetched record into head, if there is one.
func (in *input) fill() {
	if in.head != nil {
		return
	}
	select {
	case m := <-in.ch:
		in.head = &m
	default:
	}
}

// next returns the task's next record by timestamp. ok is false when it
// has none to give now; wait is then the time until an idle input's wait
// runs out (zero: nothing to wait for but new records).
func (t *task) next(now time.Time, maxIdle time.Duration) (m kafka.Message, ok bool, wait time.Duration) {
	var best *input
	for _, in := range t.inputs {
		in.fill()
		if in.head == nil {
			if !in.lagging() {
				continue // caught up: nothing to wait for
			}
			if in.idleSince.IsZero() {
				in.idleSince = now
			}
			if left := maxIdle - now.Sub(in.idleSince); left > 0 {
				if wait == 0 || left < wait {
					wait = left
				}
			}
			continue
		}
		in.idleSince = time.Time{}
		if best == nil || in.head.Time.Before(best.head.Time) {
			best = in
		}
	}
	if best == nil || wait > 0 {
		// An input that lags may hold an earlier record: wait for it, up
		// to maxIdle.
		return kafka.Message{}, false, wait
	}
	m = *best.head
	best.head = nil
	best.fetched, best.next, best.hwm = true, m.Offset+1, m.HighWaterMark
	return m, true, 0
}
