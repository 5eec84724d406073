package main

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// The order types below mirror Query Order's JSON (§6.3) field for field and
// in the same order, nulls included, so that a mock order is served byte for
// byte as the marketplace recorded it. koogallery's types decode orders; these
// encode them, and keep the nulls those types would lose.

// orderInfo is Query Order's orderInfo.
type orderInfo struct {
	OrderID      string      `json:"orderId"`
	OrderType    string      `json:"orderType"`
	CreateTime   string      `json:"createTime"`
	OrderLine    []orderLine `json:"orderLine"`
	BuyerInfo    buyerInfo   `json:"buyerInfo"`
	ExtendParams []nameValue `json:"extendParams"`
}

// orderLine is one line of an order. The period fields and expireTime are
// left out for one-time and pay-per-use lines, which have no period.
type orderLine struct {
	OrderLineID           string        `json:"orderLineId"`
	ChargingMode          string        `json:"chargingMode"`
	PeriodType            string        `json:"periodType,omitempty"`
	PeriodNumber          *int          `json:"periodNumber,omitempty"`
	ExpireTime            string        `json:"expireTime,omitempty"`
	ProductInfo           []productInfo `json:"productInfo"`
	ExtendParams          []nameValue   `json:"extendParams"`
	Currency              string        `json:"currency"`
	CurrencyAfterDiscount string        `json:"currencyAfterDiscount"`
}

// productInfo is an order line's product and SKU.
type productInfo struct {
	ProductID   string `json:"productId"`
	SKUCode     string `json:"skuCode"`
	LinearValue int    `json:"linearValue"`
	ProductName string `json:"productName"`
}

// buyerInfo is the buyer; the marketplace writes null for what it lacks.
type buyerInfo struct {
	MobilePhone      *string `json:"mobilePhone"`
	Email            *string `json:"email"`
	CustomerID       string  `json:"customerId"`
	CustomerName     string  `json:"customerName"`
	CustomerRealName string  `json:"customerRealName"`
	CustomerType     int     `json:"customerType"`
	UserID           *string `json:"userId"`
	UserName         *string `json:"userName"`
}

// nameValue is an extended parameter.
type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Identity of the marketplace's mock product, from the recorded
// MOCKPERIODYEARNEW answer (§6.3). kooper's sample SaaSProduct uses them.
const (
	mockProductID = "OFFI846204237451911168"
	mockSKU       = "0a4d1578-5295-46a7-92d4-7c803dccc51d"
	// mockCreateTime is the recorded sample's createTime; every mock order
	// shares it so that the catalogue is fixed.
	mockCreateTime = "20241121090846"
)

// mockSpec is one mock order of §1.9, as the mock table implies it.
type mockSpec struct {
	orderID, orderType, chargingMode, periodType string
	periodNumber                                 int
	expireTime, productName, currency            string
}

// mockSpecs lists the nine mock orders of §1.9. MOCKPERIODYEARNEW is the
// recorded sample; for the others only the scenario is documented, so the
// order type, charging mode and period follow from their names and the
// product, buyer and dates from the sample [INFER]. Their dates are fixed,
// like the sample's, and so may be in the past.
func mockSpecs() []mockSpec {
	const name = "MOCK测试商品,测试规格,基础版,"
	return []mockSpec{
		{"MOCKPERIODYEARNEW", koogallery.OrderNew, koogallery.ChargingPeriod, "year", 1, "20251121235959", name + "包周期", "100"},
		{"MOCKONETIMENEW", koogallery.OrderNew, koogallery.ChargingOneTime, "", 0, "", name + "按次", "100"},
		{"MOCKONDEMAND", koogallery.OrderNew, koogallery.ChargingOnDemand, "", 0, "", name + "按需", "0"},
		{"MOCKONDEMANDPKG", koogallery.OrderNew, koogallery.ChargingOnDemandPackage, "year", 1, "20251121235959", name + "按需套餐包", "100"},
		{"MOCKPERIODDAYTRIAL", koogallery.OrderTrial, koogallery.ChargingPeriod, "day", 7, "20241128235959", name + "试用", "0"},
		{"MOCKMONTYTRIALTOFORMAL", koogallery.OrderTrialToFormal, koogallery.ChargingPeriod, "month", 1, "20241221235959", name + "包周期", "100"},
		{"MOCKMONTYUNSUBSCRIBE", koogallery.OrderUnsubscribe, koogallery.ChargingPeriod, "month", 1, "20241221235959", name + "包周期", "100"},
		{"MOCKMONTYRENEW", koogallery.OrderRenew, koogallery.ChargingPeriod, "month", 1, "20241221235959", name + "包周期", "100"},
		{"MOCKMONTYCHANGE", koogallery.OrderChange, koogallery.ChargingPeriod, "month", 1, "20241221235959", name + "包周期", "100"},
	}
}

