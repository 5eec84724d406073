package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kooper-io/kooper/hack/lifecycle"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/localstack"
)

// Retry pace: KooGallery retries a failed newInstance every 2 min for up
// to 3 h (spec §1.7); the suite compresses that to 200 ms, doubling up to
// 2 s, bounded by the scenario's deadline.
const (
	firstRetry = 200 * time.Millisecond
	maxRetry   = 2 * time.Second
)

// noAnswer is the code recorded when a callback got no answer (connection
// refused, timeout, undecodable body): KooGallery retries those too.
const noAnswer = "no answer"

// An answer is one attempt of a callback as the marketplace saw it.
type answer struct {
	// sent is when the callback left; at when its answer (or failure) came.
	sent       time.Time
	at         time.Time
	receiver   int
	code       string
	instanceID string
}

// A callback is one callback the marketplace sent: one copy of a
// duplicated one, retried on its own, with the answer to every attempt.
type callback struct {
	activity string
	// instanceID is the instance a callback other than newInstance names.
	instanceID string
	// status is FREEZE or UNFREEZE for updateInstanceStatus (spec §3.5).
	status  string
	answers []answer
}

// acknowledges reports whether the marketplace stops retrying on a:
// 000000, or 000004 for newInstance only (accepted and being processed;
// spec §1.6 and §5).
func (c *callback) acknowledges(a answer) bool {
	return a.code == string(koogallery.ResultSuccess) ||
		(c.activity == lifecycle.NewInstance && a.code == string(koogallery.ResultProcessing))
}

// ack is the answer that acknowledged the callback, if any.
func (c *callback) ack() (answer, bool) {
	for _, a := range c.answers {
		if c.acknowledges(a) {
			return a, true
		}
	}
	return answer{}, false
}

// An order is one purchase the driver made, with every callback it sent
// for it: its newInstance, and later ones about the instance.
type order struct {
	id        string
	firstSent time.Time
	// callbacks are in the order they were started; each copy of a
	// duplicate is a callback of its own.
	callbacks []*callback
}

// ack is the first answer that acknowledged the purchase (a newInstance).
func (o *order) ack() (answer, bool) {
	var first answer
	found := false
	for _, c := range o.callbacks {
		if a, ok := c.ack(); ok && c.activity == lifecycle.NewInstance && (!found || a.at.Before(first.at)) {
			first, found = a, true
		}
	}
	return first, found
}

// attempts are the answers to every callback of the order, retries
// included.
func (o *order) attempts() []answer {
	var all []answer
	for _, c := range o.callbacks {
		all = append(all, c.answers...)
	}
	return all
}

// unacknowledged counts the order's callbacks never acknowledged.
func (o *order) unacknowledged() int {
	n := 0
	for _, c := range o.callbacks {
		if _, ok := c.ack(); !ok {
			n++
		}
	}
	return n
}

// driver plays KooGallery: it registers each purchase with the simulator
// (so that Query Order resolves it), sends each callback (newInstance, or
// any activity's body) to one receiver in turn as a load balancer would,
// and retries every answer other than 000000 (and 000004 for newInstance)
// with the same body but a fresh nonce and timestamp.
type driver struct {
	receivers []string
	stack     *localstack.Stack
	key       string
	productID string
	skuCode   string
	// chargingMode is the orders' (koogallery.Charging*); empty is a year.
	chargingMode string
	// customer is the buyer's customerId (and name); empty is "chaos".
	customer string
	// linearValue and expireTime are the orders' quantity and expiry
	// (yyyyMMddHHmmss UTC); zero leaves them to the simulator.
	linearValue int
	expireTime  string
	http        *http.Client

	next     atomic.Uint64
	inFlight atomic.Int64
	// inFlightOn counts the callbacks awaiting an answer from each
	// receiver, by index in receivers.
	inFlightOn []atomic.Int64
	mu         sync.Mutex
	orders     []*order
}

// run buys n orders named prefix-000000…, starting them at rate per
// second, and returns when each is acknowledged or ctx ends.
func (d *driver) run(ctx context.Context, prefix string, n int, rate float64) {
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-tick.C:
			}
		}
		o := d.newOrder(fmt.Sprintf("%s%06d", prefix, i))
		wg.Go(func() { d.buy(ctx, o) })
	}
	wg.Wait()
}

// newOrder starts keeping the callbacks of a new order.
func (d *driver) newOrder(id string) *order {
	o := &order{id: id, firstSent: time.Now()}
	d.mu.Lock()
	d.orders = append(d.orders, o)
	d.mu.Unlock()
	return o
}

// buy registers the order and sends newInstance until it is acknowledged.
func (d *driver) buy(ctx context.Context, o *order) {
	if d.register(ctx, o) {
		d.deliver(ctx, o, callback{activity: lifecycle.NewInstance}, newInstanceBody(o.id))
	}
}

