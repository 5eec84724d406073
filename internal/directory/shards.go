// Package directory lays out a joint-operation directory (authorised users,
// departments) in shards small enough for one Secret each. They are Secrets,
// not ConfigMaps: users carry phone numbers and e-mails, and the built-in
// view role reads ConfigMaps. Users can number tens of thousands while one
// Secret may hold at most 1 MiB of data, so each part is a set of numbered
// shards of at most MaxShardBytes. Entries keep their shard when others
// change, so a batch of 500 users rewrites one or two shards, not all of
// them. The package has no Kubernetes client: the receiver stores
// the shards and the controller delivers them.
package directory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
)

// MaxShardBytes caps one shard's JSON: a quarter of a Secret's 1 MiB data
// limit, leaving room for metadata and for base64 (a third more) in the
// JSON the API server is sent, and well under the 512 KiB the design allows.
const MaxShardBytes = 256 << 10

// MaxShards bounds a part: 1,000 shards of 256 KiB is far beyond any real
// directory.
const MaxShards = 1000

// MountedUserShards and MountedDepartmentShards are how many shards of each
// part a joint-operation workload mounts (see directoryVolumes in
// internal/tenantobjects): its pods, and the SSO gateway that admits users
// by the users shards, read users-000 to users-063 and departments-000 to
// departments-015, nothing beyond. 64 user shards hold some 80,000 users of
// typical size, 16 department shards some 40,000 departments.
const (
	MountedUserShards       = 64
	MountedDepartmentShards = 16
)

// MountedShards is how many shards of part a workload mounts.
func MountedShards(part Part) int {
	if part == Users {
		return MountedUserShards
	}
	return MountedDepartmentShards
}

// ErrTooLarge means a change would need more than MaxShards shards.
var ErrTooLarge = errors.New("the directory would exceed its size limit")

// Part is what a shard holds.
type Part string

const (
	// Users are the authorised users of authSync, keyed by appId and userName.
	Users Part = "users"
	// Departments are the departments of singleOrgSync and allOrgSync, keyed by orgCode.
	Departments Part = "departments"
)

// Entry is one user or department: its key and its JSON object.
type Entry struct {
	Key  string
	JSON []byte
}

// Shards maps a shard's index to its entries, sorted by key.
type Shards map[int][]Entry

// DataKey is the key of a shard's JSON array in its Secret, unique across
// shards so that all of them can be projected into one directory of files.
func DataKey(part Part, index int) string {
	return fmt.Sprintf("%s-%03d.json", part, index)
}

// ParseDataKey returns the index of a data key of part: only a key DataKey
// writes for an index from 0 is one. A negative index is refused apart: %03d
// reads "users--01.json" as -1, which DataKey writes back as the same key,
// but kooper numbers shards from 0, so such a key is not kooper's and its
// entries must not be read, rewritten and delivered as the part's.
func ParseDataKey(part Part, key string) (int, bool) {
	var index int
	if _, err := fmt.Sscanf(key, string(part)+"-%03d.json", &index); err != nil || index < 0 || DataKey(part, index) != key {
		return 0, false
	}
	return index, true
}

// Encode writes entries as a JSON array.
func Encode(entries []Entry) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.JSON)
	}
	b.WriteByte(']')
	return b.String()
}

// Decode reads a shard written by Encode.
func Decode(part Part, data string) ([]Entry, error) {
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(data), &items); err != nil {
		return nil, fmt.Errorf("shard is not a JSON array: %w", err)
	}
	entries := make([]Entry, 0, len(items))
	for _, item := range items {
		key, err := KeyOf(part, item)
		if err != nil {
			return nil, err
		}
		entries = append(entries, Entry{Key: key, JSON: item})
	}
	return entries, nil
}

// KeyOf returns the key of an entry: appId/userName for users (see
// ReadUser), orgCode for departments. Only the key's fields are read, so a
// field of any other name may hold any JSON value.
func KeyOf(part Part, item []byte) (string, error) {
	if part == Users {
		appID, userName, err := ReadUser(item)
		if err != nil {
			return "", err
		}
		return UserKey(appID, userName), nil
	}
	var k struct {
		OrgCode ScalarText `json:"orgCode"`
	}
	if err := json.Unmarshal(item, &k); err != nil {
		return "", fmt.Errorf("entry is not an object whose orgCode is a string: %w", err)
	}
	return string(k.OrgCode), nil
}

