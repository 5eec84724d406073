package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// The cache keeps a tenant's ResourceQuota without what the quota
// controller counts as used: kooper never reads it, and at 10,000 tenants
// it is megabytes. The spec, which kooper compares with what it applies,
// stays, and a hand edit of it is still put back.
func TestCachedQuotasHoldNoUsage(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := eventuallyTenant(t, newTenant(t, product, "basic", nil).Name, provisioned)
	key := client.ObjectKey{Namespace: tenant.Status.Namespace, Name: tenantobjects.ResourceQuotaName}

	// envtest runs no quota controller: count the usage as it would.
	quota := getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name)
	quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}
	g.Expect(k8sClient.Status().Update(testContext(t), quota)).To(Succeed())

	g.Eventually(func(g Gomega) {
		cached := &corev1.ResourceQuota{}
		g.Expect(cachedClient.Get(testContext(t), key, cached)).To(Succeed())
		g.Expect(cached.ResourceVersion).To(Equal(quota.ResourceVersion), "the cache has seen the status update")
		g.Expect(cached.Status).To(Equal(corev1.ResourceQuotaStatus{}))
		g.Expect(cached.Spec.Hard).To(Equal(quota.Spec.Hard))
	}).Should(Succeed())

	edited := getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name)
	want := edited.Spec.Hard.DeepCopy()
	edited.Spec.Hard[corev1.ResourcePods] = resource.MustParse("999")
	g.Expect(k8sClient.Update(testContext(t), edited)).To(Succeed())
	g.Eventually(func() corev1.ResourceList {
		return getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name).Spec.Hard
	}).Should(Equal(want), "a hand edit of the quota is put back")
}
