package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
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

// errOrderUnusable is a Query Order answer kooper cannot use (no such line,
// no product): retrying will not help, so it is reported, not retried hot.
var errOrderUnusable = errors.New("unusable order")

// queryOrderError is a Query Order call that failed: the marketplace is
// down or slow, refuses the call, or does not know the order (yet). Its
// message names the order (koogallery.Client.QueryOrder's errors do).
type queryOrderError struct{ err error }

func (e *queryOrderError) Error() string { return e.err.Error() }
func (e *queryOrderError) Unwrap() error { return e.err }

// orderRetry paces the Query Order calls for an order that keeps failing
// (issue 21, scenario 5). The controllers' rate limiter would retry from
// 5 ms, doubling up to 1000 s: a dozen calls in the first 20 seconds of an
// outage, then, minutes into it, a tenant left waiting up to a quarter of
// an hour after the marketplace is back. docs/reliability.md states the
// schedule.
var orderRetry = backoff{initial: 2 * time.Second, max: 30 * time.Second}

// backoff is a retry schedule that follows how long a failure has lasted.
type backoff struct {
	// initial is the shortest wait between two attempts.
	initial time.Duration
	// max is the longest: how late, at worst, the first attempt after
	// the failure ends comes.
	max time.Duration
}

// after is the wait before the next attempt when the failure has lasted
// failingFor: as long again, within [initial, max]. From the first
// failure, attempts come at 0, 2, 4, 8, 16 and 32 s, then every 30 s: 8 in
// the first two minutes, 2 a minute after that. The failure's start is
// recorded on the object (the condition's lastTransitionTime), so the pace
// survives a restart or a change of leader.
func (b backoff) after(failingFor time.Duration) time.Duration {
	return min(max(failingFor, b.initial), b.max)
}

// orderFailure is what a failure to resolve an order becomes: the message
// of the OrderResolved=False condition, and the error to return. A failed
// Query Order call is retried on orderRetry, counted from since (when the
// order started failing); any other failure (the keys Secret unreadable,
// an order without the line) on the controller's rate limiter, or when
// what it waits for changes.
func orderFailure(err error, since, now time.Time) (string, error) {
	var queryErr *queryOrderError
	if !errors.As(err, &queryErr) {
		return err.Error(), err
	}
	msg := fmt.Sprintf("Query Order failed; retrying at least every %s: %v", orderRetry.max, err)
	return msg, &retryAfterError{err: err, after: orderRetry.after(now.Sub(since))}
}

// failingSince is when the OrderResolved condition turned False, or now
// when it is not False: the start of the order's failure.
func failingSince(conds []metav1.Condition, now time.Time) time.Time {
	c := apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.LastTransitionTime.IsZero() {
		return now
	}
	return c.LastTransitionTime.Time
}

// recordOrderFailure sets OrderResolved=False on conds for err, keeping
// the failure's start (failingSince), and returns the error that retries
// it (orderFailure). Tenants and licences share it.
func recordOrderFailure(conds *[]metav1.Condition, generation int64, now time.Time, err error) error {
	since := failingSince(*conds, now)
	msg, retryErr := orderFailure(err, since, now)
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: saasv1alpha1.OrderResolvedCondition, Status: metav1.ConditionFalse,
		Reason: saasv1alpha1.OrderQueryFailedReason, Message: truncate(msg, 32768), ObservedGeneration: generation,
		LastTransitionTime: metav1.NewTime(since)})
	return retryErr
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

// tenantExpiry is the tenant's expiry in force (docs/lifecycle.md rule E).
// A spec.expireTime set by hand on an object without renewal orders wins.
func tenantExpiry(t *saasv1alpha1.SaaSTenant, times map[string]time.Time) *metav1.Time {
	return expiryInForce(t.Spec.ExpireTime, t.Status.Order, t.Spec.Orders, times)
}

