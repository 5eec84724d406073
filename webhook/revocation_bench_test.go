package webhook

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// revocationBenchLicences is how many licences the polled product has: two
// thirds of them revoked, 800 make a list within the 64 KiB verifiers read
// (the 2,000 of before 2026-12-07 made 1,333, a list the receiver refuses
// since it checks that bound, so the benchmarks failed).
const revocationBenchLicences = 1200

// BenchmarkQueryInstanceUnderRevocationPolls measures a signed
// queryInstance's p99 while 16 clients poll a licence product's revocation
// list (2,000 licences, two thirds of them frozen or released) at 1,000
// polls a second in all: the route is public, so anyone may. It reports the
// ratio to the p99 of the same receiver idle, measured first in the same
// run, and the polls answered a second (BenchmarkRevocationListPoll gives
// what a poll costs). "every-poll-builds" turns the memo off (ttl 0:
// each poll reads every licence and signs, as before 2026-12-05 evening,
// though without the deep copies and the body's two copies it made then);
// "memo" is today's receiver.
func BenchmarkQueryInstanceUnderRevocationPolls(b *testing.B) {
	product := licenceProductWithLicences(b, revocationBenchLicences)
	for _, memo := range revocationMemos {
		b.Run(memo.name, func(b *testing.B) {
			r := receiverWithListTTL(b, memo.ttl)
			query := newFloodQuery(b, r)
			idle := p99(query.times(b, 200))
			polling := pollRevocations(r, product, 16, 1000)
			b.ResetTimer()
			loaded := p99(query.times(b, b.N))
			b.StopTimer()
			reportP99(b, loaded, idle)
			b.ReportMetric(polling.stop(), "polls/s")
		})
	}
}

// BenchmarkRevocationListPoll is one poll of the revocation list of a
// product with 1,200 licences, one after another: its time and what it
// allocates, with the memo off (every-poll-builds) and on (memo).
func BenchmarkRevocationListPoll(b *testing.B) {
	product := licenceProductWithLicences(b, revocationBenchLicences)
	for _, memo := range revocationMemos {
		b.Run(memo.name, func(b *testing.B) {
			r := receiverWithListTTL(b, memo.ttl)
			handler := r.Handler()
			target := CallbackPathPrefix + product + "/licenses/revoked"
			b.ReportAllocs()
			for b.Loop() {
				w := &discardingWriter{header: http.Header{}}
				handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
				if w.status != http.StatusOK {
					b.Fatalf("answered %d", w.status)
				}
			}
		})
	}
}

// revocationMemos are the two receivers compared: the memo off (ttl 0,
// every poll builds the list) and on.
var revocationMemos = []struct {
	name string
	ttl  time.Duration
}{{"every-poll-builds", 0}, {"memo", revocationListTTL}}

// receiverWithListTTL is a receiver of the suite's manager whose
// revocation lists are kept ttl.
func receiverWithListTTL(b *testing.B, ttl time.Duration) *Receiver {
	opts := DefaultOptions()
	opts.Namespace = operatorNamespace
	r, err := NewReceiver(receiver.client, receiver.reader, opts)
	if err != nil {
		b.Fatal(err)
	}
	r.revocationLists.ttl = ttl
	return r
}

// pacedClients is a running set of clients sending requests to a receiver.
type pacedClients struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	start  time.Time
}

// pollRevocations starts clients goroutines that GET product's revocation
// list from r, perSecond times a second in all, until stopped.
func pollRevocations(r *Receiver, product string, clients, perSecond int) *pacedClients {
	target := CallbackPathPrefix + product + "/licenses/revoked"
	return pace(r, clients, perSecond, func(int64) *http.Request {
		return httptest.NewRequest(http.MethodGet, target, nil)
	})
}

// pace starts clients goroutines that send r the requests request makes
// (numbered from 0), perSecond of them a second in all, until stopped. Each
// is paced as a remote client would be: in one process an unpaced client
// would spin and take the CPU from the measured query whatever a request
// costs.
func pace(r *Receiver, clients, perSecond int, request func(n int64) *http.Request) *pacedClients {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pacedClients{cancel: cancel, start: time.Now()}
	handler := r.Handler()
	var sent atomic.Int64
	for range clients {
		p.wg.Go(func() {
			tick := time.NewTicker(time.Duration(clients) * time.Second / time.Duration(perSecond))
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
				w := &discardingWriter{header: http.Header{}}
				handler.ServeHTTP(w, request(sent.Add(1)-1))
				if w.status == http.StatusOK {
					p.ok.Add(1)
				}
			}
		})
	}
	return p
}

// discardingWriter answers as a connection does, keeping no body: a
// recorder's growing buffer would be most of what a poll allocates.
type discardingWriter struct {
	header http.Header
	status int
}

func (w *discardingWriter) Header() http.Header { return w.header }

func (w *discardingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardingWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// stop ends the requests and returns how many were answered 200 a second.
func (p *pacedClients) stop() float64 {
	p.cancel()
	p.wg.Wait()
	return float64(p.ok.Load()) / time.Since(p.start).Seconds()
}

// licenceProductWithLicences makes a licence product with a signing key
// and n licences of it, a third each active, frozen and released, and
// waits for the receiver's cache to hold them all.
func licenceProductWithLicences(b *testing.B, n int) string {
	t := &testing.T{}
	f, _ := newLicenceFixtureWithSigningKey(t)
	if t.Failed() {
		b.Fatal("fixture failed")
	}
	product := f.product.Name
	createCachedLicences(b, 0, n, func(int) string { return product }, map[string]string{saasv1alpha1.ProductLabel: product})
	return f.product.Name
}

// createCachedLicences makes the licences numbered from made up to total,
// licence i of product(i), named after it, labelled with its product and
// with marked, a third each active, frozen and released, and waits for the
// receiver's cache to hold total licences labelled marked.
func createCachedLicences(b *testing.B, made, total int, product func(i int) string, marked map[string]string) {
	ctx := context.Background()
	states := []saasv1alpha1.SubscriptionState{saasv1alpha1.StateActive, saasv1alpha1.StateFrozen, saasv1alpha1.StateReleased}
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	next.Store(int64(made))
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(total); i = next.Add(1) - 1 {
				product := product(int(i))
				id := fmt.Sprintf("%s-%05d", product, i)
				labels := map[string]string{saasv1alpha1.ProductLabel: product}
				maps.Copy(labels, marked)
				l := &saasv1alpha1.License{
					ObjectMeta: metav1.ObjectMeta{Name: id, Labels: labels},
					Spec: saasv1alpha1.LicenseSpec{InstanceID: id, ProductName: product, OrderID: "CS" + id,
						State: states[i%3], Mode: saasv1alpha1.ModeProduction},
				}
				if err := k8sClient.Create(ctx, l); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	held := 0
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		list := &saasv1alpha1.LicenseList{}
		err := receiver.client.List(ctx, list, client.MatchingLabels(marked), client.UnsafeDisableDeepCopy)
		held = len(list.Items)
		return err == nil && held == total, nil
	})
	if err != nil {
		b.Fatalf("the receiver's cache holds %d of %d licences: %v", held, total, err)
	}
}
