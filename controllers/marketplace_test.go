package controllers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	// down are the orders whose Query Order answers HTTP 500, as during a
	// marketplace outage.
	down map[string]bool
	// uploads are the licences accepted per eventId; uploadAttempts counts
	// every signed attempt; failUploads makes the next attempts of an event
	// fail with a 500, as a marketplace outage would.
	uploads        map[string][]string
	uploadAttempts map[string]int
	failUploads    map[string]int
	// usage serves the usage push.
	usage *fakeUsage
}

func newFakeMarketplace() *fakeMarketplace {
	m := &fakeMarketplace{orders: map[string]koogallery.OrderInfo{}, calls: map[string]int{}, down: map[string]bool{},
		uploads: map[string][]string{}, uploadAttempts: map[string]int{}, failUploads: map[string]int{},
		usage: newFakeUsage(usageKey())}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+koogallery.UsageDataPath, m.usage.serve)
	mux.HandleFunc(koogallery.QueryOrderPath, m.serveQueryOrder)
	mux.HandleFunc("POST "+koogallery.LicenseUploadPathPrefix+"{event}"+koogallery.LicenseUploadPathSuffix, m.serveUpload)
	m.server = httptest.NewServer(mux)
	return m
}

// addOrder makes order orderID (line orderID-000001) resolve to sku.
func (m *fakeMarketplace) addOrder(orderID, productID, sku, expireTime string) {
	m.addOrderCharged(orderID, productID, sku, expireTime, koogallery.ChargingPeriod)
}

// addOrderCharged is addOrder with a charging mode, e.g. pay-per-use.
func (m *fakeMarketplace) addOrderCharged(orderID, productID, sku, expireTime, chargingMode string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.orders[orderID] = koogallery.OrderInfo{
		OrderID: orderID, OrderType: koogallery.OrderNew, CreateTime: time.Now().UTC().Format("20060102150405"),
		OrderLine: []koogallery.OrderLine{{
			OrderLineID: orderID + "-000001", ChargingMode: chargingMode, PeriodType: "year", PeriodNumber: 1,
			ExpireTime:  expireTime,
			ProductInfo: []koogallery.ProductInfo{{ProductID: productID, SKUCode: sku, ProductName: "test product"}},
		}},
		BuyerInfo: &koogallery.BuyerInfo{CustomerID: "459bbbec25d24749b2eb83be37b602a8", CustomerName: "mock_user_01", MobilePhone: "18688888888"},
	}
}

// addOrderCreated is addOrder with the order's createTime, which orders
// plan and expiry changes (docs/lifecycle.md rules E and P).
func (m *fakeMarketplace) addOrderCreated(orderID, productID, sku, expireTime string, created time.Time) {
	m.addOrder(orderID, productID, sku, expireTime)
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orders[orderID]
	o.CreateTime = created.UTC().Format("20060102150405")
	m.orders[orderID] = o
}

// dropProducts makes Query Order answer orderID's line without a product,
// as it may for a refund: the order keeps its createTime.
func (m *fakeMarketplace) dropProducts(orderID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orders[orderID]
	o.OrderLine[0].ProductInfo = nil
	m.orders[orderID] = o
}

// setDown makes Query Order of orderID answer HTTP 500 (down) or normally.
func (m *fakeMarketplace) setDown(orderID string, down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down[orderID] = down
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
	down := m.down[orderID]
	m.mu.Unlock()
	if down {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: "MKT.0999", ResultMsg: "system error"})
		return
	}
	if !ok {
		_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: "MKT.9001", ResultMsg: "order not found"})
		return
	}
	_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: koogallery.OpenAPISuccess, ResultMsg: "Success", OrderInfo: &order})
}

// serveUpload accepts a licence upload (spec §6.6) signed with the test
// AK/SK over the exact body, unless told to fail it.
func (m *fakeMarketplace) serveUpload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	lookup := func(ak string) (string, bool) { return testSecretAccessKey, ak == testAccessKeyID }
	if err != nil || koogallery.VerifyAPIGSignature(r, body, lookup, time.Now(), 15*time.Minute) != nil {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "APIG.0301", "error_msg": "incorrect signature"})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		Type       string `json:"type"`
		Characters string `json:"characters"`
		SHA256     string `json:"sha256"`
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil || json.Unmarshal([]byte(r.FormValue(koogallery.LicenseUploadPart)), &req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "MKT.0101", "error_msg": "bad multipart body"})
		return
	}
	event := r.PathValue("event")
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploadAttempts[event]++
	if m.failUploads[event] > 0 {
		m.failUploads[event]--
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "MKT.0999", "error_msg": "system error"})
		return
	}
	sum := sha256.Sum256([]byte(req.Characters))
	if req.Type != koogallery.LicenseTypeCharacters || req.SHA256 != hex.EncodeToString(sum[:]) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "MKT.0101", "error_msg": "bad licence"})
		return
	}
	m.uploads[event] = append(m.uploads[event], req.Characters)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": koogallery.OpenAPISuccess, "error_msg": "success"})
}

// failNextUploads makes the next n uploads of event fail.
func (m *fakeMarketplace) failNextUploads(event string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failUploads[event] = n
}

// uploaded returns the licences accepted for event, and every attempt made.
func (m *fakeMarketplace) uploaded(event string) (accepted []string, attempts int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.uploads[event]...), m.uploadAttempts[event]
}

// setBuyer makes order orderID's buyer customerID, with a linear value
// (the quantity bought; 0 leaves none).
func (m *fakeMarketplace) setBuyer(orderID, customerID string, linearValue int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orders[orderID]
	o.BuyerInfo = &koogallery.BuyerInfo{CustomerID: customerID, CustomerName: "mock_user_" + customerID}
	if linearValue > 0 {
		v := json.Number(strconv.FormatInt(linearValue, 10))
		o.OrderLine[0].ProductInfo[0].LinearValue = &v
	}
	m.orders[orderID] = o
}