// expiryInForce derives the expiry from the resolved defining order and the
// recorded orders; specExpiry, when nothing else sets an expiry, was set by hand.
func expiryInForce(specExpiry *metav1.Time, resolved *saasv1alpha1.ResolvedOrder, orders []saasv1alpha1.AppliedOrder, times map[string]time.Time) *metav1.Time {
	if specExpiry != nil && !slices.ContainsFunc(orders, func(o saasv1alpha1.AppliedOrder) bool { return isRenewal(o) || isShortening(o) }) {
		return specExpiry
	}
	var base *metav1.Time
	if resolved != nil {
		base = resolved.ExpireTime
	}
	return derivedExpiry(base, orders, times)
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
func (o orderResolver) resolve(ctx context.Context, product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, error) {
	key := product.Spec.ProductID + "/" + order.OrderID + "/" + order.OrderLineID
	if resolved := o.memo.get(key); resolved != nil {
		return resolved, nil
	}
	ak, sk, err := marketplaceCredentials(ctx, o.reader, o.namespace, product)
	if err != nil {
		return nil, err
	}
	info, err := o.orders(ak, sk).QueryOrder(ctx, order.OrderID, order.OrderLineID)
	if err != nil {
		return nil, &queryOrderError{err: err}
	}
	resolved, err := resolvedOrder(info, order)
	if err == nil {
		o.memo.put(key, resolved)
	}
	return resolved, err
}

// marketplaceCredentials reads the product's open-API AK/SK from its keys Secret.
func marketplaceCredentials(ctx context.Context, reader client.Reader, namespace string, product *saasv1alpha1.SaaSProduct) (ak, sk string, err error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: namespace, Name: product.Spec.KeysSecretName}
	if err := reader.Get(ctx, key, secret); err != nil {
		return "", "", fmt.Errorf("failed to read the keys Secret %s: %w", key, err)
	}
	ak, sk = string(secret.Data[saasv1alpha1.AccessKeyIDSecretKey]), string(secret.Data[saasv1alpha1.SecretAccessKeySecretKey])
	if ak == "" || sk == "" {
		return "", "", fmt.Errorf("the keys Secret %s lacks accessKeyId or secretAccessKey", key)
	}
	return ak, sk, nil
}

// resolvedOrder keeps what kooper needs from a Query Order answer; buyer
// contact details are left out on purpose.
func resolvedOrder(info *koogallery.OrderInfo, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, error) {
	line, ok := info.Line(order.OrderLineID)
	if !ok || len(line.ProductInfo) == 0 {
		return nil, fmt.Errorf("%w: order %s has no line %q with a product", errOrderUnusable, order.OrderID, order.OrderLineID)
	}
	product := line.ProductInfo[0]
	resolved := &saasv1alpha1.ResolvedOrder{
		OrderID:      order.OrderID,
		OrderType:    info.OrderType,
		ProductID:    product.ProductID,
		SKUCode:      product.SKUCode,
		ChargingMode: chargingModes[line.ChargingMode],
		PeriodType:   line.PeriodType,
		PeriodNumber: int32(min(max(line.PeriodNumber, 0), 1000)),
	}
	if product.LinearValue != nil {
		if v, err := product.LinearValue.Int64(); err == nil && v >= 0 {
			resolved.LinearValue = v
		}
	}
	if expiry, err := koogallery.ParseExpireTime(line.ExpireTime); err == nil {
		resolved.ExpireTime = &metav1.Time{Time: expiry}
	}
	if created, err := koogallery.ParseExpireTime(info.CreateTime); err == nil {
		resolved.CreateTime = &metav1.Time{Time: created}
	}
	if info.BuyerInfo != nil {
		resolved.CustomerID, resolved.CustomerName = truncate(info.BuyerInfo.CustomerID, 64), truncate(info.BuyerInfo.CustomerName, 128)
	}
	return resolved, nil
}

var chargingModes = map[string]saasv1alpha1.ChargingMode{
	koogallery.ChargingPeriod:          saasv1alpha1.ChargingPeriod,
	koogallery.ChargingOneTime:         saasv1alpha1.ChargingOneTime,
	koogallery.ChargingOnDemand:        saasv1alpha1.ChargingOnDemand,
	koogallery.ChargingOnDemandPackage: saasv1alpha1.ChargingOnDemandPackage,
}

// debugOrder stands in for an order the Seller Console debugger made up,
// which Query Order does not know: the product's debug plan.
func debugOrder(product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) *saasv1alpha1.ResolvedOrder {
	return &saasv1alpha1.ResolvedOrder{
		OrderID: order.OrderID, OrderType: "DEBUG",
		ProductID: product.Spec.ProductID, SKUCode: product.Spec.Debug.SKUCode,
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// timeUntil is how long from now until t, at least a second.
func timeUntil(now, t time.Time) time.Duration {
	return max(t.Sub(now), time.Second)
}
