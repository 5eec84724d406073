package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/localstack"
)

// latencies summarises one open-loop run.
type latencies struct {
	Sent     int
	Errors   int
	Achieved float64 // requests answered per second over the run
	P50      time.Duration
	P99      time.Duration
	Max      time.Duration
	FirstErr string
}

// rateResult is one arrival rate: the receiver next to a raw Create.
type rateResult struct {
	Rate     int
	Receiver latencies
	Raw      latencies
	// Retries are the receiver's 000005 answers retried as the marketplace
	// retries them (spec §1.7): the same order again, a new businessId.
	Retries retries
	// RawAsReceiver is the raw Create made with the receiver's own
	// ServiceAccount token; nil at rates of pairedBelow and above.
	RawAsReceiver *latencies
	// ReceiverWaits, RawWaits and RawAsReceiverWaits are what every
	// client's requests waited in API Priority and Fairness's queues during
	// each way's runs; nil when kube-apiserver's metrics could not be read.
	ReceiverWaits, RawWaits, RawAsReceiverWaits queueWaits
}

// retries is what became of the callbacks answered 000005 (the receiver's
// APITimeout: it could not confirm the tenant stored in time) once each
// was sent again until answered 000000, within the run.
type retries struct {
	Answered000005 int           // first answers that were 000005
	Stored         int           // of them, answered 000000 by a retry
	Lost           int           // of them, never answered 000000 before the deadline
	MaxAttempts    int           // the most retries one order needed
	Took           time.Duration // from the first retry to the last answer
	FirstErr       string
}

// plus is r and o, two runs' retries, as one: their counts summed, the
// most attempts of either, their times added, the first error of r, else o.
func (r retries) plus(o retries) retries {
	sum := retries{
		Answered000005: r.Answered000005 + o.Answered000005,
		Stored:         r.Stored + o.Stored,
		Lost:           r.Lost + o.Lost,
		MaxAttempts:    max(r.MaxAttempts, o.MaxAttempts),
		Took:           r.Took + o.Took,
		FirstErr:       r.FirstErr,
	}
	if sum.FirstErr == "" {
		sum.FirstErr = o.FirstErr
	}
	return sum
}

// retryInterval is how long a retry waits after a 000005, and
// retryDeadline how long a rate's retries may take in all. The marketplace
// retries for hours (spec §1.7); the run allows one minute.
const (
	retryInterval = 200 * time.Millisecond
	retryDeadline = time.Minute
)

// retryUntilStored sends each order's newInstance again until it is
// answered 000000 or deadline has passed, 8 orders at a time.
func (b *bench) retryUntilStored(ctx context.Context, orders []string, deadline time.Duration) retries {
	r := retries{Answered000005: len(orders)}
	if len(orders) == 0 {
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for orderID := range work {
				attempts, err := b.retryOne(ctx, orderID)
				mu.Lock()
				r.MaxAttempts = max(r.MaxAttempts, attempts)
				if err != nil {
					r.Lost++
					if r.FirstErr == "" {
						r.FirstErr = err.Error()
					}
				} else {
					r.Stored++
				}
				mu.Unlock()
			}
		})
	}
	for _, orderID := range orders {
		work <- orderID
	}
	close(work)
	wg.Wait()
	r.Took = time.Since(start)
	return r
}

// retryOne retries one order's newInstance until it is answered as stored;
// it returns the retries sent, and an error naming the last answer when
// none was stored before ctx ended.
func (b *bench) retryOne(ctx context.Context, orderID string) (int, error) {
	for attempt := 1; ; attempt++ {
		// callback takes 000000, and 000004 where the receiver is set to
		// answer it, as stored; every other answer is an error.
		_, err := b.newInstance(ctx, orderID, true)
		if err == nil {
			return attempt, nil
		}
		select {
		case <-ctx.Done():
			return attempt, fmt.Errorf("order %s not stored by %d retries, the last answer: %w", orderID, attempt, err)
		case <-time.After(retryInterval):
		}
	}
}

// openRun is one open-loop run: each request's latency, in the order sent.
type openRun struct {
	took     []time.Duration
	errors   int
	firstErr string
	elapsed  time.Duration // from the first request's time to the last answer
}

// openLoop sends rate requests per second for d, each at its scheduled time
// whether or not earlier ones have been answered (a marketplace does not
// wait for us). Latency runs from the scheduled time, so a client that
// falls behind shows up in the figures instead of hiding them.
func openLoop(ctx context.Context, rate int, d time.Duration, do func(ctx context.Context, i int) error) openRun {
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	took := make([]time.Duration, n)
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				wg.Wait()
				return openRun{took: took[:i], errors: int(errs.Load()) + n - i, firstErr: ctx.Err().Error(), elapsed: time.Since(start)}
			}
		}
		wg.Go(func() {
			if err := do(ctx, i); err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
			took[i] = time.Since(at)
		})
	}
	wg.Wait()
	run := openRun{took: took, errors: int(errs.Load()), elapsed: time.Since(start)}
	if e, ok := firstErr.Load().(string); ok {
		run.firstErr = e
	}
	return run
}

