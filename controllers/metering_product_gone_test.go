package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/metering"
)

// TestTheOldestUnpushedGaugeForgetsATenantWhoseProductIsGone: a metered
// tenant holds unpushed hours when its product is deleted from under it
// (the in-use finalizer removed by hand). kooper lets the tenant go and
// keeps its record as it was, so that the hours are pushed should the
// product come back. Before, kooper_usage_oldest_unpushed_window_age_seconds
// went on counting that record, growing for ever: the critical
// KooperUsagePushBehind alert fired for usage no one would push, and hid
// the real backlog of another product. Now the gauge leaves out the tenant
// kooper let go, still counts a tenant whose product is there, and counts
// the first one again once its product is back and kooper holds it again.
func TestTheOldestUnpushedGaugeForgetsATenantWhoseProductIsGone(t *testing.T) {
	g := NewWithT(t)
	h := hourAgo(5)
	orphan := newMeteredTenant(t, threeMeters[:1])
	backlogged := newMeteredTenant(t, threeMeters[:1])
	recorder := events.NewFakeRecorder(10)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	r.Recorder = recorder
	for _, name := range []string{orphan.Name, backlogged.Name} {
		_, err := meterAt(t, r, h.Add(10*time.Minute), name)
		g.Expect(err).NotTo(HaveOccurred(), "metering starts at h+10m")
	}

	product := deleteProductByHand(t, orphan.Spec.ProductName)
	now := h.Add(2*time.Hour + 10*time.Minute)
	_, err := meterAt(t, r, now, orphan.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recorder.Events).To(Receive(And(ContainSubstring(saasv1alpha1.UsageAbandonedReason),
		ContainSubstring("Usage from "+h.Add(10*time.Minute).Format(time.RFC3339)), ContainSubstring("is gone"))))
	letGo := eventuallyTenant(t, orphan.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).NotTo(ContainElement(saasv1alpha1.MeteringFinalizer))
	})
	g.Expect(metering.HoldsUnpushed(letGo.Status.Metering)).To(BeTrue(), "the record is kept as it was, for the product's return")
	g.Expect(metering.OldestUnpushedAge([]*saasv1alpha1.SaaSTenant{letGo}, now)).To(BeZero(),
		"no one pushes the hours of a tenant let go: they hold no alert")

	held := eventuallyTenant(t, backlogged.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer))
	})
	g.Expect(metering.OldestUnpushedAge([]*saasv1alpha1.SaaSTenant{letGo, held}, now)).To(Equal(now.Sub(h.Add(time.Hour))),
		"a tenant whose product is there still counts: its first window, [h+10m, h+1h), is unpushed")

	// The product comes back: kooper holds the tenant again and pushes
	// the hours it kept, from where it stopped.
	recreated := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: product.Name, Labels: product.Labels, Annotations: product.Annotations},
		Spec:       product.Spec,
	}
	g.Expect(k8sClient.Create(testContext(t), recreated)).To(Succeed())
	_, err = meterAt(t, r, h.Add(3*time.Hour+5*time.Minute), orphan.Name)
	g.Expect(err).NotTo(HaveOccurred())
	heldAgain := eventuallyTenant(t, orphan.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer), "held again for its usage")
	})
	g.Expect(heldAgain.Status.Metering.PushedUntil.Time).To(BeTemporally("==", h.Add(3*time.Hour)), "the kept hours are pushed")
	g.Expect(pushedValues(orphan.Name, threeMeters[:1])).To(HaveKeyWithValue(h.Add(10*time.Minute).Format("1504")+" duration", "0.8333"),
		"the first hour, measured before the product went, is billed")
}

// deleteProductByHand deletes the product named name from under its
// tenants, removing the in-use finalizer that holds it, and returns it as
// it was stored, to be created again.
func deleteProductByHand(t *testing.T, name string) *saasv1alpha1.SaaSProduct {
	t.Helper()
	g := NewWithT(t)
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, product)).To(Succeed())
	stored := product.DeepCopy()
	g.Expect(k8sClient.Delete(testContext(t), product)).To(Succeed())
	g.Eventually(func() error {
		held := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, held); err != nil {
			return client.IgnoreNotFound(err)
		}
		patch := client.MergeFrom(held.DeepCopy())
		held.Finalizers = nil
		return k8sClient.Patch(testContext(t), held, patch)
	}).Should(Succeed())
	eventuallyGone(t, k8sClient, product, "the product is gone")
	return stored
}
