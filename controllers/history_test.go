package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestNextHistory(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	at := func(m int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(m) * time.Minute)) }
	exp := func(d int) *metav1.Time { e := metav1.NewTime(t0.AddDate(0, 0, d)); return &e }
	orders := []saasv1alpha1.AppliedOrder{{OrderID: "o-new", Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: at(0)}}
	basic := &saasv1alpha1.ResolvedOrder{OrderID: "o-new", SKUCode: "basic"}

	// The purchase waits for Query Order, then says which plan.
	h := nextHistory(nil, orders, saasv1alpha1.StateActive, nil, nil, nil, t0)
	g.Expect(h).To(BeEmpty())
	h = nextHistory(nil, orders, saasv1alpha1.StateActive, nil, basic, nil, t0)
	g.Expect(h).To(HaveLen(1))
	g.Expect(h[0]).To(Equal(saasv1alpha1.MarketplaceEvent{Time: at(0), Activity: "newInstance", OrderID: "o-new",
		State: saasv1alpha1.StateActive, Result: saasv1alpha1.HistoryApplied, Change: "purchased plan basic"}))
	g.Expect(nextHistory(h, orders, saasv1alpha1.StateActive, basic, basic, nil, t0.Add(time.Hour))).To(Equal(h), "a re-reconcile adds nothing")

	// A renewal, a late retry of an older one, an upgrade, a freeze.
	orders = append(orders,
		saasv1alpha1.AppliedOrder{OrderID: "o-r1", Activity: saasv1alpha1.ActivityRefreshInstance, Scene: saasv1alpha1.SceneRenewal, ExpireTime: exp(60), ReceivedTime: at(1)},
		saasv1alpha1.AppliedOrder{OrderID: "o-r0", Activity: saasv1alpha1.ActivityRefreshInstance, Scene: saasv1alpha1.SceneRenewal, ExpireTime: exp(30), ReceivedTime: at(2)},
		saasv1alpha1.AppliedOrder{OrderID: "o-up", Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: at(3)})
	pro := &saasv1alpha1.ResolvedOrder{OrderID: "o-up", SKUCode: "pro"}
	h2 := nextHistory(h, orders, saasv1alpha1.StateFrozen, basic, basic, nil, t0.Add(time.Hour))
	g.Expect(h2).To(HaveLen(4), "the upgrade waits for Query Order; the freeze does not")
	h2 = nextHistory(h, orders, saasv1alpha1.StateFrozen, basic, pro, nil, t0.Add(time.Hour))
	changes := []string{}
	for _, e := range h2 {
		changes = append(changes, fmt.Sprintf("%s %s %s %s %s", e.Activity, e.OrderID, e.State, e.Result, e.Change))
	}
	g.Expect(changes).To(Equal([]string{
		"newInstance o-new Active Applied purchased plan basic",
		"refreshInstance o-r1 Active Applied expireTime moved to 2027-01-30T08:00:00Z",
		"refreshInstance o-r0 Active Unchanged expireTime 2026-12-31T08:00:00Z is not later than 2027-01-30T08:00:00Z",
		"upgradeInstance o-up Active Applied plan basic → pro",
		"updateInstanceStatus  Frozen Applied frozen",
	}))
	g.Expect(nextHistory(h2, orders, saasv1alpha1.StateFrozen, pro, pro, nil, t0.Add(2*time.Hour))).To(Equal(h2))

	// A subscription from before the history: its orders at once, the plan as resolved.
	first := nextHistory(nil, []saasv1alpha1.AppliedOrder{orders[0], orders[3]}, saasv1alpha1.StateActive, pro, pro, nil, t0)
	g.Expect(first).To(HaveLen(2))
	g.Expect(first[0].Change).To(Equal("purchased; plan set by the later order o-up"))
	g.Expect(first[1].Change).To(Equal("plan pro"))

	// Bounded: 30 renewals keep the last 20 events, and a dropped order is not added again.
	for i := range 30 {
		orders = append(orders, saasv1alpha1.AppliedOrder{OrderID: fmt.Sprintf("o-x%02d", i), Activity: saasv1alpha1.ActivityRefreshInstance,
			Scene: saasv1alpha1.SceneRenewal, ExpireTime: exp(100 + i), ReceivedTime: at(10 + i)})
	}
	h3 := nextHistory(h2, orders, saasv1alpha1.StateReleased, pro, pro, nil, t0.Add(3*time.Hour))
	g.Expect(h3).To(HaveLen(saasv1alpha1.MaxHistory))
	g.Expect(h3[0].OrderID).To(Equal("o-x11"))
	g.Expect(h3[19].Change).To(Equal("released"))
	g.Expect(h3[19].Activity).To(Equal("releaseInstance"))
	g.Expect(nextHistory(h3, orders, saasv1alpha1.StateReleased, pro, pro, nil, t0.Add(4*time.Hour))).To(Equal(h3))
}

