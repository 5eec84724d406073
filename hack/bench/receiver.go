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

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
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
	// ReceiverWaits and RawWaits are what every client's requests waited
	// in API Priority and Fairness's queues during each run; nil when
	// kube-apiserver's metrics could not be read.
	ReceiverWaits, RawWaits queueWaits
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

// openLoop sends rate requests per second for d, each at its scheduled time
// whether or not earlier ones have been answered (a marketplace does not
// wait for us). Latency runs from the scheduled time, so a client that
// falls behind shows up in the figures instead of hiding them.
func openLoop(ctx context.Context, rate int, d time.Duration, do func(ctx context.Context, i int) error) latencies {
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
				return latencies{Sent: i, FirstErr: ctx.Err().Error()}
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
	l := summarise(took)
	l.Sent, l.Errors = n, int(errs.Load())
	l.Achieved = float64(n) / time.Since(start).Seconds()
	if e, ok := firstErr.Load().(string); ok {
		l.FirstErr = e
	}
	return l
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

// receiverRates runs newInstance through the receiver at each rate, then a
// raw client Create of the same SaaSTenant at the same rate. The callbacks
// are debug ones against the Simulate product, so the controller's work
// behind them stays small and the same for both.
func (b *bench) receiverRates(ctx context.Context, r *results) error {
	for i, rate := range b.cfg.rates {
		res := rateResult{Rate: rate}
		// At least 100 requests, so that p99 is not simply the maximum.
		d := max(b.cfg.rateDuration, 100*time.Second/time.Duration(rate))
		logf("newInstance through the receiver at %d/s for %s", rate, d)
		var mu sync.Mutex
		var unstored []string
		waits := b.queueWaitsOver(ctx)
		traced := b.traceReceiver(ctx, i, d)
		res.Receiver = openLoop(ctx, rate, d, func(ctx context.Context, n int) error {
			orderID := fmt.Sprintf("BENCHR%dx%d", i, n)
			a, err := b.newInstance(ctx, orderID, true)
			if a.ResultCode == string(koogallery.ResultInternalError) {
				mu.Lock()
				unstored = append(unstored, orderID)
				mu.Unlock()
			}
			return err
		})
		res.ReceiverWaits = waits()
		traced()
		if len(unstored) > 0 {
			logf("Retrying the %d callbacks answered 000005 until each is answered 000000", len(unstored))
		}
		res.Retries = b.retryUntilStored(ctx, unstored, retryDeadline)
		if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
			return fmt.Errorf("the operator did not settle after %d/s: %w", rate, err)
		}
		logf("Raw client Create at %d/s for %s", rate, d)
		waits = b.queueWaitsOver(ctx)
		res.Raw = openLoop(ctx, rate, d, func(ctx context.Context, n int) error {
			return b.client.Create(ctx, debugTenant(fmt.Sprintf("BENCHC%dx%d", i, n)))
		})
		res.RawWaits = waits()
		r.Rates = append(r.Rates, res)
		if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
			return fmt.Errorf("the operator did not settle after %d/s: %w", rate, err)
		}
	}
	return nil
}

// traceReceiver records the receiver's execution trace (Go's runtime/trace,
// for `go tool trace`; `-pprof=net` and `-pprof=sync` of it show where
// callbacks waited) over the first rate's run of duration d, into
// receiver-trace.out, in the background: a CPU profile cannot show what a
// callback waits for, which at a low rate is most of its time. The
// returned wait blocks until it is written and logs a failure rather than
// failing the run; later rates are not traced (their traces are large).
func (b *bench) traceReceiver(ctx context.Context, index int, d time.Duration) (wait func()) {
	if index != 0 {
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
