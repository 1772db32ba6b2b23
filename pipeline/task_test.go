package pipeline

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func at(sec int) time.Time { return time.Date(2026, 3, 2, 10, 0, sec, 0, time.UTC) }

// msgs fills an input with records at the given seconds, the broker's
// high watermark at the last of them.
func fed(topic string, secs ...int) *input {
	in := &input{topic: topic, ch: make(chan kafka.Message, len(secs))}
	for i, s := range secs {
		in.ch <- kafka.Message{Topic: topic, Offset: int64(i), Time: at(s), HighWaterMark: int64(len(secs))}
	}
	return in
}

func TestATaskHandsOutItsInputsRecordsInTimestampOrder(t *testing.T) {
	leads, consents := fed("leads", 1, 4, 5), fed("consents", 2, 3, 6)
	tk := &task{inputs: []*input{leads, consents}}
	var got []int
	for {
		m, ok, wait := tk.next(time.Now(), time.Second)
		if !ok {
			if wait > 0 && len(got) < 6 {
				t.Fatalf("waits %s with records buffered: %v", wait, got)
			}
			break
		}
		got = append(got, m.Time.Second())
	}
	want := []int{1, 2, 3, 4, 5, 6}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestATaskWaitsForALaggingInputUpToMaxIdleThenGoesOn(t *testing.T) {
	leads := fed("leads", 5)
	consents := &input{topic: "consents", ch: make(chan kafka.Message, 1)} // nothing fetched yet: its end is unknown
	tk := &task{inputs: []*input{leads, consents}}
	now := time.Now()
	if _, ok, wait := tk.next(now, 500*time.Millisecond); ok || wait != 500*time.Millisecond {
		t.Fatalf("with an input not fetched yet: ok %v wait %s, want a wait of 500ms", ok, wait)
	}
	// The consent arrives within the wait: it comes first, being earlier.
	consents.ch <- kafka.Message{Topic: "consents", Offset: 0, Time: at(2), HighWaterMark: 1}
	if m, ok, _ := tk.next(now.Add(100*time.Millisecond), 500*time.Millisecond); !ok || m.Topic != "consents" {
		t.Fatalf("got %v %v, want the earlier consent", m.Topic, ok)
	}
	// consents is now caught up (its high watermark reached): no more waiting.
	if m, ok, _ := tk.next(now.Add(200*time.Millisecond), 500*time.Millisecond); !ok || m.Topic != "leads" {
		t.Fatalf("got %v %v, want the lead without waiting for a caught-up input", m.Topic, ok)
	}

	// An input that lags (records on the broker beyond those taken) and has
	// none buffered holds the task up to maxIdle, then the task goes on.
	lagging := &input{topic: "consents", ch: make(chan kafka.Message, 1), fetched: true, next: 3, hwm: 9}
	tk = &task{inputs: []*input{fed("leads", 7), lagging}}
	if _, ok, wait := tk.next(now, 500*time.Millisecond); ok || wait <= 0 {
		t.Fatalf("with a lagging input: ok %v wait %s, want a wait", ok, wait)
	}
	if m, ok, _ := tk.next(now.Add(600*time.Millisecond), 500*time.Millisecond); !ok || m.Topic != "leads" {
		t.Fatalf("after maxIdle: ok %v %v, want the lead", ok, m.Topic)
	}
}
