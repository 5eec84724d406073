package main

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// queryOrderAnswer is Query Order's answer (§6.3).
type queryOrderAnswer struct {
	ResultCode string     `json:"resultCode"`
	ResultMsg  string     `json:"resultMsg"`
	OrderInfo  *orderInfo `json:"orderInfo,omitempty"`
}

// Query Order's result codes. MKT.9001 is listed with HTTP 500 in §6.7; the
// docs do not say what an unknown order gets, so the simulator answers as
// that table does.
const (
	codeNotFound   = "MKT.9001"
	codeBadRequest = "MKT.0101"
)

// queryOrder serves GET .../order/query?orderId=…[&orderLineId=…]: a mock
// order or a registered one, after the AK/SK check. With orderLineId, only
// that line is returned. Every call is counted (GET /sim/queryorder/calls)
// and, during an injected outage, answered HTTP 500 before anything else,
// as a failing marketplace would.
func (s *simServer) queryOrder(w http.ResponseWriter, r *http.Request) {
	orderID, lineID := r.URL.Query().Get("orderId"), r.URL.Query().Get("orderLineId")
	if s.recordQueryOrder(orderID) {
		s.failQueryOrder(w, r, orderID)
		return
	}
	if !s.authenticate(w, r, nil) {
		return
	}
	if orderID == "" {
		s.reply(w, r, http.StatusBadRequest, codeBadRequest,
			queryOrderAnswer{ResultCode: codeBadRequest, ResultMsg: "orderId is required"}, "no orderId")
		return
	}
	order, ok := s.findOrder(orderID, lineID)
	if !ok {
		s.reply(w, r, http.StatusInternalServerError, codeNotFound,
			queryOrderAnswer{ResultCode: codeNotFound, ResultMsg: "order not found"}, "orderId "+orderID+" is unknown")
		return
	}
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess,
		queryOrderAnswer{ResultCode: koogallery.OpenAPISuccess, ResultMsg: "Success", OrderInfo: &order}, "orderId "+orderID)
}

// findOrder returns a mock or registered order, narrowed to lineID when it
// is set.
func (s *simServer) findOrder(orderID, lineID string) (orderInfo, bool) {
	order, ok := s.mocks[orderID]
	if !ok {
		s.mu.Lock()
		order, ok = s.orders[orderID]
		s.mu.Unlock()
	}
	if !ok || lineID == "" {
		return order, ok
	}
	i := slices.IndexFunc(order.OrderLine, func(l orderLine) bool { return l.OrderLineID == lineID })
	if i < 0 {
		return orderInfo{}, false
	}
	order.OrderLine = []orderLine{order.OrderLine[i]}
	return order, true
}

// registerOrder serves POST /sim/orders: it stores a purchase so that Query
// Order resolves it. Registering an order ID again replaces it; the mock IDs
// cannot be replaced.
func (s *simServer) registerOrder(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, maxRegistrationBody)
	if !ok {
		return
	}
	var reg orderRegistration
	if err := json.Unmarshal(body, &reg); err != nil {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, "the body is not an order registration: "+err.Error())
		return
	}
	if err := reg.validate(); err != nil {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	if _, isMock := s.mocks[reg.OrderID]; isMock {
		s.replyError(w, r, http.StatusConflict, codeBadRequest, "orderId "+reg.OrderID+" is a mock order and cannot be replaced")
		return
	}
	order := reg.order(s.cfg.now())
	if !s.storeOrder(order) {
		s.replyError(w, r, http.StatusInsufficientStorage, "MKT.0999", "the simulator holds too many orders; restart it")
		return
	}
	s.reply(w, r, http.StatusCreated, koogallery.OpenAPISuccess, struct {
		OrderInfo orderInfo `json:"orderInfo"`
	}{order}, "registered "+order.OrderID)
}

// storeOrder keeps order, refusing new IDs beyond maxRegisteredOrders.
func (s *simServer) storeOrder(order orderInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.orders[order.OrderID]; !exists {
		if len(s.orderSeq) >= maxRegisteredOrders {
			return false
		}
		s.orderSeq = append(s.orderSeq, order.OrderID)
	}
	s.orders[order.OrderID] = order
	return true
}

// listOrders serves GET /sim/orders: the registered orders in registration
// order, and the mock order IDs.
func (s *simServer) listOrders(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	orders := make([]orderInfo, 0, len(s.orderSeq))
	for _, id := range s.orderSeq {
		orders = append(orders, s.orders[id])
	}
	s.mu.Unlock()
	mocks := make([]string, 0, len(s.mocks))
	for _, spec := range mockSpecs() {
		mocks = append(mocks, spec.orderID)
	}
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, struct {
		Orders       []orderInfo `json:"orders"`
		MockOrderIDs []string    `json:"mockOrderIds"`
	}{orders, mocks}, "")
}
