// Package bytecache is a least-recently-used cache bounded by the bytes of
// what it holds, not by its number of entries: a cache of rendered charts or
// chart archives, whose entries are as large as a merchant's chart makes
// them, stays within its budget whatever the chart.
package bytecache

import (
	"sync"

	"k8s.io/utils/lru"
)

// Cache maps string keys to values, each weighed in bytes by the caller,
// and evicts the least recently used entries while the weights held exceed
// the budget. It is safe for concurrent use.
type Cache[V any] struct {
	mu      sync.Mutex
	entries *lru.Cache // key → entry[V], unbounded in number
	budget  int64
	bytes   int64
}

type entry[V any] struct {
	value V
	bytes int64
}

// New returns a cache that holds at most budget bytes; a budget of 0 or
// less holds nothing.
func New[V any](budget int64) *Cache[V] {
	c := &Cache[V]{budget: budget}
	c.entries = lru.NewWithEvictionFunc(0, func(_ lru.Key, v any) {
		c.bytes -= v.(entry[V]).bytes
	})
	return c
}

// Get returns the value under key and marks it most recently used.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.entries.Get(key); ok {
		return v.(entry[V]).value, true
	}
	var zero V
	return zero, false
}

// Add keeps value under key, weighing bytes, as the most recently used
// entry, and evicts the least recently used until the cache is within its
// budget. A value heavier than the whole budget is not kept (and any value
// under key before is dropped).
func (c *Cache[V]) Add(key string, value V, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Remove(key)
	if bytes > c.budget {
		return
	}
	c.entries.Add(key, entry[V]{value: value, bytes: bytes})
	c.bytes += bytes
	for c.bytes > c.budget {
		c.entries.RemoveOldest()
	}
}

// Bytes is the weight of the values held, in bytes.
func (c *Cache[V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Len is the number of values held.
func (c *Cache[V]) Len() int {
	return c.entries.Len()
}