// mockOrders returns the mock catalogue by order ID.
func mockOrders() map[string]orderInfo {
	orders := map[string]orderInfo{}
	for _, s := range mockSpecs() {
		orders[s.orderID] = s.order()
	}
	return orders
}

// order builds the mock order with the sample's buyer and parameters.
func (s mockSpec) order() orderInfo {
	line := orderLine{
		OrderLineID:  firstLine(s.orderID),
		ChargingMode: s.chargingMode,
		PeriodType:   s.periodType,
		ExpireTime:   s.expireTime,
		ProductInfo: []productInfo{{
			ProductID: mockProductID, SKUCode: mockSKU, LinearValue: 50, ProductName: s.productName,
		}},
		ExtendParams:          []nameValue{{"emailDomainName", "test.xxxx.com"}, {"ip", "127.0.0.1"}},
		Currency:              s.currency,
		CurrencyAfterDiscount: s.currency,
	}
	if s.periodType != "" {
		line.PeriodNumber = &s.periodNumber
	}
	return orderInfo{
		OrderID:    s.orderID,
		OrderType:  s.orderType,
		CreateTime: mockCreateTime,
		OrderLine:  []orderLine{line},
		BuyerInfo: buyerInfo{
			MobilePhone: ptr("18688888888"), CustomerID: "459bbbec25d24749b2eb83be37b602a8",
			CustomerName: "mock_user_01", CustomerRealName: "测试用户1",
		},
		ExtendParams: []nameValue{},
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T {
	return &v
}

// orderRegistration is the body of POST /sim/orders: a purchase the
// simulator's Query Order should know, e.g. the one a new-instance run is
// about to announce.
type orderRegistration struct {
	OrderID      string      `json:"orderId"`
	OrderLineID  string      `json:"orderLineId,omitempty"`
	OrderType    string      `json:"orderType,omitempty"`
	ProductID    string      `json:"productId"`
	SKUCode      string      `json:"skuCode"`
	ProductName  string      `json:"productName,omitempty"`
	LinearValue  int         `json:"linearValue,omitempty"`
	ChargingMode string      `json:"chargingMode"`
	PeriodType   string      `json:"periodType,omitempty"`
	PeriodNumber int         `json:"periodNumber,omitempty"`
	ExpireTime   string      `json:"expireTime,omitempty"`
	Buyer        buyer       `json:"buyer"`
	ExtendParams []nameValue `json:"extendParams,omitempty"`
}

// buyer is who buys a registered order.
type buyer struct {
	CustomerID   string `json:"customerId,omitempty"`
	CustomerName string `json:"customerName,omitempty"`
	Email        string `json:"email,omitempty"`
	MobilePhone  string `json:"mobilePhone,omitempty"`
}

// Accepted values of a registration.
var (
	orderTypes    = []string{koogallery.OrderNew, koogallery.OrderTrial, koogallery.OrderTrialToFormal, koogallery.OrderUnsubscribe, koogallery.OrderRenew, koogallery.OrderChange}
	chargingModes = []string{koogallery.ChargingPeriod, koogallery.ChargingOneTime, koogallery.ChargingOnDemand, koogallery.ChargingOnDemandPackage}
	periodTypes   = []string{"year", "month", "day"}
)

// maxOrderIDLength is the documented length of orderId and orderLineId.
const maxOrderIDLength = 64

// validate checks a registration; it returns a message for the caller.
func (r *orderRegistration) validate() error {
	switch {
	case r.OrderID == "" || utf8.RuneCountInString(r.OrderID) > maxOrderIDLength:
		return fmt.Errorf("orderId is required and at most %d characters", maxOrderIDLength)
	case utf8.RuneCountInString(r.OrderLineID) > maxOrderIDLength:
		return fmt.Errorf("orderLineId is at most %d characters", maxOrderIDLength)
	case r.ProductID == "" || r.SKUCode == "":
		return fmt.Errorf("productId and skuCode are required")
	case r.OrderType != "" && !slices.Contains(orderTypes, r.OrderType):
		return fmt.Errorf("orderType must be one of %v", orderTypes)
	case !slices.Contains(chargingModes, r.ChargingMode):
		return fmt.Errorf("chargingMode must be one of %v", chargingModes)
	case r.PeriodType != "" && !slices.Contains(periodTypes, r.PeriodType):
		return fmt.Errorf("periodType must be one of %v", periodTypes)
	case r.PeriodType != "" && r.PeriodNumber < 1:
		return fmt.Errorf("periodNumber must be at least 1")
	case r.LinearValue < 0:
		return fmt.Errorf("linearValue must not be negative")
	}
	if r.ExpireTime != "" {
		if _, err := koogallery.ParseExpireTime(r.ExpireTime); err != nil {
			return fmt.Errorf("expireTime must be yyyyMMddHHmmss, UTC")
		}
	}
	return nil
}

// order builds the orderInfo Query Order serves for a registration created
// at now. Without an expireTime, a periodic order expires at the end (UTC)
// of the day its last period ends, as the sample's 20251121235959 does for a
// year bought on 20241121.
func (r *orderRegistration) order(now time.Time) orderInfo {
	now = now.UTC()
	line := orderLine{
		OrderLineID:           r.OrderLineID,
		ChargingMode:          r.ChargingMode,
		PeriodType:            r.PeriodType,
		ExpireTime:            r.ExpireTime,
		ProductInfo:           []productInfo{{ProductID: r.ProductID, SKUCode: r.SKUCode, LinearValue: r.LinearValue, ProductName: r.ProductName}},
		ExtendParams:          append([]nameValue{}, r.ExtendParams...),
		Currency:              "100",
		CurrencyAfterDiscount: "100",
	}
	if line.OrderLineID == "" {
		line.OrderLineID = firstLine(r.OrderID)
	}
	if r.PeriodType != "" {
		line.PeriodNumber = ptr(r.PeriodNumber)
		if line.ExpireTime == "" {
			line.ExpireTime = periodEnd(now, r.PeriodType, r.PeriodNumber)
		}
	}
	orderType := r.OrderType
	if orderType == "" {
		orderType = koogallery.OrderNew
	}
	return orderInfo{
		OrderID:      r.OrderID,
		OrderType:    orderType,
		CreateTime:   now.Format(layout14),
		OrderLine:    []orderLine{line},
		BuyerInfo:    r.Buyer.info(),
		ExtendParams: []nameValue{},
	}
}

// info turns a registration's buyer into Query Order's buyerInfo, with the
// marketplace's nulls for what was not given.
func (b buyer) info() buyerInfo {
	info := buyerInfo{CustomerID: b.CustomerID, CustomerName: b.CustomerName, CustomerRealName: b.CustomerName}
	if info.CustomerID == "" {
		info.CustomerID = "sim-customer"
	}
	if b.Email != "" {
		info.Email = ptr(b.Email)
	}
	if b.MobilePhone != "" {
		info.MobilePhone = ptr(b.MobilePhone)
	}
	return info
}

// layout14 is yyyyMMddHHmmss.
const layout14 = "20060102150405"

// periodEnd is the expiry of n periods bought at now: 23:59:59 UTC of the
// day the last period ends. Months and years are added by calendar, and a
// day that does not exist in the target month is clamped to its last day
// (31 January plus one month ends on 28 or 29 February), as Java's
// LocalDate.plusMonths, which the marketplace runs on, does [INFER].
func periodEnd(now time.Time, periodType string, n int) string {
	y, m, d := now.Date()
	switch periodType {
	case "year":
		y += n
	case "month":
		m += time.Month(n)
	case "day":
		d += n
	}
	if periodType != "day" {
		// Day 0 of the next month is the last day of this one.
		last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
		d = min(d, last)
	}
	return time.Date(y, m, d, 23, 59, 59, 0, time.UTC).Format(layout14)
}
