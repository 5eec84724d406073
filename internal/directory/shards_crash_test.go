package directory

import (
	"testing"

	. "github.com/onsi/gomega"
)

// copies counts each key's entries across shards.
func copies(shards Shards) map[string]int {
	out := map[string]int{}
	for _, s := range shards {
		for _, e := range s {
			out[e.Key]++
		}
	}
	return out
}

// stored returns the entry stored under key, in any shard.
func stored(shards Shards, key string) []byte {
	for _, s := range shards {
		for _, e := range s {
			if e.Key == key {
				return e.JSON
			}
		}
	}
	return nil
}

// A move interrupted after the shard gaining entries was written leaves
// those entries in two shards. The next change keeps one copy and rewrites
// the other shard, whatever it is about; a delete of such a key removes
// every copy, so a cancelled user does not stay authorised.
func TestApplyKeepsOneCopyOfAKeyAnInterruptedMoveLeftInTwoShards(t *testing.T) {
	moved := user("a", "moved", 100)
	leftover := Shards{
		0: {user("a", "one", 10), moved},
		1: {moved},
	}
	for _, tc := range []struct {
		name   string
		change Change
		want   map[string]int
		kept   []byte // moved's entry after the change
	}{{
		name:   "a change of another key",
		change: Change{Upserts: []Entry{user("a", "new", 10)}},
		want:   map[string]int{"a/one": 1, "a/moved": 1, "a/new": 1},
		kept:   moved.JSON,
	}, {
		name:   "a repeated change that changes nothing else",
		change: Change{Upserts: []Entry{user("a", "one", 10)}},
		want:   map[string]int{"a/one": 1, "a/moved": 1},
		kept:   moved.JSON,
	}, {
		name:   "an update of the key",
		change: Change{Upserts: []Entry{user("a", "moved", 200)}},
		want:   map[string]int{"a/one": 1, "a/moved": 1},
		kept:   user("a", "moved", 200).JSON,
	}, {
		name:   "a delete of the key",
		change: Change{Deletes: []string{"a/moved"}},
		want:   map[string]int{"a/one": 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			changed, err := Apply(leftover, tc.change)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(changed).NotTo(BeEmpty(), "the leftover copy is removed from its shard")
			after := merge(leftover, changed)
			g.Expect(copies(after)).To(Equal(tc.want))
			g.Expect(stored(after, "a/moved")).To(Equal(tc.kept))
		})
	}
}

// Each change moves entries between shards. Stored in WriteOrder and
// interrupted after any number of shard writes, no entry is missing; the
// same change, retried on what was stored, leaves every key in exactly one
// shard, with the change's content.
func TestAChangeInterruptedBetweenItsShardWritesLosesNoEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current Shards
		change  Change
	}{{
		name:    "an entry moves to a new, higher shard",
		current: Shards{0: {user("a", "one", 10), user("a", "two", MaxShardBytes-200)}},
		change:  Change{Upserts: []Entry{user("a", "one", 1000)}},
	}, {
		name:    "an entry moves to a free, lower shard",
		current: Shards{1: {user("a", "one", 10), user("a", "two", MaxShardBytes-200)}},
		change:  Change{Upserts: []Entry{user("a", "one", 1000)}},
	}, {
		name: "two full shards overflow into new ones",
		current: Shards{
			0: {user("a", "a", 10), user("a", "b", MaxShardBytes-3000)},
			1: {user("a", "c", 10), user("a", "d", MaxShardBytes-3000)},
		},
		change: Change{Upserts: []Entry{user("a", "a", 4000), user("a", "c", 4000)}, Deletes: []string{"a/none"}},
	}, {
		name: "the last shard overflows and gains the other's entry",
		current: Shards{
			0: {user("a", "a", 10), user("a", "b", 100_000), user("a", "x", MaxShardBytes-102_000)},
			1: {user("a", "c", 10), user("a", "d", MaxShardBytes-2000)},
		},
		change: Change{Upserts: []Entry{user("a", "a", 3000), user("a", "c", 3000)}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			want := copies(tc.current)
			for _, e := range tc.change.Upserts {
				want[e.Key] = 1
			}
			next, err := Apply(tc.current, tc.change)
			g.Expect(err).NotTo(HaveOccurred())
			order := WriteOrder(tc.current, next)
			g.Expect(order).To(ConsistOf(keysOf(next)))
			for n := range order {
				interrupted := tc.current
				for _, i := range order[:n] {
					interrupted = merge(interrupted, Shards{i: next[i]})
				}
				for key := range want {
					g.Expect(copies(interrupted)).To(HaveKey(key), "after %d of the writes %v", n, order)
				}
				retried, err := Apply(interrupted, tc.change)
				g.Expect(err).NotTo(HaveOccurred())
				after := merge(interrupted, retried)
				g.Expect(copies(after)).To(Equal(want), "retried after %d of the writes %v", n, order)
				for _, e := range tc.change.Upserts {
					g.Expect(stored(after, e.Key)).To(Equal(e.JSON))
				}
				for _, s := range after {
					g.Expect(len(Encode(s))).To(BeNumerically("<=", MaxShardBytes))
				}
			}
		})
	}
}

func keysOf(shards Shards) []int {
	out := make([]int, 0, len(shards))
	for i := range shards {
		out = append(out, i)
	}
	return out
}

// WriteOrder puts a shard after every shard that gains its entries, and
// is otherwise ascending.
func TestWriteOrderWritesShardsGainingEntriesBeforeThoseLosingThem(t *testing.T) {
	e := func(key string) Entry { return Entry{Key: key, JSON: []byte(`{"orgCode":"` + key + `"}`)} }
	for _, tc := range []struct {
		name          string
		current, next Shards
		want          []int
	}{{
		name:    "no moves",
		current: Shards{0: {e("a")}, 1: {e("b")}},
		next:    Shards{1: nil, 0: {e("a"), e("c")}, 2: {e("d")}},
		want:    []int{0, 1, 2},
	}, {
		name:    "a move up",
		current: Shards{0: {e("a"), e("b")}},
		next:    Shards{0: {e("a")}, 1: {e("b")}},
		want:    []int{1, 0},
	}, {
		name:    "a chain",
		current: Shards{0: {e("a"), e("x")}, 1: {e("c"), e("d")}},
		next:    Shards{0: {e("a")}, 1: {e("c"), e("x")}, 2: {e("d")}},
		want:    []int{2, 1, 0},
	}, {
		name:    "a cycle goes in ascending order",
		current: Shards{0: {e("a")}, 1: {e("b")}},
		next:    Shards{0: {e("b")}, 1: {e("a")}},
		want:    []int{0, 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(WriteOrder(tc.current, tc.next)).To(Equal(tc.want))
		})
	}
}
