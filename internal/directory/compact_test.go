package directory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// numbered is entry number i of part, all of one size, so that a shard
// holds a known number of them (perShard).
func numbered(part Part, i int) Entry {
	if part == Users {
		return user("app", fmt.Sprintf("u%07d", i), 200)
	}
	code := fmt.Sprintf("d%07d", i)
	return Entry{Key: code, JSON: []byte(fmt.Sprintf(`{"orgCode":%q,"orgName":%q}`, code, strings.Repeat("x", 200)))}
}

// perShard is how many entries of numbered's size one shard holds.
func perShard(part Part) int {
	return (MaxShardBytes - 2) / (len(numbered(part, 0).JSON) + 1)
}

func highestIndex(shards Shards) int {
	highest := -1
	for i := range shards {
		highest = max(highest, i)
	}
	return highest
}

// Users cancelled over months leave room in every shard. The users added
// after them fill that room before a shard is added, so the number of
// shards follows the number of users, not the number of syncs, and a batch
// of 500 users still rewrites at most two shards.
func TestApplyRefillsTheRoomDeletedUsersLeft(t *testing.T) {
	g := NewWithT(t)
	const filled = 10
	capacity := perShard(Users)
	var entries []Entry
	for i := range filled * capacity {
		entries = append(entries, numbered(Users, i))
	}
	shards, err := Replace(Shards{}, entries)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(shards).To(HaveLen(filled))

	// Four users of every five go, from every shard.
	var deletes []string
	for _, s := range shards {
		for j, e := range s {
			if j%5 != 0 {
				deletes = append(deletes, e.Key)
			}
		}
	}
	for batch := range slices.Chunk(deletes, 500) {
		changed, err := Apply(shards, Change{Deletes: batch})
		g.Expect(err).NotTo(HaveOccurred())
		shards = merge(shards, changed)
	}
	g.Expect(shards).To(HaveLen(filled), "every shard keeps a fifth of its users")

	// As many new users come, 500 a sync.
	var added []Entry
	for i := range len(deletes) {
		added = append(added, numbered(Users, filled*capacity+i))
	}
	for batch := range slices.Chunk(added, 500) {
		changed, err := Apply(shards, Change{Upserts: batch})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(len(changed)).To(BeNumerically("<=", 2), "a batch of 500 rewrites at most two shards")
		shards = merge(shards, changed)
	}
	n := Count(shards)
	g.Expect(n).To(Equal(filled * capacity))
	need := (n + capacity - 1) / capacity
	g.Expect(len(shards)).To(BeNumerically("<=", need+1), "%d users need %d shards", n, need)
	g.Expect(highestIndex(shards)).To(BeNumerically("<", need+1))
	for i, s := range shards {
		g.Expect(len(Encode(s))).To(BeNumerically("<=", MaxShardBytes), "shard %d", i)
	}
}

// Syncs that add and cancel users (or departments) for years keep a
// directory that fits in the shards a workload mounts inside them, however
// the cancellations are spread: an entry beyond them is one the tenant's
// pods cannot read, and a user there cannot sign in.
func TestApplyKeepsEntriesWithinTheMountedShardsThroughChurn(t *testing.T) {
	for _, tc := range []struct {
		part    Part
		mounted int
		// full is how many shards' worth of entries the directory keeps:
		// more than three quarters of the mounted shards, so that room
		// left by cancellations alone does not keep it inside them.
		full int
	}{
		{part: Users, mounted: MountedUserShards, full: 56},
		{part: Departments, mounted: MountedDepartmentShards, full: 14},
	} {
		t.Run(string(tc.part), func(t *testing.T) {
			g := NewWithT(t)
			live := make([]string, 0, tc.full*perShard(tc.part))
			var entries []Entry
			for i := range cap(live) {
				entries = append(entries, numbered(tc.part, i))
				live = append(live, entries[i].Key)
			}
			shards, err := Replace(Shards{}, entries)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(highestIndex(shards)).To(Equal(tc.full - 1))

			rng := rand.New(rand.NewPCG(1, 2))
			next := len(live)
			for round := range 150 {
				// 500 cancelled, anywhere in the directory...
				var ch Change
				for range 500 {
					j := rng.IntN(len(live))
					ch.Deletes = append(ch.Deletes, live[j])
					live[j] = live[len(live)-1]
					live = live[:len(live)-1]
				}
				changed, err := Apply(shards, ch)
				g.Expect(err).NotTo(HaveOccurred())
				shards = merge(shards, changed)
				// ...and 500 new ones.
				ch = Change{}
				for range 500 {
					e := numbered(tc.part, next)
					next++
					ch.Upserts = append(ch.Upserts, e)
					live = append(live, e.Key)
				}
				changed, err = Apply(shards, ch)
				g.Expect(err).NotTo(HaveOccurred())
				// Close to the limit every shard has a little room, and
				// the batch goes into the largest few.
				g.Expect(len(changed)).To(BeNumerically("<=", 6), "round %d", round)
				shards = merge(shards, changed)
				g.Expect(highestIndex(shards)).To(BeNumerically("<", tc.mounted),
					"round %d: %d entries in shards %v", round, Count(shards), keysOf(shards))
			}
			want := map[string]int{}
			for _, key := range live {
				want[key] = 1
			}
			g.Expect(copies(shards)).To(Equal(want))
			for i, s := range shards {
				g.Expect(len(Encode(s))).To(BeNumerically("<=", MaxShardBytes), "shard %d", i)
			}
		})
	}
}

