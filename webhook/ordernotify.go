package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// +kubebuilder:rbac:groups=saas.kooper.io,resources=ordernotifications,verbs=create

// orderNotify records one order notification (spec §3.9) and answers
// 000000 once the record is created; the order notification controller
// reads the order with Query Order. The record's name is derived from the
// product and the order line, so a repeat, or a concurrent copy on another
// replica, hits AlreadyExists and is answered 000000 too, while the same
// order line notified to two products (the debugging tool's mock orders,
// spec §1.9) is recorded for each. The receiver only creates these
// records: it never reads, changes or deletes one.
func (r *Receiver) orderNotify(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.OrderNotifyRequest)
	c.orderID = req.OrderID
	if err := r.client.Create(ctx, r.orderNotification(c, req)); err != nil && !apierrors.IsAlreadyExists(err) {
		return reply{}, errInternal("the order notification could not be stored", err)
	}
	return reply{}, nil
}

// orderNotification is the record of one notification.
func (r *Receiver) orderNotification(c *call, req *koogallery.OrderNotifyRequest) *saasv1alpha1.OrderNotification {
	mode := saasv1alpha1.ModeProduction
	if koogallery.IsDebug(req.TestFlag) {
		mode = saasv1alpha1.ModeDebug
	}
	return &saasv1alpha1.OrderNotification{
		ObjectMeta: metav1.ObjectMeta{
			Name: OrderNotificationName(c.product.Name, req.OrderID, req.OrderLineID),
			Labels: map[string]string{
				saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
				saasv1alpha1.ProductLabel:   c.product.Name,
			},
		},
		Spec: saasv1alpha1.OrderNotificationSpec{ProductName: c.product.Name, OrderID: req.OrderID,
			OrderLineID: req.OrderLineID, Mode: mode, ReceivedTime: r.now()},
	}
}

// OrderNotificationName names the record of an order line's notification
// to product: "n-" and 20 hex digits of SHA-256 over the product's name,
// orderId and orderLineId (docs/naming.md). Records made before the product
// was part of the name were named over orderId and orderLineId alone; a
// repeat of one of those after an upgrade makes a second record, which the
// product's summary counts once.
func OrderNotificationName(product, orderID, orderLineID string) string {
	return "n-" + shortHash(product, orderID, orderLineID)
}