// register tells the simulator about the order, retrying until it is
// taken or ctx ends.
func (d *driver) register(ctx context.Context, o *order) bool {
	for delay := firstRetry; ; delay = min(2*delay, maxRetry) {
		if err := d.registerOrder(ctx, o.id); err == nil {
			return true
		}
		if !pause(ctx, delay) {
			return false
		}
	}
}

// storm sends copies of one callback at once (as many duplicates as
// copies, spread across the receivers), each retried on its own until
// acknowledged, and reports whether every copy was.
func (d *driver) storm(ctx context.Context, o *order, copies int, c callback, body string) bool {
	var wg sync.WaitGroup
	var acked atomic.Int64
	for range copies {
		wg.Go(func() {
			if d.deliver(ctx, o, c, body) {
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	return int(acked.Load()) == copies
}

// deliver sends one callback of o, described by sent, with body, to one
// receiver in turn until it is acknowledged or ctx ends; every retry
// carries the same body with a fresh nonce and timestamp (spec §1.7,
// §2.1.2). It reports whether the callback was acknowledged.
func (d *driver) deliver(ctx context.Context, o *order, sent callback, body string) bool {
	c := &callback{activity: sent.activity, instanceID: sent.instanceID, status: sent.status}
	d.mu.Lock()
	o.callbacks = append(o.callbacks, c)
	d.mu.Unlock()
	for delay := firstRetry; ; delay = min(2*delay, maxRetry) {
		a := d.attempt(ctx, body)
		d.mu.Lock()
		c.answers = append(c.answers, a)
		d.mu.Unlock()
		if c.acknowledges(a) {
			return true
		}
		if !pause(ctx, delay) {
			return false
		}
	}
}

// pause waits for d or until ctx ends, reporting whether to go on.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// attempt sends body once, signed with a fresh nonce and timestamp, to
// the next receiver, as a load balancer would.
func (d *driver) attempt(ctx context.Context, body string) answer {
	receiver := int(d.next.Add(1)-1) % len(d.receivers)
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	d.inFlightOn[receiver].Add(1)
	defer d.inFlightOn[receiver].Add(-1)
	sent := time.Now()
	code, instanceID := d.send(ctx, d.receivers[receiver], body)
	return answer{sent: sent, at: time.Now(), receiver: receiver, code: code, instanceID: instanceID}
}

// newInstanceBody is the purchase's body (spec §3.2): the same on every
// retry and every duplicate, as KooGallery resends the same order.
func newInstanceBody(orderID string) string {
	return fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":"%s-000001","businessId":"%s-b"}`, orderID, orderID, orderID)
}

// updateInstanceStatusBody freezes or unfreezes an instance (spec §3.5;
// status FREEZE or UNFREEZE).
func updateInstanceStatusBody(instanceID, status string) string {
	return fmt.Sprintf(`{"activity":"updateInstanceStatus","instanceId":%q,"status":%q}`, instanceID, status)
}

// send signs body as the marketplace does (spec §2.1.2, fresh nonce and
// timestamp) and returns the answer's resultCode and instanceId.
func (d *driver) send(ctx context.Context, receiverURL, body string) (code, instanceID string) {
	canonical, err := koogallery.CanonicalPayload([]byte(body))
	if err != nil {
		return noAnswer, ""
	}
	ts, n := strconv.FormatInt(time.Now().UnixMilli(), 10), nonce()
	q := url.Values{"signature": {koogallery.SignBasic(d.key, n, ts, canonical)}, "timestamp": {ts}, "nonce": {n}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, receiverURL+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		return noAnswer, ""
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return noAnswer, ""
	}
	defer func() { _ = resp.Body.Close() }()
	var a struct {
		ResultCode string `json:"resultCode"`
		InstanceID string `json:"instanceId"`
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || json.Unmarshal(data, &a) != nil || a.ResultCode == "" {
		return noAnswer, ""
	}
	return a.ResultCode, a.InstanceID
}

// registerOrder tells the simulator about the purchase, so that the
// controllers' Query Order resolves it.
func (d *driver) registerOrder(ctx context.Context, orderID string) error {
	return d.stack.RegisterOrder(ctx, d.http, localstack.SimOrder{OrderID: orderID, ProductID: d.productID, SKUCode: d.skuCode,
		Customer: cmp.Or(d.customer, "chaos"), ChargingMode: d.chargingMode, LinearValue: d.linearValue, ExpireTime: d.expireTime})
}

func nonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// snapshot copies the orders sent so far, for the checker and the report.
func (d *driver) snapshot() []order {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]order, 0, len(d.orders))
	for _, o := range d.orders {
		c := order{id: o.id, firstSent: o.firstSent}
		for _, cb := range o.callbacks {
			copied := *cb
			copied.answers = append([]answer(nil), cb.answers...)
			c.callbacks = append(c.callbacks, &copied)
		}
		out = append(out, c)
	}
	return out
}

// acknowledgedCount is how many orders have been acknowledged so far.
func (d *driver) acknowledgedCount() int {
	n := 0
	for _, o := range d.snapshot() {
		if _, ok := o.ack(); ok {
			n++
		}
	}
	return n
}