// ReadUser returns what keys a stored user, as the receiver keyed it. A
// user is stored as the kit sent it, the receiver's appId put first (see
// WithField), so appId is the first member named exactly "appId": an entry
// stored before WithField removed the kit's own appId may carry a second
// one, or a case variant such as "AppId" that encoding/json would also
// match, and neither is the key. userName is read as koogallery's decoder
// reads it: encoding/json's matching of names (the last match wins), and a
// number's or boolean's text as written. Every other field may be anything.
func ReadUser(item []byte) (appID, userName string, err error) {
	var u struct {
		UserName ScalarText `json:"userName"`
	}
	if err := json.Unmarshal(item, &u); err != nil {
		return "", "", fmt.Errorf("entry is not an object whose userName is a string: %w", err)
	}
	var appIDErr error
	err = eachMember(item, func(key string, _, value []byte) bool {
		if key != "appId" {
			return true
		}
		var v ScalarText
		appIDErr = json.Unmarshal(value, &v)
		appID = string(v)
		return false
	})
	if err = errors.Join(err, appIDErr); err != nil {
		return "", "", fmt.Errorf("entry's appId is not a string: %w", err)
	}
	return appID, string(u.UserName), nil
}

// ScalarText is a field read as the directory reads a stored user's
// userName (see ReadUser): a JSON string, or a number's or boolean's text
// as written; null leaves it as it was, as koogallery's looseString does;
// an object or array is an error. Whoever matches a name against the
// directory reads it with this, so that a user the kit sent as
// "userName":13812345678 (an account named by a phone number) is the same
// "13812345678" on both sides.
type ScalarText string

// UnmarshalJSON implements json.Unmarshaler.
func (s *ScalarText) UnmarshalJSON(raw []byte) error {
	switch raw[0] {
	case '"':
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		*s = ScalarText(v)
	case '{', '[':
		return errors.New("not a string, number or boolean")
	case 'n':
	default:
		*s = ScalarText(raw)
	}
	return nil
}

// UserKey is the key of a user: the kit's idempotency key within a
// directory is appId plus userName (spec §1.8).
func UserKey(appID, userName string) string {
	return appID + "/" + userName
}

// WithField returns the JSON object obj with "name":value first and no
// other member that encoding/json would read as name (the same name in any
// case: "AppId", "APPID"), so the stored user carries exactly one appId,
// the one its authorisation belongs to and its key was computed with. The
// other members stay as sent.
func WithField(obj []byte, name, value string) ([]byte, error) {
	field, err := json.Marshal(map[string]string{name: value})
	if err != nil {
		return nil, err
	}
	out := append(make([]byte, 0, len(obj)+len(field)), field[:len(field)-1]...)
	err = eachMember(obj, func(key string, member, _ []byte) bool {
		if !strings.EqualFold(key, name) {
			out = append(append(out, ','), member...)
		}
		return true
	})
	if err != nil {
		return nil, errors.New("not a JSON object")
	}
	return append(out, '}'), nil
}

// eachMember calls fn with each top-level member of the JSON object obj, in
// order, until fn returns false: its key (unescaped), the member as written
// ("key":value) and its value. Unless fn stops it, it checks that obj is
// one complete object.
func eachMember(obj []byte, fn func(key string, member, value []byte) bool) error {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	prev := dec.InputOffset()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return err
		}
		end := dec.InputOffset()
		member := bytes.TrimLeft(obj[prev:end], " \t\r\n,")
		if !fn(key, member, value) {
			return nil
		}
		prev = end
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

// Change is what one kit call does to a part.
type Change struct {
	// Upserts adds or replaces entries by key; within one change the last
	// entry of a key wins.
	Upserts []Entry
	// Deletes removes keys; a missing key is not an error, so a repeated
	// delete succeeds.
	Deletes []string
}

