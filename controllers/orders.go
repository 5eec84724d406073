package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
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

// MarketplaceOrderClientsWith is MarketplaceOrderClients whose answers'
// createTime and expireTime are read in zone (--query-order-time-zone):
// the spec does not say which zone they are in (§8 item 18).
// MarketplaceOrderClients's, and a test's fake's, are read as UTC.
func MarketplaceOrderClientsWith(zone *time.Location, baseURLs ...string) OrderClientFactory {
	clients := marketplaceClients(baseURLs)
	return func(ak, sk string) OrderQuerier { return zonedOrderClient{OrderQuerier: clients(ak, sk), zone: zone} }
}

// zonedOrderClient is a Query Order client whose answers' times are read
// in zone. The zone travels with the client because OrderClientFactory is
// what the tenant, licence and order notification controllers are all
// handed to ask Query Order.
type zonedOrderClient struct {
	OrderQuerier
	zone *time.Location
}

// QueryOrderTimeZone is the zone the client's answers' times are in.
func (c zonedOrderClient) QueryOrderTimeZone() *time.Location { return c.zone }

// queryOrderTimeZone is the zone of the times of q's answers: the one its
// factory was given (MarketplaceOrderClientsWith), else UTC.
func queryOrderTimeZone(q OrderQuerier) *time.Location {
	if zoned, ok := q.(interface{ QueryOrderTimeZone() *time.Location }); ok && zoned.QueryOrderTimeZone() != nil {
		return zoned.QueryOrderTimeZone()
	}
	return time.UTC
}

// recordOrderFailure sets OrderResolved=False on conds for err
// (orders.RecordFailure, whose reason names the cause) and returns the
// error that retries it: a failed Query Order call after the wait
// orders.RecordFailure gives, anything else on the controller's rate
// limiter; a keys Secret missing or incomplete too, since no watch of it
// wakes a tenant, licence or notification. Tenants, licences and order
// notifications share it.
func recordOrderFailure(conds *[]metav1.Condition, generation int64, now time.Time, err error) error {
	if after := orders.RecordFailure(conds, generation, now, err); after > 0 {
		return &retryAfterError{err: err, after: after}
	}
	return err
}

// resolvedOrders remembers orders already resolved, for rememberedOrderTTL
// each, at most maxRememberedOrders of them (the least recently used go
// first). An order's content never changes, and a reconcile that runs
// before the cache has seen the status it just wrote would otherwise ask
// Query Order again; once the cache shows it, the status is the record,
// and the memo need not hold the buyer's name and account id any longer.
// The zero value is ready to use; it is safe for concurrent use.
type resolvedOrders struct {
	// clock is the time entries expire by; nil: the real clock. Set it
	// before the first use.
	clock cache.Clock
	once  sync.Once
	memo  *cache.LRUExpireCache
}

// rememberedOrder is one order resolvedOrders remembers.
type rememberedOrder struct {
	order *saasv1alpha1.ResolvedOrder
	// unknownMode is Query Order's chargingMode when none kooper knows
	// (orders.UnknownChargingMode), which order cannot hold; nil otherwise.
	unknownMode *string
}

// maxRememberedOrders bounds each memo (≈600 bytes an order, so about
// 6 MB). It is reached only when more orders resolve within
// rememberedOrderTTL; the least recently used, whose status the cache has
// most likely shown already, are forgotten first.
const maxRememberedOrders = 10_000

// rememberedOrderTTL is how long the memo remembers an order. The cache
// shows a status write within a second or so, and within a minute or two
// even while a restart floods the watches: ten minutes covers that with
// room to spare. It is safe however short: a reconcile that finds the
// order forgotten and not yet in its status asks Query Order once more
// (the same answer, an order never changes), and noteOrder reads an
// unknown chargingMode back from the stored condition.
const rememberedOrderTTL = 10 * time.Minute

// entries is the memo, made at the first use.
func (m *resolvedOrders) entries() *cache.LRUExpireCache {
	m.once.Do(func() {
		var now cache.Clock = clock.RealClock{}
		if m.clock != nil {
			now = m.clock
		}
		m.memo = cache.NewLRUExpireCacheWithClock(maxRememberedOrders, now)
	})
	return m.memo
}

// remembered returns the entry under key, if the memo still holds it.
func (m *resolvedOrders) remembered(key string) (rememberedOrder, bool) {
	v, ok := m.entries().Get(key)
	if !ok {
		return rememberedOrder{}, false
	}
	o, ok := v.(rememberedOrder)
	return o, ok
}

