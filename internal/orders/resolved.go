package orders

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/textcut"
)

// ErrUnusable is a Query Order answer kooper cannot use (no such line, no
// product, a productId or skuCode too long to match any): asking again
// will not help, so it is reported, not retried hot.
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

// Bounds of what Resolved copies from a Query Order answer into a
// ResolvedOrder, in characters, as the CRDs' schemas have them (api/v1alpha1
// ResolvedOrder's +kubebuilder:validation:MaxLength markers): a value past
// its bound would make every status write of the tenant, licence or
// notification fail with 422, so the order would never resolve.
// TestBoundsMatchTheCRDs keeps them equal to the generated schemas.
const (
	// maxProductID bounds productId, as a SaaSProduct's spec.productId.
	maxProductID = 64
	// maxSKUCode bounds skuCode, as a plan's spec.plans[].skuCode.
	maxSKUCode = 64
	// maxOrderType bounds orderType (the spec's types have at most 15).
	maxOrderType = 32
	// maxPeriodType bounds periodType (year, month, day in the spec).
	maxPeriodType = 32
	// maxCustomerID bounds buyerInfo.customerId.
	maxCustomerID = 64
	// maxCustomerName bounds buyerInfo.customerName.
	maxCustomerName = 128
)

// Resolved keeps what kooper needs from info, Query Order's answer for
// order (spec §6.3): the order's type and createTime, and of order's line
// (orderLineId; an empty one selects a single-line order's only line) the
// first product's productId, skuCode and linearValue, the charging mode,
// the period and the expireTime. Buyer contact details are left out on
// purpose; the account's customerId and customerName are kept. A period
// number is clamped to [0, 1000], and a time or a linearValue that does not
// parse is left unset (ParseLinearValue says why), and so is a charging
// mode none of the four known (UnknownChargingMode reports it).
//
// Informational text (orderType, periodType, customerId, customerName) is
// cut to its bound (maxOrderType and the others, in characters, as the
// API server counts maxLength), on a character boundary. productId and
// skuCode identify the product and select the plan: one longer than its
// bound (64 characters) can match neither, so it is not cut into another
// value but refused.
//
// It fails, with an error that wraps ErrUnusable and is not a QueryError,
// when info has no such line, the line no product, or the product a
// productId or skuCode past its bound; the message names the order, and
// the field, its length and its bound.
//
// It reads the times as UTC; ResolvedIn reads them in another zone.
func Resolved(info *koogallery.OrderInfo, order *saasv1alpha1.AppliedOrder) (*saasv1alpha1.ResolvedOrder, error) {
	return ResolvedIn(info, order, time.UTC)
}

// ResolvedIn is Resolved with Query Order's createTime and expireTime read
// in zone (--query-order-time-zone; nil is UTC), see QueryOrderTime.
func ResolvedIn(info *koogallery.OrderInfo, order *saasv1alpha1.AppliedOrder, zone *time.Location) (*saasv1alpha1.ResolvedOrder, error) {
	line, ok := info.Line(order.OrderLineID)
	if !ok || len(line.ProductInfo) == 0 {
		return nil, fmt.Errorf("%w: order %s has no line %q with a product", ErrUnusable, order.OrderID, order.OrderLineID)
	}
	product := line.ProductInfo[0]
	if err := checkIdentity(order, product); err != nil {
		return nil, err
	}
	resolved := &saasv1alpha1.ResolvedOrder{
		OrderID:      order.OrderID,
		OrderType:    textcut.Runes(info.OrderType, maxOrderType),
		ProductID:    product.ProductID,
		SKUCode:      product.SKUCode,
		ChargingMode: chargingModes[line.ChargingMode],
		PeriodType:   textcut.Runes(line.PeriodType, maxPeriodType),
		PeriodNumber: int32(min(max(line.PeriodNumber, 0), 1000)),
	}
	if product.LinearValue != nil {
		if v, err := ParseLinearValue(*product.LinearValue); err == nil {
			resolved.LinearValue = v
		}
	}
	resolved.ExpireTime = QueryOrderTime(line.ExpireTime, zone)
	resolved.CreateTime = CreateTimeIn(info, zone)
	resolved.TimeZone = ZoneName(zone)
	if info.BuyerInfo != nil {
		resolved.CustomerID, resolved.CustomerName = textcut.Runes(info.BuyerInfo.CustomerID, maxCustomerID), textcut.Runes(info.BuyerInfo.CustomerName, maxCustomerName)
	}
	return resolved, nil
}