// Apply applies ch to current (which it does not modify) and returns the new
// content of each shard that changed; a nil slice means the shard is now
// empty and goes. Existing entries stay in their shard; new ones fill the
// last shard, then the room deleted entries left in others (see
// nextShard), and then new shards. Entries in shards a workload does not
// mount move into room in the shards it does (see compact). A key current
// holds more than once (a move interrupted between its two writes; see
// WriteOrder) keeps only its copy in the highest shard: the others' shards
// are returned changed, whatever ch is about, and a delete of the key
// removes it everywhere.
func Apply(current Shards, ch Change) (Shards, error) {
	p := newPlan(current)
	for _, key := range ch.Deletes {
		p.remove(key)
	}
	var added []Entry
	for _, e := range dedupe(ch.Upserts) {
		if !p.replace(e) {
			added = append(added, e)
		}
	}
	added = append(added, p.overflow()...)
	if err := p.place(added); err != nil {
		return nil, err
	}
	p.compact()
	return p.result(), nil
}

// Replace returns the shard contents that turn current into exactly
// entries, packed from shard 0, with the shards no longer needed as nil.
func Replace(current Shards, entries []Entry) (Shards, error) {
	sorted := dedupe(entries)
	p := &plan{shards: Shards{}, sizes: map[int]int{}, changed: map[int]bool{}}
	if err := p.place(sorted); err != nil {
		return nil, err
	}
	out := Shards{}
	for i, next := range p.shards {
		if !slices.EqualFunc(next, current[i], equalEntry) {
			out[i] = next
		}
	}
	for i := range current {
		if _, kept := p.shards[i]; !kept {
			out[i] = nil
		}
	}
	return out, nil
}

// WriteOrder returns the indexes of next, the changed shards Apply or
// Replace computed from current, in the order to store them: a shard that
// gains an entry from another is written before that other, so a write
// interrupted anywhere (a crash, a timeout, a conflict that makes the
// caller recompute from what is stored) leaves a moved entry in both
// shards, a copy the next Apply removes, never in neither. Shards are
// otherwise written in ascending order. Entries moving both ways between
// shards (only Replace, which is given the whole content again on a retry,
// can do that) cannot be ordered so; they are written in ascending order.
func WriteOrder(current, next Shards) []int {
	into := map[string]int{}
	for i, entries := range next {
		for _, e := range entries {
			into[e.Key] = i
		}
	}
	// waitsFor[i] are the shards gaining entries that shard i loses.
	waitsFor := map[int][]int{}
	for i := range next {
		for _, e := range current[i] {
			if to, moved := into[e.Key]; moved && to != i {
				waitsFor[i] = append(waitsFor[i], to)
			}
		}
	}
	pending := slices.Sorted(maps.Keys(next))
	order := make([]int, 0, len(pending))
	written := map[int]bool{}
	for len(pending) > 0 {
		pick := slices.IndexFunc(pending, func(i int) bool {
			return !slices.ContainsFunc(waitsFor[i], func(to int) bool { return !written[to] })
		})
		pick = max(pick, 0) // a cycle: the lowest goes first
		order = append(order, pending[pick])
		written[pending[pick]] = true
		pending = slices.Delete(pending, pick, pick+1)
	}
	return order
}

// Count returns how many entries shards hold.
func Count(shards Shards) int {
	n := 0
	for _, s := range shards {
		n += len(s)
	}
	return n
}

func equalEntry(a, b Entry) bool {
	return a.Key == b.Key && bytes.Equal(a.JSON, b.JSON)
}