// get returns a copy of the order remembered under key, or nil.
func (m *resolvedOrders) get(key string) *saasv1alpha1.ResolvedOrder {
	if o, ok := m.remembered(key); ok {
		return o.order.DeepCopy()
	}
	return nil
}

// put remembers o under key, with Query Order's chargingMode when it is
// none kooper knows (unknownMode; nil when known).
func (m *resolvedOrders) put(key string, o *saasv1alpha1.ResolvedOrder, unknownMode *string) {
	m.entries().Add(key, rememberedOrder{order: o.DeepCopy(), unknownMode: unknownMode}, rememberedOrderTTL)
}

// unknownMode returns what the memo knows of the chargingMode of the order
// under key: remembered is false when it does not remember the order (a
// restart, its TTL passed, or it was evicted); else mode is the raw
// chargingMode when it is none kooper knows, nil when it is known.
func (m *resolvedOrders) unknownMode(key string) (mode *string, remembered bool) {
	o, ok := m.remembered(key)
	return o.unknownMode, ok
}

// orderKey is the memo's key of order, as product resolves it.
func orderKey(product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) string {
	return product.Spec.ProductID + "/" + order.OrderID + "/" + order.OrderLineID
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

// zone is the zone Query Order's times are read in now
// (--query-order-time-zone, the factory's; UTC for a factory without one).
// It is asked of a client made without keys, never used to call: the zone
// is the factory's whatever the keys, and so whether an order resolved
// before must be asked again does not wait for the product's keys Secret.
func (o orderResolver) zone() *time.Location {
	return queryOrderTimeZone(o.orders("", ""))
}

// readInZone reports whether the times of resolved (a status.order) were
// read in the zone Query Order's times are read in now, or need no zone
// (orders.ReadInAnotherZone): the reconcilers resolve the order that
// selects the plan again when they were not, once, since the order they
// record then is read in it. An order resolved before kooper recorded the
// zone counts as read in UTC, the flag's default (orders.ReadInZone).
func (o orderResolver) readInZone(resolved *saasv1alpha1.ResolvedOrder) bool {
	return !orders.ReadInAnotherZone(resolved, o.zone())
}

// resolve resolves order with the product's AK/SK, once per order line.
// Each Query Order call counts in kooper_order_queries_total by outcome.
func (o orderResolver) resolve(ctx context.Context, product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, error) {
	resolved, _, err := o.query(ctx, product, order)
	return resolved, err
}

// query resolves order as resolve does, and also returns the order's
// createTime when Query Order answered (nil when the order was resolved
// before, or the answer has none that parses): an answer resolve cannot
// use (orders.ErrUnusable) still carries it.
func (o orderResolver) query(ctx context.Context, product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, *metav1.Time, error) {
	key := orderKey(product, order)
	zone := o.zone()
	// One remembered from a reading in another zone is no answer: the
	// order is asked again because its times were read in that one.
	if resolved := o.memo.get(key); resolved != nil && orders.ReadInZone(resolved.TimeZone, zone) {
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
	resolved, err := orders.ResolvedIn(info, order, zone)
	orderQueries.WithLabelValues(orderOutcome(nil, err)).Inc()
	if err == nil {
		var unknown *string
		if mode, ok := orders.UnknownChargingMode(info, order); ok {
			unknown = &mode
			// Every kind that resolves orders (tenants, licences, order
			// notifications) leaves the mode unset; this says so for all.
			ctrl.LoggerFrom(ctx).Info("Query Order gave a chargingMode kooper does not know; the order is resolved as neither metered nor a package",
				"order", order.OrderID, "chargingMode", mode)
		}
		o.memo.put(key, resolved, unknown)
	}
	return resolved, orders.CreateTimeIn(info, zone), err
}

// orderTimes returns the creation times of the orders that need one
// (orders.ToTime), reading those not yet recorded in status with Query
// Order and recording them, with the zone they were read in. A time
// recorded as read in another zone than Query Order's times are read in
// now (orders.ReadInZone) counts as not recorded: it is read again, once,
// and its record replaced, so that the orders are sequenced in one zone.
// In debug mode an order Query Order does not know is left without a time
// (arrival order applies); otherwise a failure is returned and retried.
func (o orderResolver) orderTimes(ctx context.Context, product *saasv1alpha1.SaaSProduct, applied []saasv1alpha1.AppliedOrder,
	recorded *[]saasv1alpha1.OrderTime, debug bool) (map[string]time.Time, error) {
	needed := orders.ToTime(applied)
	times := orders.RecordedTimes(*recorded)
	zone := o.zone()
	for _, entry := range *recorded {
		if !orders.ReadInZone(entry.TimeZone, zone) {
			delete(times, entry.OrderID)
		}
	}
	for i := range needed {
		order := &needed[i]
		if _, ok := times[order.OrderID]; ok {
			continue
		}
		created, err := o.createTime(ctx, product, order)
		if err != nil && !debug {
			return nil, err
		}
		if err != nil || created == nil {
			// Untimed, as an order never timed: a record read in another
			// zone would sequence it in that one.
			*recorded = slices.DeleteFunc(*recorded, func(t saasv1alpha1.OrderTime) bool { return t.OrderID == order.OrderID })
			continue
		}
		times[order.OrderID] = created.Time
		recordTime(recorded, saasv1alpha1.OrderTime{OrderID: order.OrderID, CreateTime: *created, TimeZone: orders.ZoneName(zone)})
	}
	orders.KeepRecorded(recorded, applied)
	return times, nil
}

// recordTime records entry in recorded (status.orderTimes), in place of the
// order's record read in another zone, if there is one.
func recordTime(recorded *[]saasv1alpha1.OrderTime, entry saasv1alpha1.OrderTime) {
	if i := slices.IndexFunc(*recorded, func(t saasv1alpha1.OrderTime) bool { return t.OrderID == entry.OrderID }); i >= 0 {
		(*recorded)[i] = entry
		return
	}
	*recorded = append(*recorded, entry)
}

// createTime is order's creation time as Query Order reports it (nil when
// it reports none that parses). createTime belongs to the order, not to a
// line: an order whose line Query Order gives without a product (a refund,
// say), which resolve refuses, still has one, so an order that is only
// sequenced never blocks the plan or the expiry for that.
func (o orderResolver) createTime(ctx context.Context, product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) (*metav1.Time, error) {
	resolved, created, err := o.query(ctx, product, order)
	switch {
	case err == nil:
		return resolved.CreateTime, nil
	case errors.Is(err, orders.ErrUnusable): // only an answer is unusable
		return created, nil
	}
	return nil, err
}

// noteOrder sets the tenant's OrderResolved condition True for its
// resolved order (status.order), which order (the order that selects the
// plan, docs/lifecycle.md rule P) resolved to: reason Succeeded, or, when
// there is something a person must know about it, the first of
// NotMetered, ChargingModeUnknown and CreateTimeUnknown, with every such
// note in the message (tenantOrderNotes). None of them keeps Ready False:
// the buyer paid and is served. A note the stored condition did not carry
// is a Warning Event, so each is told once when it appears, not on every
// reconcile. It runs on every reconcile that resolves the order, whether
// Query Order was asked or the order was resolved before: the product may
// have gained or lost its meters since, and an earlier pass may have left
// OrderResolved False while only a sequencing order failed.
func (r *SaaSTenantReconciler) noteOrder(s *tenantState, order *saasv1alpha1.AppliedOrder) {
	t, resolved := s.tenant, s.tenant.Status.Order
	head := fmt.Sprintf("Order %s: product %s, SKU %s", resolved.OrderID, resolved.ProductID, resolved.SKUCode)
	stored := apimeta.FindStatusCondition(s.stored.Status.Conditions, saasv1alpha1.OrderResolvedCondition)
	mode, remembered := r.resolved.unknownMode(orderKey(s.product, order))
	if !remembered && resolved.ChargingMode == "" && stored != nil && strings.HasPrefix(stored.Message, head+"; ") {
		// The raw mode is in no status field: after a restart the stored
		// message, which this same order wrote, is its only record.
		mode = carriedChargingMode(stored.Message)
	}
	notes := tenantOrderNotes(t, s.product, s.orderTimes, mode)
	reason, msg := saasv1alpha1.SucceededReason, head
	for i, n := range notes {
		if i == 0 {
			reason = n.reason
		}
		msg += "; " + n.text
	}
	setCondition(t, saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, reason, msg)
	for _, n := range notes {
		if stored == nil || stored.Status != metav1.ConditionTrue || !strings.Contains(stored.Message, n.text) {
			r.event(t, corev1.EventTypeWarning, n.reason, head+"; "+n.text)
		}
	}
}

// orderNote is one thing the OrderResolved condition of a tenant says
// about its resolved order beside which it is.
type orderNote struct {
	// reason is the condition's reason when the note is the first, and
	// the Warning Event's reason.
	reason string
	// text is the note, as the message and the Event say it.
	text string
}

// maxNamedOrders bounds how many orders a note names (up to 256 are
// recorded): the rest are counted.
const maxNamedOrders = 5

// chargingModeNote begins the ChargingModeUnknown note; the raw value
// follows, quoted (carriedChargingMode reads it back).
const chargingModeNote = "Query Order's chargingMode "

// tenantOrderNotes returns, in the order the condition's reason is chosen,
// what tenant t's OrderResolved must say about its resolved order
// (status.order, set) beyond which it is:
//
//   - NotMetered: the order is pay-per-use (OnDemand, or OnDemandPackage
//     of a tenant that is not a package) but product meters nothing, so
//     the metering controller lets the tenant go and its usage is never
//     billed (metering.Metered).
//   - ChargingModeUnknown: unknownMode, Query Order's chargingMode, is none
//     kooper knows (nil when it is, or is not known).
//   - CreateTimeUnknown: orders the plan or expiry is sequenced by have no
//     time in times (orderId to Query Order createTime; orders.Untimed);
//     not said of a debug tenant, whose debug orders Query Order does not
//     know and which go by arrival as documented.
func tenantOrderNotes(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct, times map[string]time.Time, unknownMode *string) []orderNote {
	var notes []orderNote
	mode := t.Status.Order.ChargingMode
	if metering.PayPerUse(t) && !metering.IsPackage(t, product) && !metering.Metered(t, product) {
		notes = append(notes, orderNote{reason: saasv1alpha1.NotMeteredReason, text: fmt.Sprintf(
			"pay-per-use (chargingMode %s), but SaaSProduct %s meters nothing (no spec.metering.meters): the tenant is served and its usage is not billed",
			mode, product.Name)})
	}
	if unknownMode != nil {
		notes = append(notes, orderNote{reason: saasv1alpha1.ChargingModeUnknownReason, text: fmt.Sprintf(
			"%s%q is none of PERIOD, ONE_TIME, ON_DEMAND, ON_DEMAND_PKG: the tenant is served, neither metered nor a package", chargingModeNote, *unknownMode)})
	}
	if untimed := orders.Untimed(t.Spec.Orders, times); len(untimed) > 0 && t.Spec.Mode != saasv1alpha1.ModeDebug {
		notes = append(notes, orderNote{reason: saasv1alpha1.CreateTimeUnknownReason, text: fmt.Sprintf(
			"Query Order gave no createTime that parses for order %s: each keeps its arrival place, the others are sequenced by createTime (docs/lifecycle.md rules E and P)",
			namedOrders(untimed))})
	}
	return notes
}

// namedOrders lists ids, at most maxNamedOrders of them, then how many more.
func namedOrders(ids []string) string {
	if len(ids) <= maxNamedOrders {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:maxNamedOrders], ", "), len(ids)-maxNamedOrders)
}

