package apply

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultMemoTTL is how long a Memo vouches for an object this process
// wrote: long enough for a new tenant's next pass (the one that sees its
// workload Available) to come within it on a loaded cluster.
const DefaultMemoTTL = 2 * time.Minute

// Memo remembers, for a while, the last apply hash of each uncached object
// this process wrote (created or applied). An Applier given one does not
// read such an object back from the API server in a later pass while the
// desired hash is unchanged and the write is younger than TTL: it is in
// step as written. That saves the read of, say, a chart's ConfigMap in a
// new tenant's second pass (docs/benchmarks.md, issue 26).
//
// What it gives up: an uncached object is watched by nothing, so a hand
// edit of one is put back by the first pass that reads it; with a Memo,
// a pass within TTL of kooper's own write does not read it, and the edit
// waits for a later pass. Only this process's own writes are remembered,
// never what it read, so a new leader starts with an empty Memo. Safe for
// concurrent use. The zero value is an empty Memo with DefaultMemoTTL on
// the wall clock.
type Memo struct {
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	swept time.Time
	seen  map[memoKey]memoEntry
}

type memoKey struct {
	gk  schema.GroupKind
	key types.NamespacedName
}

type memoEntry struct {
	hash    string
	written time.Time
}

// NewMemo returns an empty Memo whose entries last ttl (DefaultMemoTTL
// when ttl is 0 or less), timed by now (time.Now when nil).
func NewMemo(ttl time.Duration, now func() time.Time) *Memo {
	return &Memo{ttl: ttl, now: now}
}

// wrote remembers that the object of kind gk and key was just written with
// last apply hash hash; an empty hash forgets it (nothing to compare).
func (m *Memo) wrote(gk schema.GroupKind, key types.NamespacedName, hash string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	m.sweep(now)
	k := memoKey{gk: gk, key: key}
	if hash == "" {
		delete(m.seen, k)
		return
	}
	if m.seen == nil {
		m.seen = map[memoKey]memoEntry{}
	}
	m.seen[k] = memoEntry{hash: hash, written: now}
}

// Forget drops what the Memo knows of the object of kind gk and key (it
// was deleted: the next pass must not take it for in step).
func (m *Memo) Forget(gk schema.GroupKind, key types.NamespacedName) {
	m.wrote(gk, key, "")
}

// inStep reports whether this process wrote the object with last apply
// hash hash less than TTL ago.
func (m *Memo) inStep(gk schema.GroupKind, key types.NamespacedName, hash string) bool {
	if m == nil || hash == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.seen[memoKey{gk: gk, key: key}]
	return ok && e.hash == hash && m.clock().Sub(e.written) < m.lifetime()
}

func (m *Memo) clock() time.Time {
	if m.now == nil {
		return time.Now()
	}
	return m.now()
}

func (m *Memo) lifetime() time.Duration {
	if m.ttl <= 0 {
		return DefaultMemoTTL
	}
	return m.ttl
}

// Len returns how many objects the Memo remembers, expired ones included
// until the next sweep.
func (m *Memo) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

// sweep drops expired entries at most once per TTL, so the Memo holds
// about what was written in the last two TTLs. The caller holds mu.
func (m *Memo) sweep(now time.Time) {
	if now.Sub(m.swept) < m.lifetime() {
		return
	}
	m.swept = now
	for k, e := range m.seen {
		if now.Sub(e.written) >= m.lifetime() {
			delete(m.seen, k)
		}
	}
}
