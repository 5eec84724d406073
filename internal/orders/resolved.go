package orders

import (
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilstrings "k8s.io/utils/strings"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// ErrUnusable is a Query Order answer kooper cannot use (no such line, no
// product): asking again will not help, so it is reported, not retried hot.
var ErrUnusable = errors.New("unusable order")

// QueryError is a Query Order call that failed: the marketplace is down or
// slow, refuses the call, or does not know the order (yet). The caller
// wraps the client's error in it, so that RecordFailure paces the retries;
// its message is Err's (koogallery.Client.QueryOrder's errors name the
// order).
type QueryError struct {
	// Err is the client's error.
	Err error
}

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// Resolved keeps what kooper needs from info, Query Order's answer for
// order (spec §6.3): the order's type and createTime, and of order's line
// (orderLineId; an empty one selects a single-line order's only line) the
// first product's productId, skuCode and linearValue, the charging mode,
// the period and the expireTime. Buyer contact details are left out on
// purpose; the account's customerId and customerName are kept, cut to 64
// and 128 bytes. A period number is clamped to [0, 1000], and a time or a
// linearValue that does not parse is left unset. It fails, with an error
// that is not a QueryError, when info has no such line or the line no
// product.
func Resolved(info *koogallery.OrderInfo, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, error) {
	line, ok := info.Line(order.OrderLineID)
	if !ok || len(line.ProductInfo) == 0 {
		return nil, fmt.Errorf("%w: order %s has no line %q with a product", ErrUnusable, order.OrderID, order.OrderLineID)
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
	resolved.CreateTime = CreateTime(info)
	if info.BuyerInfo != nil {
		resolved.CustomerID, resolved.CustomerName = utilstrings.ShortenString(info.BuyerInfo.CustomerID, 64), utilstrings.ShortenString(info.BuyerInfo.CustomerName, 128)
	}
	return resolved, nil
}

// KeepExpiry gives resolved, the order that now selects the plan, the
// expireTime of previous, the order that selected it before, when Query
// Order reported none for resolved (or none that parses): an upgrade does
// not end the period the buyer paid for, and without an expiry kooper's
// safety net and expiry notices would stop for the instance (spec §8 item
// 18 leaves what an upgrade line's expireTime holds open).
func KeepExpiry(resolved, previous *saasv1alpha1.ResolvedOrder) {
	if resolved.ExpireTime == nil && previous != nil && previous.ExpireTime != nil {
		resolved.ExpireTime = previous.ExpireTime.DeepCopy()
	}
}

// CreateTime is the order's createTime in info (an order-level field, spec
// §6.3), nil when it does not parse.
func CreateTime(info *koogallery.OrderInfo) *metav1.Time {
	created, err := koogallery.ParseExpireTime(info.CreateTime)
	if err != nil {
		return nil
	}
	return &metav1.Time{Time: created}
}

var chargingModes = map[string]saasv1alpha1.ChargingMode{
	koogallery.ChargingPeriod:          saasv1alpha1.ChargingPeriod,
	koogallery.ChargingOneTime:         saasv1alpha1.ChargingOneTime,
	koogallery.ChargingOnDemand:        saasv1alpha1.ChargingOnDemand,
	koogallery.ChargingOnDemandPackage: saasv1alpha1.ChargingOnDemandPackage,
}

// Debug stands in for an order the Seller Console debugger made up, which
// Query Order does not know (spec §1.9): order type DEBUG, the product's
// productId and its debug plan's SKU (spec.debug.skuCode, which must be
// set), and no expiry or creation time, so debug orders go in arrival
// order (docs/lifecycle.md rules E and P).
func Debug(product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) *saasv1alpha1.ResolvedOrder {
	return &saasv1alpha1.ResolvedOrder{
		OrderID: order.OrderID, OrderType: "DEBUG",
		ProductID: product.Spec.ProductID, SKUCode: product.Spec.Debug.SKUCode,
	}
}
