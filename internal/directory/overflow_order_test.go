package directory

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// Two full shards that both grow past the limit in one change each give up
// an entry; a third shard has room for one of the two. Which one it takes
// must not depend on map iteration order, or the same sync lays out (and
// writes) different shards from run to run.
func TestOverflowPlacesEntriesTheSameEveryTime(t *testing.T) {
	g := NewWithT(t)
	const popSize = 1000
	entry := func(key string, jsonSize int) Entry {
		prefix := fmt.Sprintf(`{"appId":"a","userName":%q,"name":"`, key)
		return Entry{Key: UserKey("a", key), JSON: []byte(prefix + strings.Repeat("x", jsonSize-len(prefix)-2) + `"}`)}
	}
	// fullShard holds a small entry that the change grows, a filler, and a
	// last entry of popSize bytes, with 50 bytes of room left.
	fullShard := func(name string) []Entry {
		grow, pop := entry(name+"-a-grow", 100), entry(name+"-z-pop", popSize)
		filler := entry(name+"-m-fill", MaxShardBytes-50-2-(len(grow.JSON)+1)-(len(pop.JSON)+1)-1)
		return []Entry{grow, filler, pop}
	}
	current := Shards{
		0: fullShard("s0"),
		1: fullShard("s1"),
		// Room for one popped entry and 500 bytes, not for two.
		2: {entry("s2-fill", MaxShardBytes-2-(popSize+1)-500-1)},
	}
	for i, s := range current {
		g.Expect(len(Encode(s))).To(BeNumerically("<=", MaxShardBytes), "shard %d starts within the limit", i)
	}
	ch := Change{Upserts: []Entry{entry("s0-a-grow", 200), entry("s1-a-grow", 200)}}

	first, err := Apply(current, ch)
	g.Expect(err).NotTo(HaveOccurred())
	for range 50 {
		again, err := Apply(current, ch)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(layout(again)).To(Equal(layout(first)), "the same change to the same shards gives the same layout")
		g.Expect(again).To(Equal(first))
	}
	// The lowest shard's overflow is placed first.
	g.Expect(keys(first[2])).To(ContainElement(UserKey("a", "s0-z-pop")))
	g.Expect(keys(first[3])).To(Equal([]string{UserKey("a", "s1-z-pop")}))
}

// layout is the keys of each shard, for a failure to print.
func layout(shards Shards) map[int][]string {
	out := map[int][]string{}
	for i, entries := range shards {
		out[i] = keys(entries)
	}
	return out
}

func keys(entries []Entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Key)
	}
	return out
}