// carriedChargingMode reads back the raw chargingMode a ChargingModeUnknown
// note in msg quotes; nil when msg has none.
func carriedChargingMode(msg string) *string {
	i := strings.Index(msg, chargingModeNote)
	if i < 0 {
		return nil
	}
	quoted, err := strconv.QuotedPrefix(msg[i+len(chargingModeNote):])
	if err != nil {
		return nil
	}
	mode, err := strconv.Unquote(quoted)
	if err != nil {
		return nil
	}
	return &mode
}

// marketplaceCredentials reads the product's open-API AK/SK from its keys
// Secret. A Secret that is missing or lacks either key is an
// orders.KeysError, which names its cause in OrderResolved; a failed read
// is returned as it is.
func marketplaceCredentials(ctx context.Context, reader client.Reader, namespace string, product *saasv1alpha1.SaaSProduct) (ak, sk string, err error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: namespace, Name: product.Spec.KeysSecretName}
	if err := reader.Get(ctx, key, secret); err != nil {
		err = fmt.Errorf("failed to read the keys Secret %s: %w", key, err)
		if apierrors.IsNotFound(err) {
			return "", "", &orders.KeysError{Reason: saasv1alpha1.KeysSecretNotFoundReason, Err: err}
		}
		return "", "", err
	}
	ak, sk = koogallery.KeyText(secret.Data[saasv1alpha1.AccessKeyIDSecretKey]), koogallery.KeyText(secret.Data[saasv1alpha1.SecretAccessKeySecretKey])
	if ak == "" || sk == "" {
		return "", "", &orders.KeysError{Reason: saasv1alpha1.KeysSecretIncompleteReason,
			Err: fmt.Errorf("the keys Secret %s lacks accessKeyId or secretAccessKey", key)}
	}
	return ak, sk, nil
}

// timeUntil is how long from now until t, at least a second.
func timeUntil(now, t time.Time) time.Duration {
	return max(t.Sub(now), time.Second)
}
