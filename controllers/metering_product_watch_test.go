package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/metering"
)

// These tests run the metering controller alone, under a manager, on a
// control plane of their own: no tenant controller writes the tenants (in
// the suite's, a pay-per-use tenant's OrderResolved note NotMetered changes
// when its product's meters come or go, and that write queues a metering
// pass too). A product's change must reach its tenants' metering through
// the metering controller's own watch.

// meteringAlone starts a control plane with only a metering controller,
// on clk, and returns an uncached client of it.
func meteringAlone(t *testing.T, clk *clocktesting.FakeClock) client.Client {
	t.Helper()
	g := NewWithT(t)
	mgr, c := ownManager(t, ownControlPlane(t))
	r := meteringAt(c, clk)
	r.Client, r.Reader, r.Recorder = mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("kooper-metering")
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	// SetupWithManager points the oldest-unpushed-window gauge at this
	// manager's cache; give it back to the suite's when the test ends.
	t.Cleanup(func() { meteringGauge.use(managerCache, fakeClock) })
	startOwnManager(t, mgr)
	return c
}

// payPerUseTenantIn creates, on c, a tenant of product with its order
// resolved as pay-per-use, as the tenant controller would record it.
func payPerUseTenantIn(t *testing.T, c client.Client, product *saasv1alpha1.SaaSProduct) *saasv1alpha1.SaaSTenant {
	t.Helper()
	tenant := newTenantIn(t, c, product, "basic", nil)
	before := tenant.DeepCopy()
	tenant.Status.Order = &saasv1alpha1.ResolvedOrder{
		OrderID: tenant.Spec.OrderID, ProductID: product.Spec.ProductID, SKUCode: "basic", ChargingMode: saasv1alpha1.ChargingOnDemand,
	}
	tenant.Status.SKUCode = "basic"
	NewWithT(t).Expect(c.Status().Patch(testContext(t), tenant, client.MergeFrom(before))).To(Succeed())
	return tenant
}

// changeProductIn is changeProduct on c.
func changeProductIn(t *testing.T, c client.Client, name string, change func(*saasv1alpha1.SaaSProduct)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		product := &saasv1alpha1.SaaSProduct{}
		if err := c.Get(testContext(t), client.ObjectKey{Name: name}, product); err != nil {
			return err
		}
		patch := client.MergeFrom(product.DeepCopy())
		change(product)
		return c.Patch(testContext(t), product, patch)
	}).Should(Succeed())
}

// eventuallyTenantIn is eventuallyTenant on c.
func eventuallyTenantIn(t *testing.T, c client.Client, name string, check func(g Gomega, tenant *saasv1alpha1.SaaSTenant)) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		tenant := &saasv1alpha1.SaaSTenant{}
		g.Expect(c.Get(testContext(t), client.ObjectKey{Name: name}, tenant)).To(Succeed())
		check(g, tenant)
	}).Should(Succeed())
}

// A merchant turns metering off and, later, on again, and nothing else
// happens to the tenant. Before, the metering controller watched no
// product: it let the tenant go only when something else touched it, and
// once let go (its record abandoned, not nil, so not put ahead as a new
// tenant) it metered it again only when something else touched it, every
// hour until then unbilled. Now the product's change reaches its tenants'
// metering at once: let go when metering is turned off, metered again from
// the moment it is turned on, and not one hour of the gap.
func TestMeteringReaddedStartsWithoutATenantEvent(t *testing.T) {
	meters := threeMeters[:1]
	h := hourAgo(6)
	clk := clocktesting.NewFakeClock(h)
	c := meteringAlone(t, clk)
	product := newTenantProductIn(t, c, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: meters}
	})
	tenant := payPerUseTenantIn(t, c, product)
	eventuallyTenantIn(t, c, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer))
		g.Expect(tn.Status.Metering).NotTo(BeNil())
		g.Expect(tn.Status.Metering.Since.Time).To(BeTemporally("==", h))
	})

	clk.SetTime(h.Add(30 * time.Minute))
	changeProductIn(t, c, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Metering = nil })
	eventuallyTenantIn(t, c, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).NotTo(ContainElement(saasv1alpha1.MeteringFinalizer), "let go without a tenant event")
		g.Expect(tn.Status.Metering.Segments).To(BeEmpty(), "its unpushed usage given up")
	})

	reenabled := h.Add(3*time.Hour + 7*time.Minute)
	clk.SetTime(reenabled)
	changeProductIn(t, c, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: meters}
	})
	eventuallyTenantIn(t, c, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer), "held again without a tenant event")
		m := tn.Status.Metering
		g.Expect(metering.Cursor(m)).To(BeTemporally("==", reenabled), "metered from when metering is turned on again, no hour of the gap")
		g.Expect(m.Segments).To(HaveLen(1))
		g.Expect(m.Segments[0].Start.Time).To(BeTemporally("==", reenabled))
	})
}

// A product that meters for the first time: its pay-per-use tenants, whose
// metering never started, start at once, not at each one's next change.
// And packages turned on and off again reach the tenants' ledgers at once:
// PackagesExhausted comes with spec.packages, and goes with it.
func TestMeteringAndPackagesAddedToAProductReachItsTenantsWithoutATenantEvent(t *testing.T) {
	h := hourAgo(2)
	clk := clocktesting.NewFakeClock(h)
	c := meteringAlone(t, clk)
	product := newTenantProductIn(t, c, nil)
	tenant := payPerUseTenantIn(t, c, product)
	// Its pass for that write finds nothing to meter; a change of the
	// product after it must start its metering.
	NewWithT(t).Consistently(func(g Gomega) {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(tenant), tn)).To(Succeed())
		g.Expect(tn.Status.Metering).To(BeNil())
	}, 2*time.Second).Should(Succeed())

	added := h.Add(40 * time.Minute)
	clk.SetTime(added)
	changeProductIn(t, c, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: threeMeters[:1]}
	})
	eventuallyTenantIn(t, c, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer))
		g.Expect(tn.Status.Metering).NotTo(BeNil())
		g.Expect(tn.Status.Metering.Since.Time).To(BeTemporally("==", added), "metered from when the product meters it")
	})

	changeProductIn(t, c, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Packages = &saasv1alpha1.PackagesSpec{OnExhausted: saasv1alpha1.ExhaustedReport}
		p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg-1.5h", Package: &saasv1alpha1.PackageTerms{Quota: "1.5"}})
	})
	eventuallyTenantIn(t, c, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		exhaustedCondition(g, tn.Status.Metering, metav1.ConditionTrue, saasv1alpha1.NoPackageReason)
	})
	changeProductIn(t, c, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Packages = nil
		p.Spec.Plans = slices.DeleteFunc(p.Spec.Plans, func(plan saasv1alpha1.Plan) bool { return plan.Package != nil })
	})
	eventuallyTenantIn(t, c, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Metering.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.PackagesExhaustedCondition)),
			fmt.Sprintf("no %s once the product has no packages", saasv1alpha1.PackagesExhaustedCondition))
	})
}
