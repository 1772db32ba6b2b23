package pipeline

import (
	"cmp"
	"slices"

	"github.com/segmentio/kafka-go"
)

// taskAssignor is the consumer group's assignor: it hands out tasks, not
// topic partitions. A task is one partition number across the stage's
// input topics, and a member that gets it gets that partition of every
// input it consumes, as Kafka Streams' assignor does for co-partitioned
// topics: a lead's lead events, consents, notices and state stay with one
// process.
//
// kafka-go's range assignor gives the same result only while the broker
// lists every topic's partitions in the same order; this one sorts them,
// and the runtime checks the result (consume). Partition numbers go to the
// members in ranges, members sorted by id.
type taskAssignor struct{}

// taskProtocol is the assignor's protocol name. The runner offers range
// after it, so that a group with members of an older leadpipe (range only)
// still forms while they are replaced.
const taskProtocol = "leadpipe-tasks"

func (taskAssignor) ProtocolName() string      { return taskProtocol }
func (taskAssignor) UserData() ([]byte, error) { return nil, nil }

func (taskAssignor) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	byTopic := map[string][]int{}
	var numbers []int
	for _, p := range partitions {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.ID)
		numbers = append(numbers, p.ID)
	}
	slices.Sort(numbers)
	numbers = slices.Compact(numbers)
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b kafka.GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	out := kafka.GroupMemberAssignments{}
	for i, m := range sorted {
		mine := numbers[i*len(numbers)/len(sorted) : (i+1)*len(numbers)/len(sorted)]
		a := map[string][]int{}
		for _, topic := range m.Topics {
			for _, n := range mine {
				if slices.Contains(byTopic[topic], n) {
					a[topic] = append(a[topic], n)
				}
			}
		}
		out[m.ID] = a
	}
	return out
}
