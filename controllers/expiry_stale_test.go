package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestTheExpirySafetyNetFreezesOnlyOnTheStoredProduct: during a
// marketplace outage the merchant lengthened the grace period, or turned
// the safety net off, and the cache has not delivered it yet when the old
// deadline passes. The safety net, which would scale a buyer's workload to
// zero on kooper's own word, decides on the expiry policy as the API server
// holds the product: nothing is frozen, and a longer grace period brings
// the pass back at its end.
func TestTheExpirySafetyNetFreezesOnlyOnTheStoredProduct(t *testing.T) {
	const threeDays = 3 * 24 * time.Hour
	for _, tc := range []struct {
		name   string
		change func(*saasv1alpha1.ExpiryPolicy)
		// deadline is the new end of the grace period, after expiry; 0: none.
		deadline time.Duration
	}{
		{"the grace period lengthened", func(e *saasv1alpha1.ExpiryPolicy) { e.GraceSeconds = ptr.To(int32(threeDays / time.Second)) }, threeDays},
		{"the safety net turned off", func(e *saasv1alpha1.ExpiryPolicy) { e.Action = saasv1alpha1.ExpiryNone }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product, tenant, expiry := expiringTenant(t)
			stale := &saasv1alpha1.SaaSProduct{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), stale)).To(Succeed())
			storeProductChange(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { tc.change(&p.Spec.Lifecycle.Expiry) })
			want := stale.Spec.Lifecycle.Expiry.DeepCopy()
			tc.change(want)
			// The manager's own controller, not due on its clock, records the
			// new policy: a status write that would race the pass below.
			eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
				g.Expect(tn.Status.Lifecycle).NotTo(BeNil())
				g.Expect(tn.Status.Lifecycle.Expiry).To(Equal(*want))
			})

			writes := &workloadWrites{Client: testenv.CacheBehind{Client: k8sClient, Old: stale}}
			r := tenantReconcilerLikeSetup(t, writes)
			now := expiry.Add(2 * time.Hour) // past the expiry and the grace period the cache shows
			r.Clock = clocktesting.NewFakeClock(now)
			result, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tenant)})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(writes.names).To(BeEmpty(), "the buyer's workload was not scaled to zero, not even for a moment")
			g.Expect(deploymentReplicas(t, "tenant-"+tenant.Name)()).To(Equal(int32(3)))

			stored := &saasv1alpha1.SaaSTenant{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
			g.Expect(apimeta.IsStatusConditionTrue(stored.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeFalse(), "not frozen")
			g.Expect(stored.Status.Lifecycle).NotTo(BeNil())
			if tc.deadline > 0 {
				g.Expect(apimeta.IsStatusConditionTrue(stored.Status.Conditions, saasv1alpha1.ExpiredCondition)).To(BeFalse(), "still in its grace period")
				g.Expect(result.RequeueAfter).To(Equal(expiry.Add(tc.deadline).Sub(now)), "again at the end of the new grace period")
				g.Expect(stored.Status.Lifecycle.Expiry.GraceSeconds).To(HaveValue(Equal(int32(threeDays/time.Second))), "the stored policy is the one recorded")
			}
		})
	}
}