// pooled summarises runs of one way at one rate as one: the percentiles of
// all their latencies, their requests and errors summed, the rate achieved
// over their time together, and the first run's first error.
func pooled(runs ...openRun) latencies {
	var took []time.Duration
	var elapsed time.Duration
	var l latencies
	for _, run := range runs {
		took = append(took, run.took...)
		elapsed += run.elapsed
		l.Errors += run.errors
		if l.FirstErr == "" {
			l.FirstErr = run.firstErr
		}
	}
	s := summarise(took)
	s.Sent, s.Errors, s.FirstErr = len(took), l.Errors, l.FirstErr
	if elapsed > 0 {
		s.Achieved = float64(len(took)) / elapsed.Seconds()
	}
	return s
}

// summarise computes the percentiles of took (which it sorts).
func summarise(took []time.Duration) latencies {
	if len(took) == 0 {
		return latencies{}
	}
	slices.Sort(took)
	return latencies{P50: percentile(took, 50), P99: percentile(took, 99), Max: took[len(took)-1]}
}

// percentile of sorted values, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// pairedBelow is the rate under which a rate's figure is a ratio of p99s
// (DESIGN §7: at 50/s, ≤ 1.2× the raw Create's): there every way runs twice,
// half as long each time, in pairedOrder, and its two runs are pooled, so
// that whatever drifts over the minute a rate takes (the API server's
// caches and collector, the controllers' work behind the runs before) falls
// on every way alike. At higher rates the targets are absolute (no answer
// over 1 s, ≤ 5% 000005 under 5 s of load): the receiver and the admin's
// Create run once each, for the whole duration, as before 2026-12-07.
const pairedBelow = 200

// rateWay is one way of sending a rate's purchases.
type rateWay int

const (
	viaReceiver   rateWay = iota // signed newInstance callbacks to the receiver
	rawAsAdmin                   // the SaaSTenant's Create, as the cluster's admin
	rawAsReceiver                // the same Create with the receiver's ServiceAccount token
)

// pairedOrder runs each way, then each again in reverse.
var pairedOrder = []rateWay{viaReceiver, rawAsAdmin, rawAsReceiver, rawAsReceiver, rawAsAdmin, viaReceiver}

// receiverRates runs newInstance through the receiver at each rate, and a
// raw client Create of the same SaaSTenant at the same rate: as the
// cluster's admin (exempt from API Priority and Fairness, no RBAC), and,
// below pairedBelow, with the receiver's own ServiceAccount token too, so
// that the receiver's own cost shows apart from what the API server does
// for any client of its identity. The callbacks are debug ones against the
// Simulate product, so the controller's work behind them stays small and
// the same for every way.
func (b *bench) receiverRates(ctx context.Context, r *results) error {
	asReceiver, err := b.receiverIdentityClient()
	if err != nil {
		return err
	}
	for i, rate := range b.cfg.rates {
		res := rateResult{Rate: rate}
		// At least 100 requests a way, so that p99 is not simply the maximum.
		d := max(b.cfg.rateDuration, 100*time.Second/time.Duration(rate))
		order := []rateWay{viaReceiver, rawAsAdmin}
		if rate < pairedBelow {
			order, d = pairedOrder, d/2
		}
		runs := map[rateWay][]openRun{}
		waits := map[rateWay][]queueWaits{}
		for run, way := range order {
			var got openRun
			var waited queueWaits
			var err error
			switch way {
			case viaReceiver:
				var retried retries
				got, waited, retried, err = b.receiverRun(ctx, i == 0 && run == 0, fmt.Sprintf("BENCHR%dr%d", i, run), rate, d)
				res.Retries = res.Retries.plus(retried)
			case rawAsAdmin:
				logf("Raw client Create as the cluster's admin at %d/s for %s", rate, d)
				got, waited, err = b.rawRun(ctx, b.client, fmt.Sprintf("BENCHC%dr%d", i, run), rate, d)
			case rawAsReceiver:
				logf("Raw client Create as the receiver's ServiceAccount at %d/s for %s", rate, d)
				got, waited, err = b.rawRun(ctx, asReceiver, fmt.Sprintf("BENCHA%dr%d", i, run), rate, d)
			}
			if err != nil {
				return err
			}
			runs[way], waits[way] = append(runs[way], got), append(waits[way], waited)
		}
		res.Receiver, res.Raw = pooled(runs[viaReceiver]...), pooled(runs[rawAsAdmin]...)
		res.ReceiverWaits, res.RawWaits = sumWaits(waits[viaReceiver]...), sumWaits(waits[rawAsAdmin]...)
		if len(runs[rawAsReceiver]) > 0 {
			asReceiverRuns := pooled(runs[rawAsReceiver]...)
			res.RawAsReceiver, res.RawAsReceiverWaits = &asReceiverRuns, sumWaits(waits[rawAsReceiver]...)
		}
		r.Rates = append(r.Rates, res)
	}
	return nil
}

