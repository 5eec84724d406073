package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestRemovingTheTenantFinalizerFromAStaleReadIsAConflict: the tenant
// controller read a tenant being deleted while it still held the metering
// finalizer; during the release (seconds) the metering controller let go
// of its own. A merge patch without a lock sent the whole list read before,
// the metering finalizer with it, which the API server refuses on an object
// being deleted (422, "no new finalizers can be added"): an error logged
// and a teardown run again with backoff. With the lock it is a Conflict,
// which the controller retries quietly from the newer tenant. It runs on a
// control plane of its own, where no tenant controller removes the
// finalizer itself meanwhile.
func TestRemovingTheTenantFinalizerFromAStaleReadIsAConflict(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	env := ownControlPlane(t)
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: "i-stale", Finalizers: []string{saasv1alpha1.Finalizer, saasv1alpha1.MeteringFinalizer}},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-stale", ProductName: "crm", OrderID: "CS1", OrderLineID: "CS1-000001",
			Orders: []saasv1alpha1.AppliedOrder{{OrderID: "CS1", OrderLineID: "CS1-000001",
				Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: metav1.Now()}}},
	}
	g.Expect(c.Create(ctx, tenant)).To(Succeed())
	g.Expect(c.Delete(ctx, tenant)).To(Succeed())
	stale := &saasv1alpha1.SaaSTenant{}
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(tenant), stale)).To(Succeed())

	// The metering controller lets go of its finalizer meanwhile.
	live := stale.DeepCopy()
	patch := client.MergeFromWithOptions(live.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(live, saasv1alpha1.MeteringFinalizer)
	g.Expect(c.Patch(ctx, live, patch)).To(Succeed())

	r := &SaaSTenantReconciler{Client: c}
	err = r.removeFinalizer(ctx, stale)
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "a conflict, retried quietly; got %v", err)
	g.Expect(r.removeFinalizer(ctx, live)).To(Succeed(), "from the newer tenant")
	g.Eventually(func() bool {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue(), "no finalizer left: the tenant goes")
}
