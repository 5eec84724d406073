package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/orders"
)

// OrderQuerier reads marketplace orders (Query Order, spec §6.3).
type OrderQuerier interface {
	QueryOrder(ctx context.Context, orderID, orderLineID string) (*koogallery.OrderInfo, error)
}

// OrderClientFactory returns an OrderQuerier signed with a product's AK/SK.
type OrderClientFactory func(accessKeyID, secretAccessKey string) OrderQuerier

// MarketplaceOrderClients returns the factory for the real marketplace at
// baseURLs (the first, then the fallbacks). The clients it returns share one
// HTTP client, and so one pool of connections.
func MarketplaceOrderClients(baseURLs ...string) OrderClientFactory {
	clients := marketplaceClients(baseURLs)
	return func(ak, sk string) OrderQuerier { return clients(ak, sk) }
}

// recordOrderFailure sets OrderResolved=False on conds for err
// (orders.RecordFailure) and returns the error that retries it: a failed
// Query Order call after the wait orders.RecordFailure gives, anything else
// on the controller's rate limiter. Tenants and licences share it.
func recordOrderFailure(conds *[]metav1.Condition, generation int64, now time.Time, err error) error {
	if after := orders.RecordFailure(conds, generation, now, err); after > 0 {
		return &retryAfterError{err: err, after: after}
	}
	return err
}

// resolvedOrders remembers orders already resolved. An order's content
// never changes, and a reconcile that runs before the cache has seen the
// status it just wrote would otherwise ask Query Order again.
type resolvedOrders struct {
	mu     sync.Mutex
	orders map[string]*saasv1alpha1.ResolvedOrder
}

// maxRememberedOrders bounds the memo; past it, it starts again empty.
const maxRememberedOrders = 50_000

func (m *resolvedOrders) get(key string) *saasv1alpha1.ResolvedOrder {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.orders[key]; ok {
		return o.DeepCopy()
	}
	return nil
}

func (m *resolvedOrders) put(key string, o *saasv1alpha1.ResolvedOrder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.orders == nil || len(m.orders) >= maxRememberedOrders {
		m.orders = map[string]*saasv1alpha1.ResolvedOrder{}
	}
	m.orders[key] = o.DeepCopy()
}

// resolver resolves the tenant's orders with its product's AK/SK.
func (r *SaaSTenantReconciler) resolver() orderResolver {
	return orderResolver{reader: r.Client, orders: r.Orders, namespace: r.Options.SecretNamespace, memo: &r.resolved}
}

// orderResolver resolves orders with Query Order for the tenant and licence
// controllers alike.
type orderResolver struct {
	reader    client.Reader
	orders    OrderClientFactory
	namespace string
	memo      *resolvedOrders
}

// resolve resolves order with the product's AK/SK, once per order line.
// Each Query Order call counts in kooper_order_queries_total by outcome.
func (o orderResolver) resolve(ctx context.Context, product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, error) {
	resolved, _, err := o.query(ctx, product, order)
	return resolved, err
}

// query resolves order as resolve does, and also returns Query Order's
// answer when it came (nil when the order was resolved before): an answer
// resolve cannot use (orders.ErrUnusable) still carries the order's
// createTime.
func (o orderResolver) query(ctx context.Context, product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, *koogallery.OrderInfo, error) {
	key := product.Spec.ProductID + "/" + order.OrderID + "/" + order.OrderLineID
	if resolved := o.memo.get(key); resolved != nil {
		return resolved, nil, nil
	}
	ak, sk, err := marketplaceCredentials(ctx, o.reader, o.namespace, product)
	if err != nil {
		return nil, nil, err
	}
	info, err := o.orders(ak, sk).QueryOrder(ctx, order.OrderID, order.OrderLineID)
	if err != nil {
		orderQueries.WithLabelValues(orderOutcome(err, nil)).Inc()
		return nil, nil, &orders.QueryError{Err: err}
	}
	resolved, err := orders.Resolved(info, order)
	orderQueries.WithLabelValues(orderOutcome(nil, err)).Inc()
	if err == nil {
		o.memo.put(key, resolved)
	}
	return resolved, info, err
}

// orderTimes returns the creation times of the orders that need one
// (orders.ToTime), reading those not yet recorded in status with Query
// Order and recording them. In debug mode an order Query Order does not
// know is left without a time (arrival order applies); otherwise a failure
// is returned and retried.
func (o orderResolver) orderTimes(ctx context.Context, product *saasv1alpha1.SaaSProduct, applied []saasv1alpha1.AppliedOrder,
	recorded *[]saasv1alpha1.OrderTime, debug bool) (map[string]time.Time, error) {
	needed := orders.ToTime(applied)
	times := orders.RecordedTimes(*recorded)
	for i := range needed {
		order := &needed[i]
		if _, ok := times[order.OrderID]; ok {
			continue
		}
		created, err := o.createTime(ctx, product, order)
		if err != nil && debug {
			continue
		}
		if err != nil {
			return nil, err
		}
		if created == nil {
			continue
		}
		times[order.OrderID] = created.Time
		*recorded = append(*recorded, saasv1alpha1.OrderTime{OrderID: order.OrderID, CreateTime: *created})
	}
	orders.KeepRecorded(recorded, applied)
	return times, nil
}

// createTime is order's creation time as Query Order reports it (nil when
// it reports none that parses). createTime belongs to the order, not to a
// line: an order whose line Query Order gives without a product (a refund,
// say), which resolve refuses, still has one, so an order that is only
// sequenced never blocks the plan or the expiry for that.
func (o orderResolver) createTime(ctx context.Context, product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) (*metav1.Time, error) {
	resolved, info, err := o.query(ctx, product, order)
	switch {
	case err == nil:
		return resolved.CreateTime, nil
	case errors.Is(err, orders.ErrUnusable) && info != nil:
		return orders.CreateTime(info), nil
	}
	return nil, err
}

// marketplaceCredentials reads the product's open-API AK/SK from its keys Secret.
func marketplaceCredentials(ctx context.Context, reader client.Reader, namespace string, product *saasv1alpha1.SaaSProduct) (ak, sk string, err error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: namespace, Name: product.Spec.KeysSecretName}
	if err := reader.Get(ctx, key, secret); err != nil {
		return "", "", fmt.Errorf("failed to read the keys Secret %s: %w", key, err)
	}
	ak, sk = koogallery.KeyText(secret.Data[saasv1alpha1.AccessKeyIDSecretKey]), koogallery.KeyText(secret.Data[saasv1alpha1.SecretAccessKeySecretKey])
	if ak == "" || sk == "" {
		return "", "", fmt.Errorf("the keys Secret %s lacks accessKeyId or secretAccessKey", key)
	}
	return ak, sk, nil
}

// timeUntil is how long from now until t, at least a second.
func timeUntil(now, t time.Time) time.Duration {
	return max(t.Sub(now), time.Second)
}
