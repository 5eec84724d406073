package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// cachedReads is a client whose writes go through its own (rate-limited)
// REST client and whose reads come from the manager's cache, as the
// receiver's client does in production.
type cachedReads struct {
	client.Client
	cache client.Client
}

func (c cachedReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.cache.Get(ctx, key, obj, opts...)
}

func (c cachedReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.cache.List(ctx, list, opts...)
}

// BenchmarkNewInstanceBurstByClientLimits sends 500 newInstance callbacks,
// each for its own order, spread over one second (DESIGN §7's 500/s), to a
// receiver whose API client has the controllers' limits (50 queries a
// second, burst 100: the receiver's until issue 26) and to one with the
// chart's receiver.kubeAPI (500, burst 1,000), and reports how many were
// answered 000005 and the slowest answer. Run with
// `go test -run='^$' -bench=NewInstanceBurst -benchtime=1x ./webhook`.
func BenchmarkNewInstanceBurstByClientLimits(b *testing.B) {
	const callbacks, over = 500, time.Second
	for _, limits := range []struct {
		name  string
		qps   float32
		burst int
	}{{"qps50-burst100", 50, 100}, {"qps500-burst1000", 500, 1000}} {
		b.Run(limits.name, func(b *testing.B) {
			cfg := rest.CopyConfig(testEnv.Config)
			cfg.QPS, cfg.Burst = limits.qps, limits.burst
			limited, err := client.New(cfg, client.Options{Scheme: testEnv.Scheme})
			if err != nil {
				b.Fatal(err)
			}
			opts := DefaultOptions()
			opts.Namespace, opts.DirectoryNamespace = operatorNamespace, directoryNamespace
			r, err := NewReceiver(cachedReads{Client: limited, cache: receiver.client}, limited, opts)
			if err != nil {
				b.Fatal(err)
			}
			t := &testing.T{}
			f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
			if t.Failed() {
				b.Fatal("fixture failed")
			}
			for b.Loop() {
				busy, slowest := burst(b, r, f, callbacks, over)
				b.ReportMetric(float64(busy), "000005-of-500")
				b.ReportMetric(float64(slowest.Milliseconds()), "slowest-ms")
			}
		})
	}
}

// burst sends n signed newInstance callbacks for new orders to r's
// handler, evenly over d, and returns how many were answered 000005 and
// the slowest answer.
func burst(b *testing.B, r *Receiver, f *fixture, n int, d time.Duration) (busy int, slowest time.Duration) {
	t := &testing.T{}
	handler := r.Handler()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(d * time.Duration(i) / time.Duration(n)))) // pacing the arrivals, not waiting for a result
		body := newInstanceBody(newOrderID())
		target := CallbackPathPrefix + f.product.Name + "?" + signedQuery(t, f.key, body).Encode()
		wg.Go(func() {
			rec := httptest.NewRecorder()
			sent := time.Now()
			handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, target, strings.NewReader(body)))
			took := time.Since(sent)
			var a struct{ ResultCode string }
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK {
				b.Errorf("answer %d %q: %v", rec.Code, rec.Body.String(), err)
			}
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			switch a.ResultCode {
			case "000005":
				busy++
			case "000000":
			default:
				b.Errorf("unexpected answer %s", rec.Body.String())
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		b.Fatal("signing failed")
	}
	return busy, slowest
}
