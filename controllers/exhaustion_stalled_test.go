package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A pay-per-use tenant whose packages run out while its provisioning is
// stalled (docs/packages.md decision 8, DESIGN.md rule 10). Before, the
// freeze by exhaustion was decided only by a pass that reached
// decideExhaustionFreeze and provisioned: a stalled pass froze from the
// record only what the marketplace or the expiry safety net froze, so the
// workload went on serving a buyer with no quota, Frozen never came, and
// metering billed the hours as Active.

// TestExhaustedPackagesFreezeAStalledTenant: the tenant's plan is retired
// (PlanNotFound, a stall before decideExhaustionFreeze runs), then its
// only package is used up. The freeze stops the Deployment from the
// record; a new package lifts the freeze as a marketplace UNFREEZE of a
// stalled tenant is lifted (Frozen goes, the workload waits for its
// provisioning), and the plan's return runs it again.
func TestExhaustedPackagesFreezeAStalledTenant(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedFreeze)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	ns := "tenant-" + ppu.Name
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))
	buyPackage(t, product, customer, "pkg-1.5h", "20991231235959", 0, ppu)

	h := hourAgo(4)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 1)
	exhaustedCondition(g, storedMetering(t, ppu.Name), metav1.ConditionFalse, saasv1alpha1.QuotaLeftReason)

	basic := planOf(product, "basic")
	removePlan(t, product, "basic")
	eventuallyTenant(t, ppu.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))

	// Two hours on a package of one and a half: used up.
	for hour := 1; hour <= 2; hour++ {
		_, err := meterAt(t, r, h.Add(time.Duration(hour)*time.Hour), ppu.Name)
		g.Expect(err).NotTo(HaveOccurred())
	}
	exhaustedCondition(g, storedMetering(t, ppu.Name), metav1.ConditionTrue, saasv1alpha1.PackagesUsedUpReason)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)), "a buyer with no quota left is not served, stalled or not")
	frozen := eventuallyTenant(t, ppu.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByExhaustionReason))
	hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason)(g, frozen)
	g.Expect(frozen.Spec.State).To(Equal(saasv1alpha1.StateActive), "the marketplace did not freeze it")
	g.Expect(frozen.Status.FrozenReplicas).To(ConsistOf(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: tenantobjects.AppName, Replicas: 1}))
	meterUntilState(t, r, h.Add(2*time.Hour+time.Minute), ppu.Name, saasv1alpha1.StateFrozen)

	// A new package lifts the freeze; the plan is still gone, so nothing
	// runs again until it is back.
	buyPackage(t, product, customer, "pkg-hours", "20991231235959", 10, ppu)
	meterUntilLedger(t, r, h.Add(2*time.Hour+2*time.Minute), ppu.Name, 2)
	exhaustedCondition(g, storedMetering(t, ppu.Name), metav1.ConditionFalse, saasv1alpha1.QuotaLeftReason)
	eventuallyTenant(t, ppu.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason)(g, tn)
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil(), "no longer meant to be frozen")
	})
	g.Expect(deploymentReplicas(t, ns)()).To(Equal(int32(0)), "not provisioned again: the plan is gone")

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans = append(p.Spec.Plans, basic) })
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))
}

// TestExhaustedPackagesFreezeAChartTenantWhoseChartStopsRendering: the
// same for a chart tenant stalled later, in provision (ChartRenderFailed),
// after decideExhaustionFreeze decided the freeze that the stall dropped.
// The buyer holds no package at all: exhausted at the first look.
func TestExhaustedPackagesFreezeAChartTenantWhoseChartStopsRendering(t *testing.T) {
	g := NewWithT(t)
	chartProduct, digest := newEditedChartProduct(t, withTemplates(map[string]string{"templates/broken.yaml": brokenTemplate}),
		func(p *saasv1alpha1.SaaSProduct) {
			allAtOnce(p)
			p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}}
			p.Spec.Packages = &saasv1alpha1.PackagesSpec{OnExhausted: saasv1alpha1.ExhaustedFreeze}
		})
	resolveChart(t, chartProduct.Name, digest)
	ppu := buyPayPerUse(t, chartProduct, fmt.Sprintf("buyer-%d", tenantSeq.Add(1)))
	ns, web := "tenant-"+ppu.Name, ppu.Spec.InstanceID+"-web"
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, web)).Should(Equal(int32(1)))

	changeProduct(t, chartProduct.Name, func(p *saasv1alpha1.SaaSProduct) {
		i := slices.IndexFunc(p.Spec.Plans, func(plan saasv1alpha1.Plan) bool { return plan.SKUCode == "basic" })
		p.Spec.Plans[i].Values = jsonValues(`{"broken":true}`)
	})
	eventuallyTenant(t, ppu.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartRenderFailedReason))

	h := hourAgo(3)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 0)
	exhaustedCondition(g, storedMetering(t, ppu.Name), metav1.ConditionTrue, saasv1alpha1.NoPackageReason)
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, web)).Should(Equal(int32(0)), "a buyer with no quota is not served, stalled or not")
	frozen := eventuallyTenant(t, ppu.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByExhaustionReason))
	hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartRenderFailedReason)(g, frozen)
	meterUntilState(t, r, h.Add(time.Minute), ppu.Name, saasv1alpha1.StateFrozen)
}

// planOf is a copy of the product's plan sku.
func planOf(product *saasv1alpha1.SaaSProduct, sku string) saasv1alpha1.Plan {
	i := slices.IndexFunc(product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == sku })
	return *product.Spec.Plans[i].DeepCopy()
}
