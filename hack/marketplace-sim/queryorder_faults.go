package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Test-only fault injection for Query Order, and a count of the calls it
// got: the chaos suite (hack/chaos, scenario 5) makes Query Order fail for
// minutes and checks that kooper neither hammers it nor forgets to retry.
const (
	simQueryOrderOutagePath = "/sim/queryorder/outage"
	simQueryOrderCallsPath  = "/sim/queryorder/calls"
)

// codeSystemError is what the marketplace answers, with HTTP 500, when it
// fails on its side (§6.7: "Server-side error").
const codeSystemError = "MKT.0999"

// maxQueryOrderOutage bounds an injected outage: a forgotten one ends by itself.
const maxQueryOrderOutage = 24 * time.Hour

// maxQueryOrderCalls bounds the calls remembered; past it the oldest go.
const maxQueryOrderCalls = 200_000

// queryOrderCall is one Query Order request as the simulator received it.
type queryOrderCall struct {
	orderID string
	at      time.Time
	// failed is set when the call was answered with the injected outage.
	failed bool
}

// outageRequest is the body of POST /sim/queryorder/outage: how long from
// now, or until when, Query Order answers HTTP 500. Exactly one is set.
type outageRequest struct {
	// Seconds is the outage's length from now.
	Seconds int `json:"seconds,omitempty"`
	// Until is the outage's end, RFC 3339.
	Until string `json:"until,omitempty"`
}

// queryOrderOutageState is the answer of the outage endpoints: the end of the
// outage in force, RFC 3339, or "" when Query Order answers normally.
type queryOrderOutageState struct {
	Until string `json:"until"`
}

// end is the outage's end that the request asks for, from now.
func (o outageRequest) end(now time.Time) (time.Time, error) {
	var until time.Time
	switch {
	case o.Seconds != 0 && o.Until != "":
		return time.Time{}, fmt.Errorf("give seconds or until, not both")
	case o.Seconds > 0:
		until = now.Add(time.Duration(o.Seconds) * time.Second)
	case o.Until != "":
		t, err := time.Parse(time.RFC3339, o.Until)
		if err != nil {
			return time.Time{}, fmt.Errorf("until must be an RFC 3339 time")
		}
		until = t
	default:
		return time.Time{}, fmt.Errorf("seconds (a positive number) or until is required")
	}
	if !until.After(now) || until.Sub(now) > maxQueryOrderOutage {
		return time.Time{}, fmt.Errorf("the outage must end in the future and within %s", maxQueryOrderOutage)
	}
	return until, nil
}

// startOutage serves POST /sim/queryorder/outage: every Query Order call
// is answered HTTP 500 MKT.0999 until the outage's end, or until cleared.
func (s *simServer) startOutage(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, maxRegistrationBody)
	if !ok {
		return
	}
	var req outageRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, "the body is not an outage: "+err.Error())
		return
	}
	until, err := req.end(s.cfg.now())
	if err != nil {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.outageUntil = until
	s.mu.Unlock()
	state := queryOrderOutageState{Until: until.UTC().Format(time.RFC3339Nano)}
	s.reply(w, r, http.StatusCreated, koogallery.OpenAPISuccess, state, "Query Order fails until "+state.Until)
}

// clearOutage serves DELETE /sim/queryorder/outage: Query Order answers
// normally again at once.
func (s *simServer) clearOutage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.outageUntil = time.Time{}
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, queryOrderOutageState{}, "Query Order outage cleared")
}

// getQueryOrderOutage serves GET /sim/queryorder/outage.
func (s *simServer) getQueryOrderOutage(w http.ResponseWriter, r *http.Request) {
	state := queryOrderOutageState{}
	s.mu.Lock()
	if s.cfg.now().Before(s.outageUntil) {
		state.Until = s.outageUntil.UTC().Format(time.RFC3339Nano)
	}
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, state, "")
}

// recordQueryOrder remembers a Query Order call and reports whether the
// injected outage fails it.
func (s *simServer) recordQueryOrder(orderID string) (failed bool) {
	now := s.cfg.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	failed = now.Before(s.outageUntil)
	if len(s.queryOrderCalls) >= maxQueryOrderCalls {
		s.queryOrderCalls = s.queryOrderCalls[1:]
	}
	s.queryOrderCalls = append(s.queryOrderCalls, queryOrderCall{orderID: orderID, at: now, failed: failed})
	return failed
}

// failQueryOrder answers a Query Order call with the injected outage.
func (s *simServer) failQueryOrder(w http.ResponseWriter, r *http.Request, orderID string) {
	s.reply(w, r, http.StatusInternalServerError, codeSystemError,
		queryOrderAnswer{ResultCode: codeSystemError, ResultMsg: "system error (injected outage)"}, "orderId "+orderID+": injected outage")
}

// callCounts is the answer of GET /sim/queryorder/calls: Query Order calls
// received in [since, until), by orderId, those the outage failed, and
// when each order's first call in the window came (RFC 3339).
type callCounts struct {
	Since  string            `json:"since,omitempty"`
	Until  string            `json:"until,omitempty"`
	Total  int               `json:"total"`
	Calls  map[string]int    `json:"calls"`
	Failed map[string]int    `json:"failed"`
	First  map[string]string `json:"first"`
}

// listQueryOrderCalls serves GET /sim/queryorder/calls[?since=…][&until=…]
// (RFC 3339): how many Query Order calls each order got in the window,
// all of them without one.
func (s *simServer) listQueryOrderCalls(w http.ResponseWriter, r *http.Request) {
	var since, until time.Time
	for name, t := range map[string]*time.Time{"since": &since, "until": &until} {
		v := r.URL.Query().Get(name)
		if v == "" {
			continue
		}
		parsed, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.replyError(w, r, http.StatusBadRequest, codeBadRequest, name+" must be an RFC 3339 time")
			return
		}
		*t = parsed
	}
	counts := callCounts{Since: r.URL.Query().Get("since"), Until: r.URL.Query().Get("until"),
		Calls: map[string]int{}, Failed: map[string]int{}, First: map[string]string{}}
	s.mu.Lock()
	for _, c := range s.queryOrderCalls {
		if c.at.Before(since) || (!until.IsZero() && !c.at.Before(until)) {
			continue
		}
		counts.Total++
		if counts.Calls[c.orderID] == 0 {
			counts.First[c.orderID] = c.at.UTC().Format(time.RFC3339Nano)
		}
		counts.Calls[c.orderID]++
		if c.failed {
			counts.Failed[c.orderID]++
		}
	}
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, counts, "")
}
