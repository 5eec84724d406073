package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// DefaultOrderNotificationRetention is how long an OrderNotification is
// kept after Query Order resolved it, or after it was received when Query
// Order never could.
const DefaultOrderNotificationRetention = 7 * 24 * time.Hour

// Bounds of a product's status.orderNotifications.
const (
	maxRecentNotifications = 10
	maxOrderTypes          = 16
	otherOrderType         = "Other"
)

// OrderNotificationReconciler resolves each orderNotify record with Query
// Order (spec §3.9), keeps a bounded summary of its product's records in the
// product's status, and deletes each record its retention after it was
// resolved (or received, if it never was).
type OrderNotificationReconciler struct {
	client.Client
	// Reader reads the products' keys Secrets.
	Reader   client.Reader
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Orders   OrderClientFactory
	// SecretNamespace holds the products' keys Secrets.
	SecretNamespace string
	// Retention is how long a record is kept; zero is the default.
	Retention time.Duration

	resolved resolvedOrders
}

// +kubebuilder:rbac:groups=saas.kooper.io,resources=ordernotifications,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=saas.kooper.io,resources=ordernotifications/status,verbs=patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts/status,verbs=patch

// Reconcile resolves the notification, summarises its product and deletes
// the notification once its retention is over.
func (r *OrderNotificationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	n := &saasv1alpha1.OrderNotification{}
	if err := r.Get(ctx, req.NamespacedName, n); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !n.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	if deleteAt := r.deleteAt(n); !now.Before(deleteAt) {
		return ctrl.Result{}, r.expire(ctx, n)
	}
	product, err := r.product(ctx, n.Spec.ProductName)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := n.DeepCopy()
	resolveErr := r.resolve(ctx, n, product, now)
	written, statusErr := patchStatusIfChanged(ctx, r.Client, before, n, before.Status, n.Status)
	if written && product != nil && resolvedNow(before, n) {
		r.Recorder.Eventf(product, n, corev1.EventTypeNormal, saasv1alpha1.OrderNotifiedReason, "Resolve",
			"orderNotify for order %s resolved: order type %s, SKU %s", n.Spec.OrderID, n.Status.Order.OrderType, n.Status.Order.SKUCode)
	}
	if statusErr == nil {
		statusErr = r.summarise(ctx, product, n, "")
	}
	if resolveErr == nil && statusErr == nil {
		return ctrl.Result{RequeueAfter: timeUntil(now, r.deleteAt(n))}, nil
	}
	err = finishReconcile(ctx, &result, resolveErr, statusErr)
	return result, err
}

// product is the notification's SaaSProduct, read through the cache; nil
// when there is none.
func (r *OrderNotificationReconciler) product(ctx context.Context, name string) (*saasv1alpha1.SaaSProduct, error) {
	product := &saasv1alpha1.SaaSProduct{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, product); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return product, nil
}

// deleteAt is when the notification's retention ends.
func (r *OrderNotificationReconciler) deleteAt(n *saasv1alpha1.OrderNotification) time.Time {
	retention := r.Retention
	if retention <= 0 {
		retention = DefaultOrderNotificationRetention
	}
	if n.Status.ResolvedTime != nil {
		return n.Status.ResolvedTime.Add(retention)
	}
	return n.Spec.ReceivedTime.Add(retention)
}

// resolve reads the order line with Query Order, unless it is resolved.
// A failure sets OrderResolved=False and is retried with the backoff the
// tenant controller uses (orders.RecordFailure).
func (r *OrderNotificationReconciler) resolve(ctx context.Context, n *saasv1alpha1.OrderNotification, product *saasv1alpha1.SaaSProduct, now time.Time) error {
	if n.Status.ResolvedTime != nil {
		return nil
	}
	if product == nil {
		msg := fmt.Sprintf("SaaSProduct %q not found", n.Spec.ProductName)
		setCondition(n, saasv1alpha1.OrderResolvedCondition, metav1.ConditionFalse, saasv1alpha1.ProductNotFoundReason, msg)
		return &retryAfterError{err: errors.New(msg), after: time.Minute}
	}
	resolver := orderResolver{reader: r.Reader, orders: r.Orders, namespace: r.SecretNamespace, memo: &r.resolved}
	order, err := resolver.resolve(ctx, product, &saasv1alpha1.AppliedOrder{OrderID: n.Spec.OrderID, OrderLineID: n.Spec.OrderLineID})
	if err != nil {
		return recordOrderFailure(&n.Status.Conditions, n.Generation, now, err)
	}
	// The buyer's account stays out of the record: a summary of orders
	// needs none of it (docs/personal-data.md).
	order.CustomerID, order.CustomerName = "", ""
	n.Status.Order = order
	resolvedTime := metav1.NewTime(now)
	n.Status.ResolvedTime = &resolvedTime
	setCondition(n, saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
		fmt.Sprintf("Query Order described order %s: order type %s, SKU %s", n.Spec.OrderID, order.OrderType, order.SKUCode))
	return nil
}

func resolvedNow(before, after *saasv1alpha1.OrderNotification) bool {
	return before.Status.ResolvedTime == nil && after.Status.ResolvedTime != nil && after.Status.Order != nil
}