// receiverIdentityClient is a client authenticated as the receiver's
// process is, with a token of its ServiceAccount.
func (b *bench) receiverIdentityClient() (client.Client, error) {
	cfg, err := b.stack.ConfigFor(localstack.Receiver)
	if err != nil {
		return nil, err
	}
	// As the admin's client and the receiver itself: no client-side limit
	// (client-go's default, 5 a second, would queue the run).
	cfg.QPS, cfg.Burst = b.restConfig.QPS, b.restConfig.Burst
	return client.New(cfg, client.Options{Scheme: b.client.Scheme()})
}

// receiverRun sends newInstance through the receiver at rate for d, order
// IDs starting with prefix, tracing the receiver when trace is true;
// retries the callbacks answered 000005 until stored, and waits for the
// operator to settle. It returns the run, what every client's requests
// waited in the API server's queues meanwhile, and what became of the
// retries.
func (b *bench) receiverRun(ctx context.Context, trace bool, prefix string, rate int, d time.Duration) (openRun, queueWaits, retries, error) {
	logf("newInstance through the receiver at %d/s for %s", rate, d)
	var mu sync.Mutex
	var unstored []string
	waits := b.queueWaitsOver(ctx)
	traced := b.traceReceiver(ctx, trace, d)
	got := openLoop(ctx, rate, d, func(ctx context.Context, n int) error {
		orderID := fmt.Sprintf("%sx%d", prefix, n)
		a, err := b.newInstance(ctx, orderID, true)
		if a.ResultCode == string(koogallery.ResultInternalError) {
			mu.Lock()
			unstored = append(unstored, orderID)
			mu.Unlock()
		}
		return err
	})
	waited := waits()
	traced()
	if len(unstored) > 0 {
		logf("Retrying the %d callbacks answered 000005 until each is answered 000000", len(unstored))
	}
	retried := b.retryUntilStored(ctx, unstored, retryDeadline)
	if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
		return got, waited, retried, fmt.Errorf("the operator did not settle after %d/s: %w", rate, err)
	}
	return got, waited, retried, nil
}

// rawRun creates, with c, the SaaSTenant a debug newInstance would, at rate
// for d, order IDs starting with prefix, and waits for the operator to
// settle. It returns the run and what every client's requests waited in
// the API server's queues meanwhile.
func (b *bench) rawRun(ctx context.Context, c client.Client, prefix string, rate int, d time.Duration) (openRun, queueWaits, error) {
	waits := b.queueWaitsOver(ctx)
	got := openLoop(ctx, rate, d, func(ctx context.Context, n int) error {
		return c.Create(ctx, debugTenant(fmt.Sprintf("%sx%d", prefix, n)))
	})
	waited := waits()
	if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
		return got, waited, fmt.Errorf("the operator did not settle after %d/s: %w", rate, err)
	}
	return got, waited, nil
}

// traceReceiver records the receiver's execution trace (Go's runtime/trace,
// for `go tool trace`; `-pprof=net` and `-pprof=sync` of it show where
// callbacks waited) over a run of duration d when trace is true (the first
// rate's first run), into receiver-trace.out, in the background: a CPU
// profile cannot show what a callback waits for, which at a low rate is
// most of its time. The returned wait blocks until it is written and logs
// a failure rather than failing the run; later runs are not traced (their
// traces are large).
func (b *bench) traceReceiver(ctx context.Context, trace bool, d time.Duration) (wait func()) {
	if !trace {
		return func() {}
	}
	done := make(chan error, 1)
	go func() {
		done <- b.saveProfile(ctx, b.stack.MetricsURL, "trace", fmt.Sprintf("seconds=%d", int(d.Seconds()+0.5)), "receiver-trace.out")
	}()
	return func() {
		if err := <-done; err != nil {
			logf("No execution trace of the receiver: %v", err)
		}
	}
}

// debugTenant is the SaaSTenant the receiver writes for a debug newInstance
// of orderID on the bench product (webhook/handlers.go), under a name of
// the same length and form.
func debugTenant(orderID string) *saasv1alpha1.SaaSTenant {
	sum := sha256.Sum256([]byte(orderID))
	id := "i-" + hex.EncodeToString(sum[:])[:20]
	t := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: id, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.ProductLabel: benchProduct}},
		Spec: saasv1alpha1.SaaSTenantSpec{
			InstanceID: id, ProductName: benchProduct, OrderID: orderID, OrderLineID: orderID + "-000001",
			BusinessID: nonce(), State: saasv1alpha1.StateActive, Mode: saasv1alpha1.ModeDebug,
			Orders: []saasv1alpha1.AppliedOrder{{OrderID: orderID, OrderLineID: orderID + "-000001",
				Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: metav1.Now()}},
		},
	}
	return t
}
