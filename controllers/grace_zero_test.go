package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A product's lifecycle.expiry.graceSeconds 0 means no grace: the safety
// net stops service at expireTime. Before, the field was an int32 with
// omitempty, so the 0 kooper copied into the tenant's status.lifecycle was
// left out of the status patch and the API server stored the schema's
// default, 259200 (three days). Every later pass then found 0 against
// 259200 and sent a status write that changed nothing, and a pass whose
// product is gone froze the buyer three days late, from that record.

// TestAGraceOfZeroIsRecordedAndASettledPassWritesNoStatus: the tenant of a
// product without grace records 0, and a pass that finds it settled
// writes no status.
func TestAGraceOfZeroIsRecordedAndASettledPassWritesNoStatus(t *testing.T) {
	g := NewWithT(t)
	product := zeroGraceProduct(t)
	tenant := readyTenant(t, product, "basic")
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Lifecycle).NotTo(BeNil(), "the lifecycle policy is recorded")
	})
	cacheCaughtUp(t, tenant)

	writes := &statusWriteCounter{Client: cachedClient}
	r := tenantReconcilerLikeSetup(t, writes)
	for range 2 {
		_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tenant)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(writes.count.Load()).To(BeZero(), "status writes by passes of a settled tenant")
	g.Expect(storedGraceSeconds(t, tenant, "status", "lifecycle")).To(Equal(int64(0)),
		"the tenant records the product's 0, not the schema's three days")
}

// TestAGraceOfZeroHoldsWhenTheProductIsGone: with its product gone, a
// tenant is frozen from the policy it recorded: at expireTime, since the
// merchant chose no grace, not three days after it.
func TestAGraceOfZeroHoldsWhenTheProductIsGone(t *testing.T) {
	g := NewWithT(t)
	restoreClockAfter(t)
	product := zeroGraceProduct(t)
	expiry := metav1.NewTime(fakeClock.Now().Add(24 * time.Hour).UTC().Truncate(time.Second))
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &expiry })
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		g.Expect(tn.Status.Lifecycle).NotTo(BeNil(), "the lifecycle policy is recorded")
	})
	ns := "tenant-" + tenant.Name
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))

	deleteForGood(t, product)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))

	fakeClock.SetTime(expiry.Add(time.Hour)) // past expireTime, well within three days of it
	poke(t, tenant)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)), "frozen at expiry, as the merchant chose")
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByExpiryReason))
}

// zeroGraceProduct is newTenantProduct with lifecycle.expiry.graceSeconds
// 0, set as a merchant's manifest sets it (a typed create could drop a 0),
// and reconciled since: the manager's cache holds the 0 when it returns.
func zeroGraceProduct(t *testing.T) *saasv1alpha1.SaaSProduct {
	t.Helper()
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	patch := []byte(`{"spec":{"lifecycle":{"expiry":{"graceSeconds":0}}}}`)
	g.Expect(k8sClient.Patch(testContext(t), product, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
	g.Expect(storedGraceSeconds(t, product, "spec", "lifecycle")).To(Equal(int64(0)), "the API server keeps a 0 it is sent")
	g.Eventually(func(g Gomega) {
		seen := &saasv1alpha1.SaaSProduct{}
		g.Expect(cachedClient.Get(testContext(t), client.ObjectKeyFromObject(product), seen)).To(Succeed())
		g.Expect(seen.Status.ObservedGeneration).To(Equal(product.Generation))
	}).Should(Succeed())
	return product
}

// storedGraceSeconds is the expiry.graceSeconds the API server holds under
// the lifecycle at path in obj, read without kooper's Go types, which
// might drop a 0 or add a default; -1 when it is absent.
func storedGraceSeconds(t *testing.T, obj client.Object, path ...string) int64 {
	t.Helper()
	g := NewWithT(t)
	gvk, err := apiutil.GVKForObject(obj, k8sClient.Scheme())
	g.Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(obj), u)).To(Succeed())
	grace, found, err := unstructured.NestedInt64(u.Object, append(path, "expiry", "graceSeconds")...)
	g.Expect(err).NotTo(HaveOccurred())
	if !found {
		return -1
	}
	return grace
}

// cacheCaughtUp waits until the manager's cache holds the tenant as the API
// server does, so that a pass through it starts from the stored status.
func cacheCaughtUp(t *testing.T, tenant *saasv1alpha1.SaaSTenant) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		stored, cached := &saasv1alpha1.SaaSTenant{}, &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
		g.Expect(cachedClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), cached)).To(Succeed())
		g.Expect(cached.ResourceVersion).To(Equal(stored.ResourceVersion))
	}).Should(Succeed())
}
