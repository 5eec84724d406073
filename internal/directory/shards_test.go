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

// The key of a stored user is the one the receiver computed: the appId it
// put first and the userName as koogallery's decoder read it. The kit may
// send any other field as any JSON type (an orgCode as a number), or an
// appId of its own under any spelling encoding/json would match; none of
// them makes the shard unreadable or moves the entry to another key.
func TestKeyOfReadsAStoredUserAsTheReceiverKeyedIt(t *testing.T) {
	cases := []struct{ name, entry, key string }{
		{"numeric orgCode", `{"appId":"A","userName":"alice","name":"A","orgCode":1001,"role":"user","enable":"true"}`, "A/alice"},
		{"orgCode an object, enable a boolean", `{"appId":"A","userName":"alice","orgCode":{"x":[1]},"enable":true}`, "A/alice"},
		{"the user's own appId, stored before it was removed", `{"appId":"A","userName":"alice","appId":"B"}`, "A/alice"},
		{"a numeric AppId", `{"appId":"A","userName":"alice","AppId":7}`, "A/alice"},
		{"an APPID object", `{"appId":"A","userName":"alice","APPID":{"id":"B"}}`, "A/alice"},
		{"a numeric userName", `{"appId":"A","userName":13812345678}`, "A/13812345678"},
		{"a userName spelled twice: the last wins, as in the decoder", `{"appId":"A","userName":"alice","USERNAME":"bob"}`, "A/bob"},
		{"a null userName after a string one", `{"appId":"A","userName":"alice","UserName":null}`, "A/alice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			key, err := KeyOf(Users, []byte(tc.entry))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(key).To(Equal(tc.key))
			entries, err := Decode(Users, Encode([]Entry{{Key: tc.key, JSON: []byte(tc.entry)}}))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(entries[0].Key).To(Equal(tc.key))
		})
	}
	g := NewWithT(t)
	key, err := KeyOf(Departments, []byte(`{"orgCode":1001,"orgName":"x","extra":[1]}`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key).To(Equal("1001"))
	_, err = KeyOf(Users, []byte(`[1]`))
	g.Expect(err).To(HaveOccurred())
}

// WithField leaves exactly one appId, the receiver's, first: every member
// encoding/json would read as appId goes, every other stays as sent.
func TestWithFieldReplacesEverySpellingOfTheField(t *testing.T) {
	g := NewWithT(t)
	out, err := WithField([]byte(`{"userName":"alice","appId":"B","orgCode":1001,"AppId":5,"APPID":{"a":1},"appid":null,"x":"appId"}`), "appId", "A")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(out)).To(Equal(`{"appId":"A","userName":"alice","orgCode":1001,"x":"appId"}`))
	key, err := KeyOf(Users, out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key).To(Equal("A/alice"))

	out, err = WithField([]byte(` { "appId" : "B" , "userName" : "alice" } `), "appId", "A")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(out)).To(Equal(`{"appId":"A","userName" : "alice"}`))
	out, err = WithField([]byte(`{"appId":"B"}`), "appId", "A")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(out)).To(Equal(`{"appId":"A"}`))
	for _, bad := range []string{`{"a":1}x`, `{"a":}`, `{"a":1`, `"s"`, ``} {
		_, err = WithField([]byte(bad), "appId", "A")
		g.Expect(err).To(HaveOccurred(), bad)
	}
}
