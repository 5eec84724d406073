package main

import (
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

// An answer is one callback attempt as the marketplace saw it.
type answer struct {
	// sent is when the callback left; at when its answer (or failure) came.
	sent       time.Time
	at         time.Time
	receiver   int
	code       string
	instanceID string
}

// acknowledged reports whether the marketplace stops retrying on this
// answer: 000000, or 000004 for newInstance (accepted and being processed;
// spec §1.6 and §5).
func (a answer) acknowledged() bool {
	return a.code == string(koogallery.ResultSuccess) || a.code == string(koogallery.ResultProcessing)
}

// An order is one purchase the driver made, with every answer it got.
type order struct {
	id        string
	firstSent time.Time
	answers   []answer
}

// ack is the answer that acknowledged the order, if any.
func (o *order) ack() (answer, bool) {
	for _, a := range o.answers {
		if a.acknowledged() {
			return a, true
		}
	}
	return answer{}, false
}

// driver plays KooGallery: it registers each purchase with the simulator
// (so that Query Order resolves it), sends newInstance to one receiver in
// turn as a load balancer would, and retries every answer other than
// 000000/000004 with the same order but a fresh nonce and timestamp.
type driver struct {
	receivers []string
	stack     *localstack.Stack
	key       string
	productID string
	skuCode   string
	// chargingMode is the orders' (koogallery.Charging*); empty is a year.
	chargingMode string
	http         *http.Client

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
		o := &order{id: fmt.Sprintf("%s%06d", prefix, i), firstSent: time.Now()}
		d.mu.Lock()
		d.orders = append(d.orders, o)
		d.mu.Unlock()
		wg.Go(func() { d.buy(ctx, o) })
	}
	wg.Wait()
}

// buy registers the order and sends newInstance until it is acknowledged.
func (d *driver) buy(ctx context.Context, o *order) {
	for delay := firstRetry; ; delay = min(2*delay, maxRetry) {
		if err := d.registerOrder(ctx, o.id); err == nil {
			break
		}
		if !pause(ctx, delay) {
			return
		}
	}
	for delay := firstRetry; ; delay = min(2*delay, maxRetry) {
		a := d.newInstance(ctx, o.id)
		d.mu.Lock()
		o.answers = append(o.answers, a)
		d.mu.Unlock()
		if a.acknowledged() || !pause(ctx, delay) {
			return
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

// newInstance sends one signed newInstance (spec §3.2) to the next
// receiver, with a fresh nonce and timestamp.
func (d *driver) newInstance(ctx context.Context, orderID string) answer {
	receiver := int(d.next.Add(1)-1) % len(d.receivers)
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	d.inFlightOn[receiver].Add(1)
	defer d.inFlightOn[receiver].Add(-1)
	sent := time.Now()
	code, instanceID := d.send(ctx, d.receivers[receiver], newInstanceBody(orderID))
	return answer{sent: sent, at: time.Now(), receiver: receiver, code: code, instanceID: instanceID}
}

// newInstanceBody is the purchase's body: the same on every retry, as
// KooGallery resends the same order.
func newInstanceBody(orderID string) string {
	return fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":"%s-000001","businessId":"%s-b"}`, orderID, orderID, orderID)
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
		Customer: "chaos", ChargingMode: d.chargingMode})
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
		c := *o
		c.answers = append([]answer(nil), o.answers...)
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
