package pipeline

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// A replay dead-letters a bad record again (a crash, a group reset): its
// copies carry the id of the first, and another record another id.
func TestARecordDeadLetteredAgainByAReplayKeepsItsDeadLetterID(t *testing.T) {
	m := kafka.Message{Topic: "leads.raw", Partition: 3, Offset: 41, Key: []byte("k"), Value: []byte(`{"bad":1}`)}
	first := deadLetter("leadpipe.dlq", "classify", &m, "contact.email: not a string", time.Unix(0, 0))
	again := deadLetter("leadpipe.dlq", "classify", &m, "contact.email: not a string", time.Now())
	id := Header(&first, HeaderID)
	if len(id) != 32 || Header(&again, HeaderID) != id {
		t.Fatalf("ids %q and %q: want the same 32 hex digits for the same record", id, Header(&again, HeaderID))
	}
	other := m
	other.Offset++
	for name, d := range map[string]kafka.Message{
		"the next offset":            deadLetter("leadpipe.dlq", "classify", &other, "x", time.Now()),
		"another stage":              deadLetter("leadpipe.dlq", "enrich", &m, "x", time.Now()),
		"a record too large (a ref)": deadLetter("leadpipe.dlq", "classify", &kafka.Message{Topic: "leads.raw", Partition: 3, Offset: 41, Value: make([]byte, maxDeadLetterBytes+1)}, "x", time.Now()),
	} {
		if Header(&d, HeaderID) == id || Header(&d, HeaderID) == "" {
			t.Errorf("%s: id %q, want one of its own", name, Header(&d, HeaderID))
		}
	}
}
