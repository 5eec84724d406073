package e2e

import (
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/webhook"
)

// testOrderNotify sends an orderNotify (spec §3.9) through the simulator
// twice: both are answered 000000 (the simulator fails otherwise), one
// record is made, the controllers resolve it with the simulator's Query
// Order, and the product's status summarises it. The receiver, which made
// the record, may not read it.
func testOrderNotify(t *testing.T, e *env) {
	g := NewWithT(t)
	order := orderID("notify")
	for range 2 {
		out, err := e.stack.Sim(e.ctx, "order-notify", "--sim-url", e.stack.SimURL, "--order-id", order,
			"--order-type", "RENEW", "--sku", proSKU)
		g.Expect(err).NotTo(HaveOccurred(), out)
	}
	name := webhook.OrderNotificationName(localstack.Product, order, order+"-000001")
	g.Eventually(func(g Gomega) {
		n := &saasv1alpha1.OrderNotification{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
		g.Expect(apimeta.IsStatusConditionTrue(n.Status.Conditions, saasv1alpha1.OrderResolvedCondition)).To(BeTrue())
		g.Expect(n.Status.Order).NotTo(BeNil())
		g.Expect(n.Status.Order.OrderType).To(Equal("RENEW"))
		g.Expect(n.Status.Order.SKUCode).To(Equal(proSKU))

		product := &saasv1alpha1.SaaSProduct{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Product}, product)).To(Succeed())
		s := product.Status.OrderNotifications
		g.Expect(s).NotTo(BeNil())
		g.Expect(s.Recent).To(ContainElement(And(HaveField("OrderID", order), HaveField("OrderType", "RENEW"))))
		g.Expect(s.ByOrderType).To(ContainElement(HaveField("OrderType", "RENEW")))
	}).Should(Succeed())

	list := &saasv1alpha1.OrderNotificationList{}
	g.Expect(e.stack.Client.List(e.ctx, list, client.MatchingLabels{saasv1alpha1.ProductLabel: localstack.Product})).To(Succeed())
	same := 0
	for _, n := range list.Items {
		if n.Spec.OrderID == order {
			same++
		}
	}
	g.Expect(same).To(Equal(1), "a repeated notification makes no second record")

	err := clientAs(g, e, localstack.Receiver).Get(e.ctx, client.ObjectKey{Name: name}, &saasv1alpha1.OrderNotification{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the receiver read an OrderNotification: %v", err)
}
