package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestTheRolloutForgetsTheCountsPaceOfADeletedProduct: the time of the
// last counts write is kept per product to pace the next; a product that
// is gone has no next, and its entry would stay for the life of the
// process, one per product ever deleted.
func TestTheRolloutForgetsTheCountsPaceOfADeletedProduct(t *testing.T) {
	g := NewWithT(t)
	r := &RolloutReconciler{Client: k8sClient}
	r.countsSent("a-product-never-made")
	r.countsSent("another-product")

	_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: "a-product-never-made"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.countsWritten).NotTo(HaveKey("a-product-never-made"))
	g.Expect(r.countsWritten).To(HaveKey("another-product"), "only the product that is gone is forgotten")
}