// maxLinearValueText bounds, in bytes, the linearValue text
// ParseLinearValue reads: a whole int64 has at most 19 digits, so 64
// leave room for a sign, a point, zeros and an exponent, and keep a
// garbled answer's megabyte of digits from costing a megabyte's parse.
const maxLinearValueText = 64

// ParseLinearValue reads linearValue, an Integer of Query Order's answer
// (spec §6.3), as the whole number it holds, however the JSON wrote it:
// 50, 50.0, 5e1 and 500E-1 are all 50. It fails, saying why, for a text
// longer than 64 bytes or that is no decimal number, a fraction (2.5), a
// negative number, or a number beyond int64 (what status.order.linearValue
// holds).
func ParseLinearValue(n json.Number) (int64, error) {
	text := string(n)
	if len(text) > maxLinearValueText {
		return 0, fmt.Errorf("linearValue of %d characters is no number kooper reads", len(text))
	}
	// Exact at 256 bits for any whole int64 written in up to 64 bytes;
	// anything rounded had more digits than a whole int64 needs.
	f, _, err := big.ParseFloat(text, 10, 256, big.ToNearestEven)
	mantissa, _, _ := strings.Cut(strings.ToLower(text), "e")
	switch {
	case err != nil:
		return 0, fmt.Errorf("linearValue %q is no number", text)
	case f.Sign() < 0:
		return 0, fmt.Errorf("linearValue %s is negative", text)
	case f.IsInf():
		return 0, fmt.Errorf("linearValue %s is larger than %d", text, int64(math.MaxInt64))
	case f.Acc() != big.Exact || !f.IsInt() || f.Sign() == 0 && strings.ContainsAny(mantissa, "123456789"):
		// The last: a fraction so small it parses as 0 (1e-1000).
		return 0, fmt.Errorf("linearValue %s is not a whole number", text)
	}
	v, acc := f.Int64()
	if acc != big.Exact {
		return 0, fmt.Errorf("linearValue %s is larger than %d", text, int64(math.MaxInt64))
	}
	return v, nil
}

// checkIdentity refuses a product whose productId or skuCode is longer
// than any SaaSProduct's productId or plan's skuCode can be: cut, it could
// select a plan the buyer did not buy; whole, it cannot be recorded.
func checkIdentity(order *saasv1alpha1.AppliedOrder, product koogallery.ProductInfo) error {
	for _, f := range []struct {
		name, value, matches string
		limit                int
	}{
		{name: "productId", value: product.ProductID, limit: maxProductID, matches: "a SaaSProduct's productId"},
		{name: "skuCode", value: product.SKUCode, limit: maxSKUCode, matches: "a plan's skuCode"},
	} {
		if n := utf8.RuneCountInString(f.value); n > f.limit {
			return fmt.Errorf("%w: order %s: Query Order's %s has %d characters, more than the %d of %s, so it matches none: %q",
				ErrUnusable, order.OrderID, f.name, n, f.limit, f.matches, textcut.Runes(f.value, f.limit)+"…")
		}
	}
	return nil
}

// KeepExpiry gives resolved, the order that now selects the plan, the
// expireTime of previous, the order that selected it before, when Query
// Order reported none for resolved (or none that parses): an upgrade does
// not end the period the buyer paid for, and without an expiry kooper's
// safety net and expiry notices would stop for the instance (spec §8 item
// 18 leaves what an upgrade line's expireTime holds open).
//
// The expiry is read again in resolved's zone when previous's was read in
// another (Rezone): Query Order's text, as the zone now in force reads it.
// A resolved order whose times were read in no zone (Debug) takes
// previous's zone with the expiry, which keeps the record true.
func KeepExpiry(resolved, previous *saasv1alpha1.ResolvedOrder) {
	if resolved.ExpireTime != nil || previous == nil || previous.ExpireTime == nil {
		return
	}
	if resolved.TimeZone == "" {
		resolved.ExpireTime, resolved.TimeZone = previous.ExpireTime.DeepCopy(), previous.TimeZone
		return
	}
	resolved.ExpireTime = Rezone(previous.ExpireTime, previous.TimeZone, resolved.TimeZone)
}

