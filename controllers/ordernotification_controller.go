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
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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

// Reconcile resolves the notification and deletes it once its retention is
// over. Its product's summary is written by the summary controller
// (orderSummaryReconciler), which the record's events reach.
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

// expire deletes a notification whose retention is over; its deletion's
// event takes it out of its product's summary.
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
	return nil
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
// instead of after the paced wait of orders.RecordFailure. It registers the
// summary controller too (orderSummaryReconciler).
func (r *OrderNotificationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.OrderNotification{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Named("ordernotification").
		WithOptions(controller.Options{RateLimiter: newRetryRateLimiter()}).
		Complete(r)
	if err != nil {
		return err
	}
	return (&orderSummaryReconciler{Client: r.Client}).SetupWithManager(mgr)
}

// notificationProductIndex indexes OrderNotifications by the product whose
// summary lists them (summarisedUnder), so that a summary reads its own
// product's records and no other's.
const notificationProductIndex = "ordernotification.summarisedUnder"

// summarisedUnder names the product whose summary lists n: the one both its
// spec.productName and its product label name; "" when they differ (a
// record the receiver did not make: no summary lists it).
func summarisedUnder(n *saasv1alpha1.OrderNotification) string {
	if n.Labels[saasv1alpha1.ProductLabel] != n.Spec.ProductName {
		return ""
	}
	return n.Spec.ProductName
}

func indexNotificationsByProduct(mgr ctrl.Manager) error {
	return indexOnce(mgr, &saasv1alpha1.OrderNotification{}, notificationProductIndex, notificationProductKeys)
}

// notificationProductKeys are an OrderNotification's notificationProductIndex
// values: the product that lists it, or none.
func notificationProductKeys(obj client.Object) []string {
	if product := summarisedUnder(obj.(*saasv1alpha1.OrderNotification)); product != "" {
		return []string{product}
	}
	return nil
}

// orderSummaryDelay is how long after an OrderNotification's event its
// product's summary is written; the events of every record of the product
// within it share that one summary. Each summary reads every record of the
// product, so a summary per event cost the controller work in the square
// of the records: a restart queues every record at once, and 10,000 of
// them took minutes of CPU. The summary is a report for people; a second
// late is nothing to it.
const orderSummaryDelay = time.Second

// orderSummaryReconciler writes a product's status.orderNotifications (the
// request names the product) from its records in the cache: counts by order
// type and the ten newest (summarise), each order line once
// (oncePerOrderLine). It is queued orderSummaryDelay after an event of one
// of the product's records, and when the product is created (its records
// may be older). The write carries the product's resourceVersion: a
// Conflict reruns it.
type orderSummaryReconciler struct {
	client.Client
}

// Reconcile summarises the product's records; nothing for a product that
// does not exist.
func (s *orderSummaryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	product := &saasv1alpha1.SaaSProduct{}
	if err := s.Get(ctx, req.NamespacedName, product); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Read only: the records are the cache's own, not copies. The list's
	// items are copies of the structs, which summarise may reorder.
	list := &saasv1alpha1.OrderNotificationList{}
	if err := s.List(ctx, list, client.MatchingFields{notificationProductIndex: product.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("failed to list the order notifications: %w", err)
	}
	after := product.DeepCopy()
	after.Status.OrderNotifications = summarise(oncePerOrderLine(list.Items))
	_, statusErr := patchStatusIfChanged(ctx, s.Client, product, after, product.Status, after.Status)
	var result ctrl.Result
	err := foldStatusError(&result, nil, statusErr) // a Conflict reruns it, with no error logged
	return result, err
}

// SetupWithManager registers the summary controller: products on their
// creation, and OrderNotifications' events that change what a summary
// shows (summaryInputChanged), orderSummaryDelay later (summaryAfter).
func (s *orderSummaryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexNotificationsByProduct(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.SaaSProduct{}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc:  func(event.UpdateEvent) bool { return false },
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		Watches(&saasv1alpha1.OrderNotification{}, summaryAfter(orderSummaryDelay), builder.WithPredicates(summaryInputChanged)).
		Named("ordernotification-summary").
		WithOptions(controller.Options{RateLimiter: newRetryRateLimiter()}).
		Complete(s)
}

// summaryAfter is an event handler that queues, delay after an
// OrderNotification's event, the summary of the product that lists it, and
// on an update the one that listed it before, if another. A queue keeps an
// item's earliest time, so the events of the delay share one summary.
func summaryAfter(delay time.Duration) handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
		for _, obj := range objs {
			n, ok := obj.(*saasv1alpha1.OrderNotification)
			if !ok {
				continue
			}
			if product := summarisedUnder(n); product != "" {
				q.AddAfter(reconcile.Request{NamespacedName: client.ObjectKey{Name: product}}, delay)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.ObjectOld, e.ObjectNew)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object)
		},
		GenericFunc: func(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object)
		},
	}
}

// summaryInputChanged passes every creation and deletion, and an update
// that changes what a summary shows of the record: the product that lists
// it, its order line, when it was received, and what Query Order said
// (resolved or not, order type, SKU). The resolution's condition messages,
// retried every few seconds while Query Order fails, change none of it.
var summaryInputChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*saasv1alpha1.OrderNotification)
		n, okNew := e.ObjectNew.(*saasv1alpha1.OrderNotification)
		return !okOld || !okNew || summaryInput(o) != summaryInput(n)
	},
}

// summaryFields is what summarise and oncePerOrderLine read of a record.
type summaryFields struct {
	product, orderID, orderLineID string
	receivedTime                  int64 // Unix nanoseconds
	resolved                      bool
	orderType, skuCode            string
}

func summaryInput(n *saasv1alpha1.OrderNotification) summaryFields {
	f := summaryFields{product: summarisedUnder(n), orderID: n.Spec.OrderID, orderLineID: n.Spec.OrderLineID,
		receivedTime: n.Spec.ReceivedTime.UnixNano()}
	if order := n.Status.Order; order != nil {
		f.resolved, f.orderType, f.skuCode = true, order.OrderType, order.SKUCode
	}
	return f
}
