package lifecycle

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// createTimeLayout is Query Order's createTime and expireTime format, UTC.
const createTimeLayout = "20060102150405"

// marketplace stands in for KooGallery's Query Order (spec §6.3): it answers
// the orders the sequences created, each line with its SKU and expiry.
type marketplace struct {
	server *httptest.Server
	mu     sync.Mutex
	orders map[string]*koogallery.OrderInfo
}

func newMarketplace() *marketplace {
	m := &marketplace{orders: map[string]*koogallery.OrderInfo{}}
	mux := http.NewServeMux()
	mux.HandleFunc(koogallery.QueryOrderPath, m.serveQueryOrder)
	m.server = httptest.NewServer(mux)
	return m
}

// orderClock hands out createTimes: one second apart, in creation order, so
// rules E and P never meet a tie. They start a day back, as a real order's
// createTime lies in the past, with room for a long run's orders.
var orderClock = struct {
	start time.Time
	ticks atomic.Int64
}{start: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)}

// nextCreateTime is the createTime of the order the marketplace creates now.
func nextCreateTime() time.Time {
	return orderClock.start.Add(time.Duration(orderClock.ticks.Add(1)) * time.Second)
}

// orderTypes are Query Order's orderType for the order each callback brings.
var orderTypes = map[string]string{
	NewInstance: koogallery.OrderNew, UpgradeInstance: koogallery.OrderChange, ReleaseInstance: koogallery.OrderUnsubscribe,
	Renewal: koogallery.OrderRenew, TrialToFormal: koogallery.OrderTrialToFormal,
	RenewalChange: koogallery.OrderChange, Unsubscribe: koogallery.OrderUnsubscribe,
}

// add makes Query Order know o, an order for productID: a new order, or one
// more line of a purchase whose order has several lines.
func (m *marketplace) add(o Order, productID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	info := m.orders[o.ID]
	if info == nil {
		kind := o.Activity
		if o.Activity == RefreshInstance {
			kind = o.Scene
		}
		info = &koogallery.OrderInfo{OrderID: o.ID, OrderType: orderTypes[kind], CreateTime: o.CreateTime.UTC().Format(createTimeLayout),
			BuyerInfo: &koogallery.BuyerInfo{CustomerID: "lifecycle-buyer", CustomerName: "lifecycle_buyer"}}
		m.orders[o.ID] = info
	}
	info.OrderLine = append(info.OrderLine, koogallery.OrderLine{
		OrderLineID: o.LineID, ChargingMode: koogallery.ChargingPeriod, PeriodType: "year", PeriodNumber: 1,
		ExpireTime:  o.ExpireTime.UTC().Format(createTimeLayout),
		ProductInfo: []koogallery.ProductInfo{{ProductID: productID, SKUCode: o.SKU, ProductName: "lifecycle product"}},
	})
}

// serveQueryOrder answers an order, only the asked line when one is named,
// to requests signed with the product's AK/SK.
func (m *marketplace) serveQueryOrder(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	lookup := func(ak string) (string, bool) { return secretAccessKey, ak == accessKeyID }
	if err := koogallery.VerifyAPIGSignature(r, nil, lookup, time.Now(), 15*time.Minute); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "APIG.0301", "error_msg": "incorrect signature"})
		return
	}
	info, ok := m.order(r.URL.Query().Get("orderId"), r.URL.Query().Get("orderLineId"))
	if !ok {
		_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: "MKT.9001", ResultMsg: "order not found"})
		return
	}
	_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: koogallery.OpenAPISuccess, ResultMsg: "Success", OrderInfo: info})
}

// order copies an order, keeping only lineID's line when lineID is set.
func (m *marketplace) order(orderID, lineID string) (*koogallery.OrderInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.orders[orderID]
	if !ok {
		return nil, false
	}
	info := *stored
	info.OrderLine = nil
	for _, line := range stored.OrderLine {
		if lineID == "" || line.OrderLineID == lineID {
			info.OrderLine = append(info.OrderLine, line)
		}
	}
	return &info, len(info.OrderLine) > 0
}