// ZoneName is how status records zone, the zone Query Order's times were
// read in (a ResolvedOrder's or an OrderTime's timeZone): UTC (nil, or no
// offset, +00:00 too), else its offset as --query-order-time-zone writes
// it (+08:00), so that one zone has one name.
func ZoneName(zone *time.Location) string {
	if zone == nil {
		return "UTC"
	}
	// The zones ParseTimeZone gives are fixed: any instant tells the offset.
	_, offset := time.Unix(0, 0).In(zone).Zone()
	if offset == 0 {
		return "UTC"
	}
	sign := '+'
	if offset < 0 {
		sign, offset = '-', -offset
	}
	return fmt.Sprintf("%c%02d:%02d", sign, offset/3600, offset/60%60)
}

// ReadInZone reports whether times recorded as read in recorded (a
// timeZone of the status) were read in zone, so that they need not be read
// again. An empty recorded is a record from before kooper kept the zone:
// it counts as UTC, the flag's default, which is what such a record was
// read in unless the flag was set; one read in a zone the flag still names
// is then read again once, to the same instant.
func ReadInZone(recorded string, zone *time.Location) bool {
	if recorded == "" {
		recorded = "UTC"
	}
	return recorded == ZoneName(zone)
}

// ReadInAnotherZone reports whether resolved (a status.order) holds times
// Query Order gave that were read in a zone other than zone (ReadInZone),
// so that the order must be asked again. A debug order (Debug), which no
// Query Order answered, never is: asking cannot help, and it would be
// asked on every pass.
func ReadInAnotherZone(resolved *saasv1alpha1.ResolvedOrder, zone *time.Location) bool {
	if resolved.OrderType == debugOrderType || resolved.ExpireTime == nil && resolved.CreateTime == nil {
		return false
	}
	return !ReadInZone(resolved.TimeZone, zone)
}

// Rezone is t, read in the zone named from (a timeZone of the status; ""
// is UTC), read again in the zone named to: the same wall-clock time, as
// Query Order wrote it, in to. The zones are fixed offsets, so no answer
// is needed. t itself (a copy) when either name is none ParseTimeZone
// reads.
func Rezone(t *metav1.Time, from, to string) *metav1.Time {
	fromZone, errFrom := recordedZone(from)
	toZone, errTo := recordedZone(to)
	if errFrom != nil || errTo != nil {
		return t.DeepCopy()
	}
	wall := t.In(fromZone)
	return &metav1.Time{Time: time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), toZone)}
}

// recordedZone is the zone a timeZone of the status names ("" is UTC).
func recordedZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	return ParseTimeZone(name)
}

// CreateTime is the order's createTime in info (an order-level field, spec
// §6.3) read as UTC, nil when it does not parse; CreateTimeIn reads it in
// another zone.
func CreateTime(info *koogallery.OrderInfo) *metav1.Time {
	return CreateTimeIn(info, time.UTC)
}

// CreateTimeIn is CreateTime with createTime read in zone
// (--query-order-time-zone; nil is UTC), see QueryOrderTime.
func CreateTimeIn(info *koogallery.OrderInfo, zone *time.Location) *metav1.Time {
	return QueryOrderTime(info.CreateTime, zone)
}

// QueryOrderTime reads one of Query Order's times (createTime, a line's
// expireTime; yyyyMMddHHmmss, or with milliseconds) as a wall-clock time in
// zone (nil is UTC), nil when it does not parse (koogallery.ParseExpireTimeIn).
// The spec does not say which zone they are in (§8 item 18): UTC, the
// default, never ends a paid period early, where Beijing time (+08:00) read
// for a time that is UTC would freeze the buyer, and end their licence key,
// 8 hours before they paid for.
//
// The milliseconds are dropped: the status keeps whole seconds
// (metav1.Time), and the pass that asked Query Order must sequence the
// orders (PlanOrder, ExpiryInForce) as every later pass does from the
// status, or two orders created within one second could be sequenced one
// way first (by their milliseconds) and the other way after (arrival order
// on a tie), switching the plan or the expiry back.
func QueryOrderTime(s string, zone *time.Location) *metav1.Time {
	t, err := koogallery.ParseExpireTimeIn(s, zone)
	if err != nil {
		return nil
	}
	return &metav1.Time{Time: t.Truncate(time.Second)}
}

