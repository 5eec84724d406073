package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestTheOrderMemoForgetsAnOrderAfterItsTTL: the memo only bridges the
// moment before the cache shows the status a reconcile just wrote; past
// that the status is the record. Kept longer, it would hold every buyer's
// name and account id kooper ever resolved, for nothing.
func TestTheOrderMemoForgetsAnOrderAfterItsTTL(t *testing.T) {
	g := NewWithT(t)
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := &resolvedOrders{clock: clock}
	order := &saasv1alpha1.ResolvedOrder{OrderID: "CS1", SKUCode: "basic", CustomerName: "Ada", CustomerID: "u-1"}
	m.put("OFFI1/CS1/CS1-000001", order, ptr.To("BARTER"))

	clock.Step(time.Minute) // far beyond any cache lag
	g.Expect(m.get("OFFI1/CS1/CS1-000001")).To(Equal(order), "remembered while the cache may lag")
	mode, remembered := m.unknownMode("OFFI1/CS1/CS1-000001")
	g.Expect(remembered).To(BeTrue())
	g.Expect(mode).To(Equal(ptr.To("BARTER")))

	clock.Step(rememberedOrderTTL)
	g.Expect(m.get("OFFI1/CS1/CS1-000001")).To(BeNil(), "forgotten after its TTL")
	_, remembered = m.unknownMode("OFFI1/CS1/CS1-000001")
	g.Expect(remembered).To(BeFalse(), "noteOrder falls back to the stored condition")
	g.Expect(m.size()).To(BeZero())
}

// TestTheOrderMemoHoldsAtMostItsCapAndForgetsTheOldestFirst: a burst of
// orders beyond the cap makes the memo forget the least recently used
// ones, not all of them at once (each forgotten order may cost a Query
// Order call if its status is not shown yet).
func TestTheOrderMemoHoldsAtMostItsCapAndForgetsTheOldestFirst(t *testing.T) {
	g := NewWithT(t)
	m := &resolvedOrders{clock: clocktesting.NewFakeClock(time.Now())}
	key := func(i int) string { return fmt.Sprintf("OFFI1/CS%d/CS%d-000001", i, i) }
	for i := range maxRememberedOrders + 10 {
		m.put(key(i), &saasv1alpha1.ResolvedOrder{OrderID: fmt.Sprintf("CS%d", i)}, nil)
		if i%1000 == 0 {
			g.Expect(m.size()).To(BeNumerically("<=", maxRememberedOrders))
		}
	}
	g.Expect(m.size()).To(Equal(maxRememberedOrders))
	g.Expect(m.get(key(0))).To(BeNil(), "the oldest is forgotten")
	g.Expect(m.get(key(9))).To(BeNil())
	g.Expect(m.get(key(10))).NotTo(BeNil(), "the rest are kept")
	g.Expect(m.get(key(maxRememberedOrders+9))).NotTo(BeNil(), "the newest is kept")
}

// size is how many orders the memo holds, expired ones left out.
func (m *resolvedOrders) size() int {
	return len(m.entries().Keys())
}
