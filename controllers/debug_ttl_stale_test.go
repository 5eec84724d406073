package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// debugTenantDueIn makes a debug tenant of a product whose debug TTL is an
// hour, and returns it provisioned, with its product as stored then. The
// manager's own controller, on the suite's clock, is not due: it only
// requeues, so it races none of the passes a test makes by hand.
func debugTenantDueIn(t *testing.T) (*saasv1alpha1.SaaSProduct, *saasv1alpha1.SaaSTenant) {
	t.Helper()
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Debug = &saasv1alpha1.DebugPolicy{TTLSeconds: ptr.To[int32](3600), SKUCode: "basic"}
	})
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.Mode = saasv1alpha1.ModeDebug })
	debug := eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(fakeClock.Now()).To(BeTemporally("<", debug.CreationTimestamp.Add(time.Hour)),
		"the manager's own controller must not be due")
	stored := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), stored)).To(Succeed())
	return stored, debug
}

// storeProductChange changes a product as the merchant would, in the API
// server.
func storeProductChange(t *testing.T, name string, change func(*saasv1alpha1.SaaSProduct)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		p := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, p); err != nil {
			return err
		}
		change(p)
		return k8sClient.Update(testContext(t), p)
	}).Should(Succeed())
}

// expectDebugTenantKept checks that the tenant is neither marked for the
// debug TTL's deletion, which takes its data, nor deleted.
func expectDebugTenantKept(t *testing.T, name string) {
	t.Helper()
	g := NewWithT(t)
	stored := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, stored)).To(Succeed(), "the debug tenant is not gone")
	g.Expect(stored.DeletionTimestamp).To(BeNil(), "the debug tenant is not deleted")
	g.Expect(stored.Annotations).NotTo(HaveKey(saasv1alpha1.DebugTTLExpiredAnnotation), "the debug tenant is not marked to go with its data")
}

// TestTheDebugTTLDeletesOnlyOnTheStoredProduct: the merchant raised or
// removed the debug TTL to keep a debug tenant, and the cache has not
// delivered it yet when the old deadline passes. The deletion, which takes
// the data and leaves a tombstone, is decided on the product as the API
// server holds it: the tenant stays, and the pass comes back at the new
// deadline.
func TestTheDebugTTLDeletesOnlyOnTheStoredProduct(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  *int32 // the stored product's
	}{
		{"the TTL raised to three hours", ptr.To[int32](3 * 3600)},
		{"the TTL removed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			stale, tenant := debugTenantDueIn(t)
			storeProductChange(t, stale.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Debug.TTLSeconds = tc.ttl })

			r := tenantReconcilerLikeSetup(t, testenv.CacheBehind{Client: k8sClient, Old: stale})
			created := tenant.CreationTimestamp.Time
			now := created.Add(2 * time.Hour) // past the hour the cache shows
			r.Clock = clocktesting.NewFakeClock(now)
			result, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tenant)})
			g.Expect(err).NotTo(HaveOccurred())

			expectDebugTenantKept(t, tenant.Name)
			if tc.ttl != nil {
				g.Expect(result.RequeueAfter).To(Equal(created.Add(3*time.Hour).Sub(now)), "again at the new deadline")
			}
		})
	}
}

// TestTheDebugTTLDeletesOnlyTheTenantItDecidedOn: the mark, which makes the
// deletion take the data, and the deletion are written only in the
// tenant's version the pass decided on: a cache behind the tenant fails
// them with a Conflict, and the pass runs again soon, without an error.
func TestTheDebugTTLDeletesOnlyTheTenantItDecidedOn(t *testing.T) {
	g := NewWithT(t)
	_, stale := debugTenantDueIn(t)
	poke(t, stale.DeepCopy()) // a newer version the cache has not delivered

	r := tenantReconcilerLikeSetup(t, testenv.CacheBehind{Client: k8sClient, Old: stale})
	r.Clock = clocktesting.NewFakeClock(stale.CreationTimestamp.Add(2 * time.Hour)) // due
	result, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(stale)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.RequeueAfter).To(Equal(conflictRequeueDelay), "again once the cache caught up")
	expectDebugTenantKept(t, stale.Name)
}

// TestADebugTTLMarkWhoseTimeIsNotUpIsTakenBack: a pass marked a debug
// tenant and its deletion failed; then the merchant raised the TTL. The
// mark, which makes any deletion of the tenant take its data, goes: the
// tenant's time is not up.
func TestADebugTTLMarkWhoseTimeIsNotUpIsTakenBack(t *testing.T) {
	g := NewWithT(t)
	_, tenant := debugTenantDueIn(t)
	patch := []byte(`{"metadata":{"annotations":{"` + saasv1alpha1.DebugTTLExpiredAnnotation + `":"2026-01-01T00:00:00Z"}}}`)
	g.Expect(k8sClient.Patch(testContext(t), tenant, client.RawPatch(types.MergePatchType, patch))).To(Succeed())

	g.Eventually(func(g Gomega) {
		stored := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
		g.Expect(stored.Annotations).NotTo(HaveKey(saasv1alpha1.DebugTTLExpiredAnnotation))
	}).Should(Succeed())
	expectDebugTenantKept(t, tenant.Name)
}
