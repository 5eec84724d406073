package controllers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// The AK/SK the fake marketplace accepts (the spec's documentation example).
const (
	testAccessKeyID     = "QTWAOYTTINDUT2QVKYUC"
	testSecretAccessKey = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
)

// fakeMarketplace serves Query Order from orders the tests add, checking the
// AK/SK signature as the marketplace does. It is the one stand-in of these
// tests: the real marketplace cannot run here.
type fakeMarketplace struct {
	server *httptest.Server
	mu     sync.Mutex
	orders map[string]koogallery.OrderInfo
	calls  map[string]int
}

func newFakeMarketplace() *fakeMarketplace {
	m := &fakeMarketplace{orders: map[string]koogallery.OrderInfo{}, calls: map[string]int{}}
	m.server = httptest.NewServer(http.HandlerFunc(m.serveQueryOrder))
	return m
}

// addOrder makes order orderID (line orderID-000001) resolve to sku.
func (m *fakeMarketplace) addOrder(orderID, productID, sku, expireTime string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.orders[orderID] = koogallery.OrderInfo{
		OrderID: orderID, OrderType: koogallery.OrderNew, CreateTime: time.Now().UTC().Format("20060102150405"),
		OrderLine: []koogallery.OrderLine{{
			OrderLineID: orderID + "-000001", ChargingMode: koogallery.ChargingPeriod, PeriodType: "year", PeriodNumber: 1,
			ExpireTime:  expireTime,
			ProductInfo: []koogallery.ProductInfo{{ProductID: productID, SKUCode: sku, ProductName: "test product"}},
		}},
		BuyerInfo: &koogallery.BuyerInfo{CustomerID: "459bbbec25d24749b2eb83be37b602a8", CustomerName: "mock_user_01", MobilePhone: "18688888888"},
	}
}

func (m *fakeMarketplace) queries(orderID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[orderID]
}

func (m *fakeMarketplace) serveQueryOrder(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	lookup := func(ak string) (string, bool) { return testSecretAccessKey, ak == testAccessKeyID }
	if err := koogallery.VerifyAPIGSignature(r, nil, lookup, time.Now(), 15*time.Minute); err != nil || r.URL.Path != koogallery.QueryOrderPath {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "APIG.0301", "error_msg": "incorrect signature"})
		return
	}
	orderID := r.URL.Query().Get("orderId")
	m.mu.Lock()
	m.calls[orderID]++
	order, ok := m.orders[orderID]
	m.mu.Unlock()
	if !ok {
		_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: "MKT.9001", ResultMsg: "order not found"})
		return
	}
	_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: koogallery.OpenAPISuccess, ResultMsg: "Success", OrderInfo: &order})
}