// TestALateRetryOfAnOlderUpgradeHoldsNoHistoryUp: U2 is the plan in force;
// the retry of U1, created before it, arrives after it, then a renewal.
// Before, U1 waited for Query Order to make it the plan, which it never
// would, and held every later order out of the history for good. With the
// creation times known it is recorded as unchanged at once.
func TestALateRetryOfAnOlderUpgradeHoldsNoHistoryUp(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	at := func(m int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(m) * time.Minute)) }
	expiry := metav1.NewTime(t0.AddDate(0, 2, 0))
	orders := []saasv1alpha1.AppliedOrder{
		{OrderID: "o-new", Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: at(0)},
		{OrderID: "o-u2", Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: at(1)},
		{OrderID: "o-u1", Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: at(2)},
		{OrderID: "o-r", Activity: saasv1alpha1.ActivityRefreshInstance, Scene: saasv1alpha1.SceneRenewal, ExpireTime: &expiry, ReceivedTime: at(3)},
	}
	basic := &saasv1alpha1.ResolvedOrder{OrderID: "o-new", SKUCode: "basic"}
	maxPlan := &saasv1alpha1.ResolvedOrder{OrderID: "o-u2", SKUCode: "max"}
	times := map[string]time.Time{"o-u2": t0.Add(-time.Hour), "o-u1": t0.Add(-2 * time.Hour)}

	h := nextHistory(nil, orders, saasv1alpha1.StateActive, basic, maxPlan, times, t0)
	var got []string
	for _, e := range h {
		got = append(got, fmt.Sprintf("%s %s %s", e.OrderID, e.Result, e.Change))
	}
	g.Expect(got).To(Equal([]string{
		"o-new Applied purchased; plan set by the later order o-u2",
		"o-u2 Applied plan basic → max",
		"o-u1 Unchanged plan set by the later order o-u2",
		"o-r Applied expireTime moved to 2027-02-01T08:00:00Z",
	}))
	g.Expect(nextHistory(nil, orders, saasv1alpha1.StateActive, basic, maxPlan, nil, t0)).To(HaveLen(2),
		"without the times, the later arrival may still become the plan: it waits")
}

// A licence's history: the purchase, an upgrade once Query Order named its
// plan, a freeze; a reconcile that finds nothing new adds nothing.
func TestLicenseHistory(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)

	upgradeLicenseToPro(t, product, l.Name)
	eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) { g.Expect(l.Status.SKUCode).To(Equal("pro")) })
	updateLicense(t, l.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateFrozen })
	summary := func(l *saasv1alpha1.License) []string {
		var s []string
		for _, e := range l.Status.History {
			s = append(s, fmt.Sprintf("%s %s %s %s", e.Activity, e.State, e.Result, e.Change))
		}
		return s
	}
	want := []string{"newInstance Active Applied purchased plan basic", "upgradeInstance Active Applied plan basic → pro",
		"updateInstanceStatus Frozen Applied frozen"}
	l = eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(summary(l)).To(Equal(want))
		g.Expect(l.Status.ObservedGeneration).To(Equal(l.Generation))
	})
	history := l.Status.History

	// The poked pass changes nothing to show that it ran: the check starts
	// once the controller has ended a pass since the poke.
	pokeAndAwaitPass(t, l, "license")
	g.Consistently(func(g Gomega) {
		got := &saasv1alpha1.License{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(l), got)).To(Succeed())
		g.Expect(got.Status.History).To(Equal(history))
	}).WithTimeout(2 * time.Second).Should(Succeed())
}
