package pipeline

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestEveryMemberGetsWholeTasks: however the broker lists the partitions
// and the members, each member gets the same partition numbers of every
// input topic, every partition goes to exactly one member, and the members'
// shares differ by one at most.
func TestEveryMemberGetsWholeTasks(t *testing.T) {
	topics := []string{"leads.raw", "consents.raw", "leadpipe.suppressions"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 4, 5, 12, 13} {
		var members []kafka.GroupMember
		for i := range n {
			members = append(members, kafka.GroupMember{ID: fmt.Sprintf("leadpipe-%x", rng.Uint32()+uint32(i)), Topics: topics})
		}
		var partitions []kafka.Partition
		for _, topic := range topics {
			for p := range 12 {
				partitions = append(partitions, kafka.Partition{Topic: topic, ID: p})
			}
		}
		// The broker's listing, in an order of its own.
		rng.Shuffle(len(partitions), func(i, j int) { partitions[i], partitions[j] = partitions[j], partitions[i] })
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })

		got := taskAssignor{}.AssignGroups(members, partitions)
		owner := map[string]string{}
		sizes := []int{}
		for id, byTopic := range got {
			var first []int
			for i, topic := range topics {
				ps := slices.Sorted(slices.Values(byTopic[topic]))
				if i == 0 {
					first = ps
				} else if !slices.Equal(ps, first) {
					t.Errorf("%d members: %s has %s %v but %s %v: a task split", n, id, topics[0], first, topic, ps)
				}
				for _, p := range ps {
					k := fmt.Sprintf("%s/%d", topic, p)
					if prev, ok := owner[k]; ok {
						t.Errorf("%d members: %s goes to %s and %s", n, k, prev, id)
					}
					owner[k] = id
				}
			}
			sizes = append(sizes, len(first))
		}
		if len(owner) != len(partitions) {
			t.Errorf("%d members: %d of %d partitions assigned", n, len(owner), len(partitions))
		}
		if slices.Max(sizes)-slices.Min(sizes) > 1 {
			t.Errorf("%d members: shares %v", n, sizes)
		}
	}
}
