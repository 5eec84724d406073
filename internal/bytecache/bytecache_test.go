package bytecache

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

func TestCacheEvictsTheLeastRecentlyUsedBeyondItsBudget(t *testing.T) {
	g := NewWithT(t)
	c := New[string](10)
	c.Add("a", "A", 4)
	c.Add("b", "B", 4)
	_, ok := c.Get("a") // a is now more recent than b
	g.Expect(ok).To(BeTrue())
	c.Add("c", "C", 4) // 12 > 10: b goes
	_, ok = c.Get("b")
	g.Expect(ok).To(BeFalse(), "the least recently used goes first")
	for _, k := range []string{"a", "c"} {
		v, ok := c.Get(k)
		g.Expect(ok).To(BeTrue(), k)
		g.Expect(v).To(Equal(string(k[0] - 'a' + 'A')))
	}
	g.Expect(c.Bytes()).To(Equal(int64(8)))
	g.Expect(c.Len()).To(Equal(2))
}

func TestCacheReplacesAValueWithItsNewWeight(t *testing.T) {
	g := NewWithT(t)
	c := New[int](10)
	c.Add("a", 1, 6)
	c.Add("a", 2, 3)
	v, _ := c.Get("a")
	g.Expect(v).To(Equal(2))
	g.Expect(c.Bytes()).To(Equal(int64(3)))
}

func TestCacheKeepsNothingHeavierThanItsBudget(t *testing.T) {
	g := NewWithT(t)
	c := New[int](10)
	c.Add("a", 1, 5)
	c.Add("a", 2, 11) // dropped, and the old value with it
	c.Add("b", 3, 11)
	g.Expect(c.Len()).To(BeZero())
	g.Expect(c.Bytes()).To(BeZero())
	c.Add("c", 4, 10)
	g.Expect(c.Len()).To(Equal(1), "a value of exactly the budget is kept")

	empty := New[int](0)
	empty.Add("a", 1, 0)
	g.Expect(empty.Len()).To(Equal(1), "a zero budget keeps weightless values only")
	empty.Add("b", 1, 1)
	g.Expect(empty.Bytes()).To(BeZero())
}

// Whatever the order of adds and gets, the cache's weight is the sum of
// what it holds, and never over its budget.
func TestCacheWeightIsWhatItHolds(t *testing.T) {
	g := NewWithT(t)
	rng := rand.New(rand.NewPCG(1, 2))
	c := New[int64](100)
	for range 10000 {
		key := fmt.Sprint(rng.IntN(40))
		if rng.IntN(3) == 0 {
			c.Get(key)
			continue
		}
		c.Add(key, rng.Int64N(30), 0)
		w, _ := c.Get(key)
		c.Add(key, w, w)
		var sum int64
		for k := range 40 {
			if v, ok := c.Get(fmt.Sprint(k)); ok {
				sum += v
			}
		}
		g.Expect(c.Bytes()).To(Equal(sum))
		g.Expect(c.Bytes()).To(BeNumerically("<=", 100))
	}
}

func TestCacheIsSafeForConcurrentUse(t *testing.T) {
	c := New[int](64)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				key := fmt.Sprint((w + i) % 50)
				c.Add(key, i, int64(i%5))
				c.Get(key)
			}
		})
	}
	wg.Wait()
	if c.Bytes() > 64 || c.Bytes() < 0 {
		t.Fatalf("weight %d outside 0..64 after concurrent use", c.Bytes())
	}
}