// dedupe keeps the last entry of each key, sorted by key.
func dedupe(entries []Entry) []Entry {
	last := make(map[string]Entry, len(entries))
	for _, e := range entries {
		last[e.Key] = e
	}
	out := make([]Entry, 0, len(last))
	for _, e := range last {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// plan is a working copy of a part's shards.
type plan struct {
	shards  Shards
	where   map[string]int
	sizes   map[int]int
	changed map[int]bool
}

// newPlan copies current, keeping one copy of each key: the first met from
// the highest shard down, which after an interrupted move is usually where
// the entry was moving to. A shard that loses a copy is changed, so the
// next write completes the move.
func newPlan(current Shards) *plan {
	p := &plan{shards: Shards{}, where: map[string]int{}, sizes: map[int]int{}, changed: map[int]bool{}}
	indexes := slices.Sorted(maps.Keys(current))
	slices.Reverse(indexes)
	for _, i := range indexes {
		p.shards[i] = make([]Entry, 0, len(current[i]))
		p.sizes[i] = 2
		for _, e := range current[i] {
			if _, kept := p.where[e.Key]; kept {
				p.changed[i] = true
				continue
			}
			p.shards[i] = append(p.shards[i], e)
			p.where[e.Key] = i
			p.sizes[i] += len(e.JSON) + 1
		}
	}
	return p
}

func (p *plan) remove(key string) {
	i, ok := p.where[key]
	if !ok {
		return
	}
	p.shards[i] = slices.DeleteFunc(p.shards[i], func(e Entry) bool {
		if e.Key == key {
			p.sizes[i] -= len(e.JSON) + 1
			return true
		}
		return false
	})
	delete(p.where, key)
	p.changed[i] = true
}

// replace updates an existing entry in place and reports whether it existed.
func (p *plan) replace(e Entry) bool {
	i, ok := p.where[e.Key]
	if !ok {
		return false
	}
	for j, old := range p.shards[i] {
		if old.Key == e.Key && !bytes.Equal(old.JSON, e.JSON) {
			p.sizes[i] += len(e.JSON) - len(old.JSON)
			p.shards[i][j] = e
			p.changed[i] = true
		}
	}
	return true
}

// overflow takes entries out of shards that grew past the limit, the
// lowest shard's first: place fills shards in the order it is given
// entries, so an order that changed from run to run (a map's) would lay
// out the same change differently each time.
func (p *plan) overflow() []Entry {
	var out []Entry
	for _, i := range slices.Sorted(maps.Keys(p.changed)) {
		for p.sizes[i] > MaxShardBytes && len(p.shards[i]) > 1 {
			last := p.shards[i][len(p.shards[i])-1]
			p.shards[i] = p.shards[i][:len(p.shards[i])-1]
			p.sizes[i] -= len(last.JSON) + 1
			delete(p.where, last.Key)
			out = append(out, last)
		}
	}
	return out
}

// place puts new entries into the highest shard while it has room, then
// where nextShard says.
func (p *plan) place(entries []Entry) error {
	target := -1
	for i := range p.shards {
		target = max(target, i)
	}
	for _, e := range entries {
		if target < 0 || !p.fits(target, e) {
			next, err := p.nextShard(e)
			if err != nil {
				return err
			}
			target = next
		}
		p.add(target, e)
	}
	return nil
}

// reuseRoom is the least room a shard other than the one being filled must
// have for new entries to go there rather than into a new shard. Without
// it, users added over months each went into the highest shard or a new
// one, while cancellations emptied the others bit by bit: the number of
// shards grew with the syncs, not the users, past the shards a workload
// mounts. A quarter of a shard, some 300 users, keeps a batch of 500 to two
// or three shard writes, and leaves every shard but the last at least
// three quarters full.
const reuseRoom = MaxShardBytes / 4

// nextShard is where entries go from e on, once the shard being filled has
// no room for e: the shard with the most room, lowest first, when that is
// at least reuseRoom and takes e; else the lowest free index.
func (p *plan) nextShard(e Entry) (int, error) {
	best, bestRoom := -1, reuseRoom-1
	for _, i := range slices.Sorted(maps.Keys(p.shards)) {
		if room := MaxShardBytes - p.sizes[i]; room > bestRoom && p.fits(i, e) {
			best, bestRoom = i, room
		}
	}
	if best >= 0 {
		return best, nil
	}
	next, err := p.freeIndex()
	if err != nil {
		return 0, err
	}
	p.shards[next], p.sizes[next] = nil, 2
	return next, nil
}

// fits reports whether shard i has room for e. An empty shard takes any
// entry: one larger than a shard goes alone.
func (p *plan) fits(i int, e Entry) bool {
	return len(p.shards[i]) == 0 || p.sizes[i]+len(e.JSON)+1 <= MaxShardBytes
}

// add puts e into shard i.
func (p *plan) add(i int, e Entry) {
	p.shards[i] = append(p.shards[i], e)
	p.sizes[i] += len(e.JSON) + 1
	if p.where != nil {
		p.where[e.Key] = i
	}
	p.changed[i] = true
}

// mountLimits are the parts' mounted shard counts, smallest first. Apply is
// not told which part it changes, so it keeps a part within the smallest of
// them its entries fit in: that keeps users within 64 shards whenever they
// fit in 64, and departments within 16 whenever they fit in 16. A users
// part small enough for 16 shards is kept within 16 too, which costs
// writes only when shards with little room each are all it has left.
var mountLimits = []int{MountedDepartmentShards, MountedUserShards}

// mountLimit is the number of shards compact keeps the plan within: the
// smallest of mountLimits whose shards can hold the plan's entries, or 0
// when none can (the delivery then says how many entries are beyond what
// the tenant's pods read).
func (p *plan) mountLimit() int {
	bytes := 0
	for i := range p.shards {
		bytes += p.sizes[i] - 2
	}
	for _, limit := range mountLimits {
		if bytes <= limit*(MaxShardBytes-2) {
			return limit
		}
	}
	return 0
}

// compact moves the entries of shards at or beyond mountLimit into room in
// the shards below it: the pods of a workload read no shard beyond, and
// the SSO gateway refuses a user it cannot read. place adds a shard there
// only when every shard below has less than reuseRoom, so this runs only
// for a part close to the limit (or one an earlier version let grow past
// it). It fills one shard below at a time (targetBelow), to write few. An
// entry no shard below has room for stays where it is.
func (p *plan) compact() {
	limit := p.mountLimit()
	if limit == 0 {
		return
	}
	var sources []int
	for i, entries := range p.shards {
		if i >= limit && len(entries) > 0 {
			sources = append(sources, i)
		}
	}
	slices.Sort(sources)
	slices.Reverse(sources)
	target := -1
	for _, from := range sources {
		var stay []Entry
		for _, e := range p.shards[from] {
			if target < 0 || !p.fits(target, e) {
				target = p.targetBelow(limit, e)
			}
			if target < 0 {
				stay = append(stay, e)
				continue
			}
			p.sizes[from] -= len(e.JSON) + 1
			p.add(target, e)
		}
		if len(stay) < len(p.shards[from]) {
			p.shards[from] = stay
			p.changed[from] = true
		}
	}
}

// targetBelow is the shard below limit that takes e: as in nextShard, the
// one with the most room (lowest first) when that is at least reuseRoom,
// else the lowest free index, else the one with the most room that takes
// e at all; -1 when none does.
func (p *plan) targetBelow(limit int, e Entry) int {
	best, bestRoom, free := -1, -1, -1
	for i := range limit {
		if _, used := p.shards[i]; !used {
			if free < 0 {
				free = i
			}
			continue
		}
		if room := MaxShardBytes - p.sizes[i]; room > bestRoom && p.fits(i, e) {
			best, bestRoom = i, room
		}
	}
	if free >= 0 && bestRoom < reuseRoom {
		p.shards[free], p.sizes[free] = nil, 2
		return free
	}
	return best
}

func (p *plan) freeIndex() (int, error) {
	for i := 0; i < MaxShards; i++ {
		if _, used := p.shards[i]; !used {
			return i, nil
		}
	}
	return 0, fmt.Errorf("more than %d shards: %w", MaxShards, ErrTooLarge)
}

// result returns the changed shards, sorted, empty ones as nil.
func (p *plan) result() Shards {
	out := Shards{}
	for i := range p.changed {
		entries := p.shards[i]
		if len(entries) == 0 {
			out[i] = nil
			continue
		}
		sort.Slice(entries, func(a, b int) bool { return entries[a].Key < entries[b].Key })
		out[i] = entries
	}
	return out
}
