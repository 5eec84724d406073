package directory

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func user(app, name string, pad int) Entry {
	return Entry{Key: UserKey(app, name), JSON: []byte(fmt.Sprintf(`{"appId":%q,"userName":%q,"name":%q}`, app, name, strings.Repeat("x", pad)))}
}

// merge applies changed shards to current, as the store does.
func merge(current, changed Shards) Shards {
	out := Shards{}
	for i, s := range current {
		out[i] = s
	}
	for i, s := range changed {
		if s == nil {
			delete(out, i)
		} else {
			out[i] = s
		}
	}
	return out
}

func TestApplyKeepsEntriesInPlaceAndShardsSmall(t *testing.T) {
	g := NewWithT(t)
	shards := Shards{}
	for batch := 0; batch < 40; batch++ {
		var ch Change
		for i := 0; i < 500; i++ {
			ch.Upserts = append(ch.Upserts, user("app", fmt.Sprintf("u%05d", batch*500+i), 100))
		}
		changed, err := Apply(shards, ch)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(len(changed)).To(BeNumerically("<=", 2), "a batch of 500 rewrites at most two shards")
		shards = merge(shards, changed)
	}
	g.Expect(Count(shards)).To(Equal(20000))
	for i, s := range shards {
		g.Expect(len(Encode(s))).To(BeNumerically("<=", MaxShardBytes), "shard %d", i)
		decoded, err := Decode(Users, Encode(s))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(decoded).To(Equal(s))
	}

	// Modifying and deleting touch only the shards that hold the users; a
	// repeated delete changes nothing.
	ch := Change{Upserts: []Entry{user("app", "u00001", 10)}, Deletes: []string{UserKey("app", "u19999"), UserKey("app", "nobody")}}
	changed, err := Apply(shards, ch)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(HaveLen(2))
	shards = merge(shards, changed)
	g.Expect(Count(shards)).To(Equal(19999))
	changed, err = Apply(shards, Change{Deletes: []string{UserKey("app", "u19999")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeEmpty())
	// The same upsert again changes nothing either.
	changed, err = Apply(shards, Change{Upserts: []Entry{user("app", "u00001", 10)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeEmpty())
}

func TestApplyMovesEntriesOutOfAShardThatGrewTooLarge(t *testing.T) {
	g := NewWithT(t)
	shards := Shards{0: {user("a", "one", 10), user("a", "two", MaxShardBytes-200)}}
	changed, err := Apply(shards, Change{Upserts: []Entry{user("a", "one", 1000)}})
	g.Expect(err).NotTo(HaveOccurred())
	shards = merge(shards, changed)
	g.Expect(shards).To(HaveLen(2))
	for _, s := range shards {
		g.Expect(len(Encode(s))).To(BeNumerically("<=", MaxShardBytes))
	}
	g.Expect(Count(shards)).To(Equal(2))
}

func TestReplaceWritesOnlyWhatDiffers(t *testing.T) {
	g := NewWithT(t)
	dept := func(code string) Entry {
		return Entry{Key: code, JSON: []byte(fmt.Sprintf(`{"orgCode":%q,"orgName":"n"}`, code))}
	}
	first, err := Replace(nil, []Entry{dept("b"), dept("a")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first).To(Equal(Shards{0: {dept("a"), dept("b")}}))
	same, err := Replace(first, []Entry{dept("a"), dept("b")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(same).To(BeEmpty())
	current := Shards{0: first[0], 1: {dept("z")}}
	next, err := Replace(current, []Entry{dept("c")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(next).To(Equal(Shards{0: {dept("c")}, 1: nil}))
}

func TestWithFieldAndKeys(t *testing.T) {
	g := NewWithT(t)
	out, err := WithField([]byte(`{"userName":"u"}`), "appId", "a")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(out)).To(Equal(`{"appId":"a","userName":"u"}`))
	out, err = WithField([]byte(`{}`), "appId", "a")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(out)).To(Equal(`{"appId":"a"}`))
	_, err = WithField([]byte(`[]`), "appId", "a")
	g.Expect(err).To(HaveOccurred())
	key, err := KeyOf(Users, out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key).To(Equal("a/"))
	g.Expect(DataKey(Users, 7)).To(Equal("users-007.json"))
	i, ok := ParseDataKey(Users, "users-007.json")
	g.Expect(ok).To(BeTrue())
	g.Expect(i).To(Equal(7))
	_, ok = ParseDataKey(Users, "departments-007.json")
	g.Expect(ok).To(BeFalse())
}

// A userName the kit sent as a number is stored as sent and read back under
// the key the receiver gave it (its text), so the shard stays readable.
func TestDecodeReadsAUserNameSentAsANumber(t *testing.T) {
	g := NewWithT(t)
	stored := Encode([]Entry{{Key: UserKey("app", "13612345678"), JSON: []byte(`{"appId":"app","userName":13612345678,"name":"x"}`)}})
	entries, err := Decode(Users, stored)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(entries).To(HaveLen(1))
	g.Expect(entries[0].Key).To(Equal("app/13612345678"))
	_, err = Decode(Users, `[{"appId":"app","userName":{"mobile":"13612345678"}}]`)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).NotTo(ContainSubstring("13612345678"), "the error names no value")
}
