package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Tests of Ready as a summary of the other conditions, each from an input
// that failed before.

// readyTenant buys a tenant of product on the basic plan and plays the
// Deployment controller until it is Ready.
func readyTenant(t *testing.T, product *saasv1alpha1.SaaSProduct) *saasv1alpha1.SaaSTenant {
	t.Helper()
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	markAvailable(t, "tenant-"+tenant.Name)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	return tenant
}

// changeProduct patches the stored product as the merchant would.
func changeProduct(t *testing.T, name string, change func(*saasv1alpha1.SaaSProduct)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		product := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, product); err != nil {
			return err
		}
		patch := client.MergeFrom(product.DeepCopy())
		change(product)
		return k8sClient.Patch(testContext(t), product, patch)
	}).Should(Succeed())
}

// A Ready tenant whose objects can no longer be applied is not Ready: Ready
// turns False in the same status write as Provisioned, with its reason and
// message, and comes back once the product is put right.
func TestReadyTurnsFalseWithProvisionedWhenApplyingFails(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(*saasv1alpha1.SaaSProduct)
		mend  func(*saasv1alpha1.SaaSProduct)
		want  string
	}{{
		// The CRD takes any resource name; a ResourceQuota takes only
		// the standard ones (the merchant meant requests.nvidia.com/gpu).
		name:  "the plan's quota names a resource no ResourceQuota may hold",
		spoil: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Quota["gpus"] = resource.MustParse("1") },
		mend:  func(p *saasv1alpha1.SaaSProduct) { delete(p.Spec.Plans[0].Quota, "gpus") },
		want:  "ResourceQuota",
	}, {
		// A claim that is not bound (none is in envtest, nor on a cluster
		// whose class binds on first consumer before the pod runs) refuses
		// any change of its size.
		name:  "the storage grows, which the tenant's claim refuses",
		spoil: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Storage.Size = resource.MustParse("2Gi") },
		mend:  func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Storage.Size = resource.MustParse("1Gi") },
		want:  "PersistentVolumeClaim",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProduct(t, nil)
			tenant := readyTenant(t, product)

			changeProduct(t, product.Name, tc.spoil)
			failed := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ProvisioningReason))
			hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ProvisioningReason)(g, failed)
			ready := apimeta.FindStatusCondition(failed.Status.Conditions, saasv1alpha1.ReadyCondition)
			g.Expect(ready.Message).To(ContainSubstring(tc.want))
			g.Expect(ready.Message).To(Equal(apimeta.FindStatusCondition(failed.Status.Conditions, saasv1alpha1.ProvisionedCondition).Message))

			changeProduct(t, product.Name, tc.mend)
			eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
		})
	}
}