// ParseTimeZone reads --query-order-time-zone, the zone of Query Order's
// createTime and expireTime (QueryOrderTime): UTC, or a fixed offset from
// it, ±hh:mm between -12:00 and +14:00 (+08:00 is Beijing time). A named
// zone (Asia/Shanghai) is refused: China keeps no daylight saving time, so
// an offset says all there is, and a name would read differently with the
// zone database of each machine kooper runs on.
func ParseTimeZone(v string) (*time.Location, error) {
	if v == "UTC" {
		return time.UTC, nil
	}
	if offset, ok := parseOffset(v); ok {
		return time.FixedZone(v, offset), nil
	}
	return nil, fmt.Errorf("time zone %.32q is neither UTC nor a fixed offset from it such as +08:00 (±hh:mm, -12:00 to +14:00)", v)
}

// parseOffset reads ±hh:mm as seconds east of UTC (time.Parse's -07:00);
// false unless v is exactly that form, with minutes below 60, within -12:00
// and +14:00, the offsets in use.
func parseOffset(v string) (int, bool) {
	t, err := time.Parse("-07:00", v)
	if err != nil || len(v) != len("+08:00") || v[4:6] > "59" {
		return 0, false
	}
	_, seconds := t.Zone()
	if seconds < -12*3600 || seconds > 14*3600 {
		return 0, false
	}
	return seconds, true
}

// maxChargingMode bounds, in characters, the chargingMode UnknownChargingMode
// reports (the four known have at most 13): it goes into a condition's
// message, an Event's note and a log line.
const maxChargingMode = 32

// UnknownChargingMode returns the chargingMode Query Order gave for order's
// line in info when it is none of the four spec §6.3 lists (PERIOD,
// ONE_TIME, ON_DEMAND, ON_DEMAND_PKG; "" counts as unknown), cut to 32
// characters (and "…" when cut), and true; "" and false for a known mode
// or an answer without the line (which Resolved refuses).
//
// Resolved leaves such a mode unset in status.order: the safest of the
// known readings, since nothing then meters the tenant (kooper bills no
// usage it cannot tell the buyer agreed to; the marketplace refuses usage
// of an order that is not pay-per-use) and nothing makes it a package
// (which runs no workload), so the buyer is served. The caller reports the
// raw value, which no status field can hold.
func UnknownChargingMode(info *koogallery.OrderInfo, order *saasv1alpha1.AppliedOrder) (string, bool) {
	line, ok := info.Line(order.OrderLineID)
	if !ok {
		return "", false
	}
	if _, known := chargingModes[line.ChargingMode]; known {
		return "", false
	}
	if cut := textcut.Runes(line.ChargingMode, maxChargingMode); cut != line.ChargingMode {
		return cut + "…", true
	}
	return line.ChargingMode, true
}

var chargingModes = map[string]saasv1alpha1.ChargingMode{
	koogallery.ChargingPeriod:          saasv1alpha1.ChargingPeriod,
	koogallery.ChargingOneTime:         saasv1alpha1.ChargingOneTime,
	koogallery.ChargingOnDemand:        saasv1alpha1.ChargingOnDemand,
	koogallery.ChargingOnDemandPackage: saasv1alpha1.ChargingOnDemandPackage,
}

// debugOrderType is the orderType of a debug order (Debug).
const debugOrderType = "DEBUG"

// Debug stands in for an order the Seller Console debugger made up, which
// Query Order does not know (spec §1.9): order type DEBUG, the product's
// productId and its debug plan's SKU (spec.debug.skuCode, which must be
// set), and no expiry or creation time, so debug orders go in arrival
// order (docs/lifecycle.md rules E and P).
func Debug(product *saasv1alpha1.SaaSProduct, order *saasv1alpha1.AppliedOrder) *saasv1alpha1.ResolvedOrder {
	return &saasv1alpha1.ResolvedOrder{
		OrderID: order.OrderID, OrderType: debugOrderType,
		ProductID: product.Spec.ProductID, SKUCode: product.Spec.Debug.SKUCode,
	}
}
