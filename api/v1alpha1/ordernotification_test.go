package v1alpha1_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func validNotification(name string) *saasv1alpha1.OrderNotification {
	return &saasv1alpha1.OrderNotification{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.OrderNotificationSpec{ProductName: "crm", OrderID: "CS2211181819B4LVS",
			OrderLineID: "CS2211181819B4LVS-000001", Mode: saasv1alpha1.ModeProduction,
			ReceivedTime: metav1.NewTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))},
	}
}

// TestOrderNotificationSchema: the bounds and rules of the kind, on a real
// API server.
func TestOrderNotificationSchema(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*saasv1alpha1.OrderNotification)
		refusal string
	}{
		{"name over 63", func(n *saasv1alpha1.OrderNotification) { n.Name = "n-" + strings.Repeat("a", 62) }, "metadata.name must be at most 63 characters"},
		{"no orderId", func(n *saasv1alpha1.OrderNotification) { n.Spec.OrderID = "" }, "spec.orderId"},
		{"orderId over 64", func(n *saasv1alpha1.OrderNotification) { n.Spec.OrderID = strings.Repeat("o", 65) }, "spec.orderId: Too long: may not be more than 64"},
		{"orderLineId over 64", func(n *saasv1alpha1.OrderNotification) { n.Spec.OrderLineID = strings.Repeat("o", 65) }, "spec.orderLineId: Too long: may not be more than 64"},
		{"productName over 63", func(n *saasv1alpha1.OrderNotification) { n.Spec.ProductName = strings.Repeat("p", 64) }, "spec.productName: Too long: may not be more than 63"},
		{"unknown mode", func(n *saasv1alpha1.OrderNotification) { n.Spec.Mode = "Test" }, "spec.mode: Unsupported value"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			n := validNotification("n-schema-" + string(rune('a'+i)))
			tt.mutate(n)
			err := k8sClient.Create(ctx(t), n)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tt.refusal))
		})
	}

	t.Run("valid, and its spec is immutable", func(t *testing.T) {
		g := NewWithT(t)
		n := validNotification("n-schema-immutable")
		g.Expect(k8sClient.Create(ctx(t), n)).To(Succeed())
		t.Cleanup(func() { _ = k8sClient.Delete(ctx(t), n) })
		n.Spec.OrderLineID = "CS2211181819B4LVS-000002"
		err := k8sClient.Update(ctx(t), n)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		g.Expect(err.Error()).To(ContainSubstring("an order notification is immutable"))
	})

	t.Run("status bounds: at most 10 recent notifications in a product's summary", func(t *testing.T) {
		g := NewWithT(t)
		p := validProduct()
		p.Name = "product-notified-bounds"
		g.Expect(k8sClient.Create(ctx(t), p)).To(Succeed())
		t.Cleanup(func() { _ = k8sClient.Delete(ctx(t), p) })
		summary := &saasv1alpha1.OrderNotificationsSummary{Total: 11}
		for range 11 {
			summary.Recent = append(summary.Recent, saasv1alpha1.OrderNotificationEntry{OrderID: "o", OrderLineID: "l", ReceivedTime: metav1.Now()})
		}
		p.Status.OrderNotifications = summary
		err := k8sClient.Status().Update(ctx(t), p)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		g.Expect(err.Error()).To(ContainSubstring("status.orderNotifications.recent: Too many"))
	})
}