// A directory an earlier version let grow beyond the mounted shards comes
// back inside them with its next change, whatever that is about, and an
// interruption anywhere between the shard writes loses no entry.
func TestApplyMovesEntriesBeyondTheMountedShardsBackInside(t *testing.T) {
	g := NewWithT(t)
	// Half-full shards, more than the 16 the smaller part mounts hold.
	current, n := Shards{}, 0
	for i := range MountedUserShards + 3 {
		size := perShard(Users) / 2
		if i >= MountedUserShards {
			size = 2
		}
		for range size {
			current[i] = append(current[i], numbered(Users, n))
			n++
		}
	}
	ch := Change{Deletes: []string{UserKey("app", "nobody")}}
	next, err := Apply(current, ch)
	g.Expect(err).NotTo(HaveOccurred())
	after := merge(current, next)
	g.Expect(highestIndex(after)).To(BeNumerically("<", MountedUserShards))
	g.Expect(copies(after)).To(Equal(copies(current)))
	g.Expect(len(next)).To(BeNumerically("<=", 4), "three shards emptied into one")

	order := WriteOrder(current, next)
	for n := range order {
		interrupted := current
		for _, i := range order[:n] {
			interrupted = merge(interrupted, Shards{i: next[i]})
		}
		kept, lost := copies(interrupted), []string{}
		for key := range copies(current) {
			if kept[key] == 0 {
				lost = append(lost, key)
			}
		}
		g.Expect(lost).To(BeEmpty(), "after %d of the writes %v", n, order)
		retried, err := Apply(interrupted, ch)
		g.Expect(err).NotTo(HaveOccurred())
		retriedAfter := merge(interrupted, retried)
		g.Expect(copies(retriedAfter)).To(Equal(copies(current)), "retried after %d of the writes %v", n, order)
		g.Expect(highestIndex(retriedAfter)).To(BeNumerically("<", MountedUserShards))
	}
}

// A directory larger than the mounted shards can hold is still stored
// whole: the kit's sync succeeds, the delivery says how many entries the
// tenant's pods cannot read, and the API has them all.
func TestApplyStoresADirectoryLargerThanTheMountedShards(t *testing.T) {
	g := NewWithT(t)
	var entries []Entry
	for i := range (MountedDepartmentShards + 1) * perShard(Departments) {
		entries = append(entries, numbered(Departments, i))
	}
	shards, err := Replace(Shards{}, entries)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(highestIndex(shards)).To(Equal(MountedDepartmentShards))
	extra := numbered(Departments, len(entries))
	changed, err := Apply(shards, Change{Upserts: []Entry{extra}, Deletes: []string{entries[0].Key}})
	g.Expect(err).NotTo(HaveOccurred())
	shards = merge(shards, changed)
	g.Expect(Count(shards)).To(Equal(len(entries)))
	g.Expect(stored(shards, extra.Key)).To(Equal(extra.JSON))
}
