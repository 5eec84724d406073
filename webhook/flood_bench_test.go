package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// BenchmarkQueryInstanceUnderFlood measures a signed queryInstance's p99
// while 32 clients send 1 MiB bodies with a current timestamp, the real
// product name and a wrong signature, as a ratio to the p99 of the same
// receiver idle, measured first in the same run (issue 19). "before" is
// the receiver with the old limits (1 MiB for every body, no verification
// limiter); "after" has today's defaults.
func BenchmarkQueryInstanceUnderFlood(b *testing.B) {
	before := DefaultOptions()
	before.MaxBodyBytes, before.MaxConcurrentVerifications = 1<<20, 1<<20
	for _, tc := range []struct {
		name string
		opts Options
	}{{"before", before}, {"after", DefaultOptions()}} {
		b.Run(tc.name, func(b *testing.B) {
			tc.opts.Namespace = operatorNamespace
			r, err := NewReceiver(receiver.client, receiver.reader, tc.opts)
			if err != nil {
				b.Fatal(err)
			}
			query := newFloodQuery(b, r)
			idle := p99(query.times(b, 200))
			stop := flood(r, query.product, 32)
			defer stop()
			b.ResetTimer()
			loaded := p99(query.times(b, b.N))
			b.StopTimer()
			reportP99(b, loaded, idle)
		})
	}
}

// floodQuery sends signed queryInstance callbacks for an issued instance.
type floodQuery struct {
	r       *Receiver
	product string
	body    string
}

func newFloodQuery(b *testing.B, r *Receiver) floodQuery {
	t := &testing.T{}
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	if t.Failed() {
		b.Fatal("fixture failed")
	}
	return floodQuery{r: r, product: f.product.Name, body: fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id)}
}

// times sends n queries one after another, each signed just before it
// goes (a loaded run may outlast the timestamp window), and returns each
// one's latency.
func (q floodQuery) times(b *testing.B, n int) []time.Duration {
	t := &testing.T{}
	latencies := make([]time.Duration, n)
	for i := range n {
		signed := signedQuery(t, testKey, q.body)
		req := httptest.NewRequest(http.MethodPost, CallbackPathPrefix+q.product+"?"+signed.Encode(), strings.NewReader(q.body))
		rec := httptest.NewRecorder()
		start := time.Now()
		q.r.Handler().ServeHTTP(rec, req)
		latencies[i] = time.Since(start)
		if !strings.Contains(rec.Body.String(), `"resultCode":"000000"`) && !strings.Contains(rec.Body.String(), `"resultCode":"000005"`) {
			b.Fatalf("unexpected answer %s", rec.Body.String())
		}
	}
	return latencies
}

// flood starts clients goroutines that each send, until stopped, a 1 MiB
// newInstance body signed with the wrong key. The signature (a canonical
// form of 1 MiB to build) is made once a refresh period, so the flood's
// own cost stays out of the measurement as far as it can in one process.
// Each client sends no faster than its body crosses a 1 Gbit/s link, as a
// remote client would: in one process an unpaced client would spin and
// take the CPU from the measured query whatever the receiver does.
func flood(r *Receiver, product string, clients int) (stop func()) {
	// Just under 1 MiB: within the old limit, so "before" reads and
	// canonicalises all of it, as the issue measured.
	body := newInstanceBody(newOrderID(), `"padding":"`+strings.Repeat("x", 1<<20-1024)+`"`)
	transfer := time.Duration(len(body)*8) * time.Second / 1e9
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	handler := r.Handler()
	for range clients {
		wg.Go(func() {
			t := &testing.T{}
			var target string
			var signedAt time.Time
			pace := time.NewTicker(transfer)
			defer pace.Stop()
			for ctx.Err() == nil {
				select {
				case <-pace.C:
				case <-ctx.Done():
					return
				}
				if time.Since(signedAt) > 20*time.Second { // well inside the 60 s window
					target, signedAt = CallbackPathPrefix+product+"?"+signedQuery(t, "not-the-product-key", body).Encode(), time.Now()
				}
				handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, target, strings.NewReader(body)))
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// reportP99 reports a p99 under load, the p99 idle and their ratio.
func reportP99(b *testing.B, loaded, idle time.Duration) {
	b.ReportMetric(float64(loaded.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(idle.Microseconds())/1000, "idle-p99-ms")
	b.ReportMetric(float64(loaded)/float64(idle), "p99-ratio")
}

// p99 is the 99th percentile of latencies.
func p99(latencies []time.Duration) time.Duration {
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	return sorted[min(len(sorted)-1, len(sorted)*99/100)]
}
