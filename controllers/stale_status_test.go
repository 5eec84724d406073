package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// Status that says something no longer true once what it reported
// changed: a stall whose cause is gone, a Warning that names an old cause,
// a rollout that counts a tenant it leaves out.

// A record stalled because its product was missing (a restore that brings
// tenants back before products) is no longer stalled once the product is
// there, even when the next step fails: before, a Query Order outage at
// that moment left Stalled ProductNotFound, and Ready "SaaSProduct … not
// found", on a product that exists.
func TestAProductNotFoundStallClearsWhenTheProductAppears(t *testing.T) {
	ghost := func(prefix string) *saasv1alpha1.SaaSProduct {
		return &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("late-%d", tenantSeq.Add(1))},
			Spec: saasv1alpha1.SaaSProductSpec{ProductID: fmt.Sprintf("%sLATE%d", prefix, tenantSeq.Add(1))}}
	}
	appear := func(ghost *saasv1alpha1.SaaSProduct) func(*saasv1alpha1.SaaSProduct) {
		return func(p *saasv1alpha1.SaaSProduct) {
			p.Name, p.Spec.ProductID, p.Spec.KeysSecretName = ghost.Name, ghost.Spec.ProductID, ghost.Name+"-keys"
		}
	}
	t.Run("a tenant", func(t *testing.T) {
		product := ghost("OFFI")
		tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { marketplace.setDown(tn.Spec.OrderID, true) })
		t.Cleanup(func() { marketplace.setDown(tenant.Spec.OrderID, false) })
		eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))

		newTenantProduct(t, appear(product))
		eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
			g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil(), "the product is there")
			hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason)(g, tn)
		})
	})
	t.Run("a licence", func(t *testing.T) {
		product := ghost("OFFL")
		l := newLicenseIn(t, k8sClient, product, "basic", func(l *saasv1alpha1.License) { marketplace.setDown(l.Spec.OrderID, true) })
		t.Cleanup(func() { marketplace.setDown(l.Spec.OrderID, false) })
		eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))

		newLicenseProductWith(t, true, appear(product))
		eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
			g.Expect(apimeta.FindStatusCondition(l.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil(), "the product is there")
			licenseHas(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason)(g, l)
		})
	})
}

// A stall, or a product's Ready False, whose cause changes is announced
// again with a Warning naming the new cause: before, an Event came only
// when the condition turned, so the last Warning named a cause the
// merchant had already mended.
func TestAStalledReasonChangeEmitsAWarning(t *testing.T) {
	t.Run("a tenant", func(t *testing.T) {
		product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Storage = nil }) // a RollingUpdate strategy
		tenant := newTenant(t, product, "gold", nil)
		eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))
		expectEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.PlanNotFoundReason)

		// The plan added, with a quota that cannot hold a rollout's surge pod.
		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "gold", Replicas: 3,
				Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}})
		})
		eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.QuotaTooSmallReason))
		expectEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.QuotaTooSmallReason)
	})
	t.Run("a licence", func(t *testing.T) {
		product, _ := newLicenseProduct(t, false) // no signing key
		l := newLicenseIn(t, k8sClient, product, "gold", nil)
		eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))
		expectEvent(t, l.Name, corev1.EventTypeWarning, saasv1alpha1.PlanNotFoundReason)

		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "gold", License: &saasv1alpha1.LicenseTerms{ValidityDays: 365}})
		})
		eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.KeysSecretIncompleteReason))
		expectEvent(t, l.Name, corev1.EventTypeWarning, saasv1alpha1.KeysSecretIncompleteReason)
	})
	t.Run("a product's Ready", func(t *testing.T) {
		g := NewWithT(t)
		secretName := fmt.Sprintf("keys-%d", tenantSeq.Add(1))
		product := newProduct(t, secretName)
		expectEvent(t, product.Name, corev1.EventTypeWarning, saasv1alpha1.KeysSecretNotFoundReason)

		secret := keysSecret(operatorNamespace, secretName, map[string]string{saasv1alpha1.BasicKeySecretKey: "test-access-key"})
		g.Expect(k8sClient.Create(testContext(t), secret)).To(Succeed())
		expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)
		expectEvent(t, product.Name, corev1.EventTypeWarning, saasv1alpha1.KeysSecretIncompleteReason)
	})
}

// A package bought before its buyer's pay-per-use tenant exists runs
// nothing, and a rollout leaves it out. A rollout step taken before its
// order was resolved counted it, since nothing said yet it was a package;
// the write that said so changed nothing else the rollout watched, so the
// product showed "1 of 2" until some other tenant changed.
func TestAWaitingPackageLeavesTheRolloutCounts(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	ppu := buyPayPerUse(t, product, fmt.Sprintf("buyer-%d", tenantSeq.Add(1)))
	markAvailable(t, "tenant-"+ppu.Name)
	allRolledOut(t, product.Name, 1)

	// Query Order is down when the package is bought: its first passes
	// cannot tell it for a package.
	pkg := newTenant(t, product, "pkg-1.5h", func(tn *saasv1alpha1.SaaSTenant) {
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "pkg-1.5h", "20991231235959", koogallery.ChargingOnDemandPackage)
		marketplace.setBuyer(tn.Spec.OrderID, fmt.Sprintf("buyer-%d", tenantSeq.Add(1)), 0)
		marketplace.setDown(tn.Spec.OrderID, true)
	})
	t.Cleanup(func() { marketplace.setDown(pkg.Spec.OrderID, false) })
	g.Eventually(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.Tenants).To(Equal(int32(2)), "not yet known for a package")
	}).Should(Succeed())

	marketplace.setDown(pkg.Spec.OrderID, false)
	eventuallyTenant(t, pkg.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WaitingForPayPerUseTenantReason))
	allRolledOut(t, product.Name, 1)
}
