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
		res.Receiver = openLoop(ctx, rate, d, func(ctx context.Context, n int) error {
			_, err := b.newInstance(ctx, fmt.Sprintf("BENCHR%dx%d", i, n), true)
			return err
		})
		if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
			return fmt.Errorf("the operator did not settle after %d/s: %w", rate, err)
		}
		logf("Raw client Create at %d/s for %s", rate, d)
		res.Raw = openLoop(ctx, rate, d, func(ctx context.Context, n int) error {
			return b.client.Create(ctx, debugTenant(fmt.Sprintf("BENCHC%dx%d", i, n)))
		})
		r.Rates = append(r.Rates, res)
		if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
			return fmt.Errorf("the operator did not settle after %d/s: %w", rate, err)
		}
	}
	return nil
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
