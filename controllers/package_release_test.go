package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/metering"
)

// A package released while the controllers are down (docs/packages.md
// decision 10): the receiver stores its releaseInstance at h+1h05m, and the
// metering controller sees it only at h+3h30m. The package stops paying at
// the stored release: it pays for the hour its release falls in (decision
// 6), and the hours after go to the next package, or are uncovered.

// releasePackage releases package pkg by a releaseInstance stored at at,
// and waits until the manager's cache, where the metering reconciler finds
// the packages, shows it released.
func releasePackage(t *testing.T, pkg *saasv1alpha1.SaaSTenant, at time.Time) {
	t.Helper()
	order := fmt.Sprintf("CS%dRELEASE", tenantSeq.Add(1))
	updateTenant(t, pkg.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.State = saasv1alpha1.StateReleased
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: order, OrderLineID: order + "-000001",
			Activity: saasv1alpha1.ActivityReleaseInstance, ReceivedTime: metav1.NewTime(at)})
	})
	NewWithT(t).Eventually(func(g Gomega) {
		cached := &saasv1alpha1.SaaSTenant{}
		g.Expect(cachedClient.Get(testContext(t), client.ObjectKeyFromObject(pkg), cached)).To(Succeed())
		g.Expect(cached.Spec.State).To(Equal(saasv1alpha1.StateReleased))
	}).Should(Succeed())
}

// meterPackagesAfterOutage buys a pay-per-use tenant and the given
// packages (pkg-hours, 10 hours each, expiring at the given times; the
// first expires soonest and pays first), pushes the first hour from h,
// releases the first package at h+1h05m and meters again, for the first
// time since, at h+3h30m. It returns the tenant and the packages.
func meterPackagesAfterOutage(t *testing.T, h time.Time, expiries ...string) (*saasv1alpha1.SaaSTenant, []*saasv1alpha1.SaaSTenant) {
	t.Helper()
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	var packages []*saasv1alpha1.SaaSTenant
	for _, expire := range expiries {
		packages = append(packages, buyPackage(t, product, customer, "pkg-hours", expire, 10, ppu))
	}
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, len(packages))
	_, err := meterAt(t, r, h.Add(time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(map[string]string{h.Format("1504") + " " + packages[0].Name: "1"}))

	releasePackage(t, packages[0], h.Add(time.Hour+5*time.Minute))
	meterUntil(t, r, h.Add(3*time.Hour+30*time.Minute), ppu.Name, func(g Gomega, m *saasv1alpha1.TenantMetering) {
		g.Expect(m.PushedUntil).NotTo(BeNil())
		g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(3*time.Hour)))
	})
	return ppu, packages
}

func TestAReleasedPackageStopsPayingAtItsStoredReleaseTheNextPackagePaysAfter(t *testing.T) {
	g := NewWithT(t)
	h := hourAgo(6)
	ppu, packages := meterPackagesAfterOutage(t, h, "20990101000000", "20991231235959")
	released, next := packages[0].Name, packages[1].Name
	hh := func(n int) string { return h.Add(time.Duration(n) * time.Hour).UTC().Format("1504") }

	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(map[string]string{
		hh(0) + " " + released: "1",
		hh(1) + " " + released: "1", // its release (h+1h05m) falls in this hour
		hh(2) + " " + next:     "1", // after the release: not the released package
	}))
	m := storedMetering(t, ppu.Name)
	b := metering.Balance(m.Packages, released)
	g.Expect(b).NotTo(BeNil())
	g.Expect(b.EndTime).NotTo(BeNil())
	g.Expect(b.EndTime.Time).To(BeTemporally("==", h.Add(time.Hour+5*time.Minute)), "the stored release, not h+3h30m")
	g.Expect(ledgerConsumed(m)).To(Equal(map[string]string{released: "2", next: "1"}))
	g.Expect(m.Uncovered).To(BeEmpty())
}

func TestAReleasedPackageStopsPayingAtItsStoredReleaseTheHoursAfterAreUncovered(t *testing.T) {
	g := NewWithT(t)
	h := hourAgo(6)
	ppu, packages := meterPackagesAfterOutage(t, h, "20990101000000")
	released := packages[0].Name
	hh := func(n int) string { return h.Add(time.Duration(n) * time.Hour).UTC().Format("1504") }

	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(map[string]string{
		hh(0) + " " + released: "1",
		hh(1) + " " + released: "1",
	}), "the hour after the release is uncovered, and not pushed")
	m := storedMetering(t, ppu.Name)
	g.Expect(metering.Balance(m.Packages, released).EndTime.Time).To(BeTemporally("==", h.Add(time.Hour+5*time.Minute)))
	g.Expect(ledgerConsumed(m)).To(Equal(map[string]string{released: "2"}))
	g.Expect(m.Uncovered).To(ConsistOf(saasv1alpha1.MeterUsage{Name: "duration", Total: "1"}))
	exhaustedCondition(g, m, metav1.ConditionTrue, saasv1alpha1.PackagesUsedUpReason)
}