// expire deletes a notification whose retention is over, and takes it out
// of its product's summary.
func (r *OrderNotificationReconciler) expire(ctx context.Context, n *saasv1alpha1.OrderNotification) error {
	product, err := r.product(ctx, n.Spec.ProductName)
	if err != nil {
		return err
	}
	if n.Status.ResolvedTime == nil && product != nil {
		r.Recorder.Eventf(product, n, corev1.EventTypeWarning, saasv1alpha1.OrderNotificationUnresolvedReason, "Expire",
			"orderNotify for order %s was never resolved by Query Order and is deleted after its retention", n.Spec.OrderID)
	}
	ctrl.LoggerFrom(ctx).Info("Deleting an order notification after its retention", "OrderNotification", n.Name)
	if err := r.Delete(ctx, n, client.Preconditions{UID: &n.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("failed to delete the order notification: %w", err)
	}
	return r.summarise(ctx, product, nil, n.Name)
}

// summarise writes product's status.orderNotifications (nothing for a nil
// product) from the records in the cache, with current standing in for its
// cached copy (which may be older) and gone left out (the cache may still
// hold it). The write carries the product's resourceVersion: a Conflict
// reruns the reconcile.
func (r *OrderNotificationReconciler) summarise(ctx context.Context, product *saasv1alpha1.SaaSProduct, current *saasv1alpha1.OrderNotification, gone string) error {
	if product == nil {
		return nil
	}
	productName := product.Name
	list := &saasv1alpha1.OrderNotificationList{}
	if err := r.List(ctx, list, client.MatchingLabels{saasv1alpha1.ProductLabel: productName}); err != nil {
		return fmt.Errorf("failed to list the order notifications: %w", err)
	}
	items := make([]saasv1alpha1.OrderNotification, 0, len(list.Items)+1)
	for _, item := range list.Items {
		if item.Name != gone && (current == nil || item.Name != current.Name) && item.Spec.ProductName == productName {
			items = append(items, item)
		}
	}
	if current != nil {
		items = append(items, *current)
	}
	after := product.DeepCopy()
	after.Status.OrderNotifications = summarise(oncePerOrderLine(items))
	_, err := patchStatusIfChanged(ctx, r.Client, product, after, product.Status, after.Status)
	return err
}

// oncePerOrderLine keeps one record of each order line, the first received
// (a resolved one before an unresolved one). A product has two records of
// one order line only when a notification received before the product was
// part of the record's name (webhook.OrderNotificationName) was repeated
// after the upgrade that added it.
func oncePerOrderLine(items []saasv1alpha1.OrderNotification) []saasv1alpha1.OrderNotification {
	type orderLine struct{ orderID, orderLineID string }
	kept := map[orderLine]int{}
	out := items[:0:0]
	for _, n := range items {
		line := orderLine{n.Spec.OrderID, n.Spec.OrderLineID}
		i, seen := kept[line]
		switch {
		case !seen:
			kept[line] = len(out)
			out = append(out, n)
		case out[i].Status.Order == nil && n.Status.Order != nil,
			(out[i].Status.Order == nil) == (n.Status.Order == nil) && n.Spec.ReceivedTime.Before(&out[i].Spec.ReceivedTime):
			out[i] = n
		}
	}
	return out
}

// summarise is the bounded summary of a product's notifications: counts,
// counts by order type (16 types, the rest as Other) and the 10 newest.
func summarise(items []saasv1alpha1.OrderNotification) *saasv1alpha1.OrderNotificationsSummary {
	if len(items) == 0 {
		return nil
	}
	s := &saasv1alpha1.OrderNotificationsSummary{Total: int32(min(len(items), 1<<30))}
	counts := map[string]int32{}
	for _, n := range items {
		if n.Status.Order == nil {
			s.Unresolved++
			continue
		}
		orderType := n.Status.Order.OrderType
		if orderType == "" {
			orderType = otherOrderType
		}
		counts[orderType]++
	}
	for orderType, count := range counts {
		s.ByOrderType = append(s.ByOrderType, saasv1alpha1.OrderTypeCount{OrderType: orderType, Count: count})
	}
	// The most frequent types keep their own rows; the rest fold into Other.
	slices.SortFunc(s.ByOrderType, func(a, b saasv1alpha1.OrderTypeCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.OrderType, b.OrderType)
	})
	if len(s.ByOrderType) > maxOrderTypes {
		kept, other := s.ByOrderType[:0], int32(0)
		for _, c := range s.ByOrderType {
			if len(kept) < maxOrderTypes && c.OrderType != otherOrderType {
				kept = append(kept, c)
			} else {
				other += c.Count
			}
		}
		kept = append(kept, saasv1alpha1.OrderTypeCount{OrderType: otherOrderType, Count: other})
		s.ByOrderType = kept
	}
	slices.SortFunc(s.ByOrderType, func(a, b saasv1alpha1.OrderTypeCount) int { return strings.Compare(a.OrderType, b.OrderType) })

	slices.SortFunc(items, func(a, b saasv1alpha1.OrderNotification) int {
		if c := b.Spec.ReceivedTime.Compare(a.Spec.ReceivedTime.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, n := range items[:min(len(items), maxRecentNotifications)] {
		entry := saasv1alpha1.OrderNotificationEntry{OrderID: n.Spec.OrderID, OrderLineID: n.Spec.OrderLineID, ReceivedTime: n.Spec.ReceivedTime}
		if n.Status.Order != nil {
			entry.OrderType, entry.SKUCode = n.Status.Order.OrderType, n.Status.Order.SKUCode
		}
		s.Recent = append(s.Recent, entry)
	}
	return s
}

// SetupWithManager watches OrderNotifications: their creation and
// deletion, and changes to their spec (generation), labels (which product's
// summary lists them) or annotations (which an operator or a test may touch
// to have one reconciled now). A status write is left out: the reconcile
// only reads back the status it wrote itself, and it already asks for the
// next run (RequeueAfter). Were its writes to requeue it, a failure whose
// message changes on each attempt would rerun it at once, over and over,
// instead of after the paced wait of orders.RecordFailure.
func (r *OrderNotificationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.OrderNotification{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Named("ordernotification").
		Complete(r)
}
