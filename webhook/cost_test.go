package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// What an unauthenticated caller can cost is bounded before the signature
// is checked: each route reads at most its own body limit, and at most
// MaxConcurrentVerifications bodies are canonicalised and verified at once.

func TestEachRouteReadsAtMostItsBodyLimit(t *testing.T) {
	opts := DefaultOptions()
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	over := func(limit int64) string { return `{"pad":"` + strings.Repeat("x", int(limit)) + `"}` }
	cases := []struct {
		name, path string
		body       string
		refused    bool
	}{
		{"a basic callback one byte over", CallbackPathPrefix + f.product.Name, over(opts.MaxBodyBytes), true},
		{"a basic callback the size of a user batch", CallbackPathPrefix + f.product.Name, over(opts.MaxBodyBytes * 4), true},
		{"a small kit call over the basic limit", kitPath(f, koogallery.KitTenantSync), over(opts.MaxBodyBytes), true},
		{"a user batch over the basic limit", kitPath(f, koogallery.KitAuthSync), over(opts.MaxBodyBytes * 4), false},
		{"a user batch over its own limit", kitPath(f, koogallery.KitAuthSync), over(opts.MaxBatchBodyBytes), true},
		{"a department tree over the batch limit", kitPath(f, koogallery.KitAllOrgSync), over(opts.MaxBatchBodyBytes * 2), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			resp, err := http.Post(receiverURL+tc.path, "application/json", bytes.NewBufferString(tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			a := decodeAnswer(t, resp)
			g.Expect(a.status).To(Equal(http.StatusOK))
			if tc.refused {
				g.Expect(a.Code).To(Equal("000002"))
				g.Expect(a.Msg).To(ContainSubstring("body exceeds"))
				return
			}
			g.Expect(a.Msg).NotTo(ContainSubstring("body exceeds"), "within its limit, the body goes on to the signature check")
		})
	}
}

func TestAFullVerifierAnswers000005AtOnce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	taken := 0
	for receiver.verifying.tryAcquire() {
		taken++
	}
	t.Cleanup(func() {
		for range taken {
			receiver.verifying.release()
		}
	})
	g.Expect(taken).To(Equal(DefaultOptions().MaxConcurrentVerifications))

	query := `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`
	a := f.call(t, query)
	g.Expect(a.Code).To(Equal("000005"))
	g.Expect(a.Msg).To(ContainSubstring("busy"))

	receiver.verifying.release()
	taken--
	a = f.call(t, query)
	g.Expect(a.Code).To(Equal("000003"), "a free slot verifies again: %s", a.Msg)
}

// kitPath is the URL path of a kit interface of the fixture's product.
func kitPath(f *fixture, name koogallery.KitInterface) string {
	return CallbackPathPrefix + f.product.Name + koogallery.KitPathPrefix + string(name)
}

// countingReader counts the reads that reach the API server: every Get,
// and those of a SaaSProduct.
type countingReader struct {
	client.Reader
	gets, productGets atomic.Int64
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets.Add(1)
	if _, ok := obj.(*saasv1alpha1.SaaSProduct); ok {
		c.productGets.Add(1)
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

// The input: every request naming a made-up product cost an API-server
// read (to confirm the name is not merely missing from the cache), on every
// route and before any signature was checked; so did every request to a
// product whose keys Secret is missing. A flood of them became API-server
// load in the receiver's own flow. Now such reads share one budget, and a
// request over it is answered 000005 (503 on the revocation list).
func TestUnauthenticatedRequestsSpendAtMostTheReadBudget(t *testing.T) {
	g := NewWithT(t)
	f, keyless := productAndKeylessCopy(t)
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKey{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}, &corev1.Secret{})
	}).Should(Succeed(), "the receiver's cache holds the keys Secret")

	const budget, requests = 5, 40
	now := time.Now()
	clock := func() time.Time { return now }
	opts := receiver.opts
	opts.UnauthenticatedReadsPerSecond, opts.Now = budget, clock
	reads := &countingReader{Reader: receiver.reader}
	r, err := NewReceiver(receiver.client, reads, opts)
	g.Expect(err).NotTo(HaveOccurred())
	serve := func(method, path, body string) *http.Response {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec.Result()
	}
	unsigned := `{"activity":"queryInstance","instanceId":"i-1"}`
	cases := []struct {
		name      string
		send      func(i int) *http.Response
		withinMsg string // the answer while the budget lasts
	}{
		{"basic callbacks to made-up products", func(i int) *http.Response {
			return serve(http.MethodPost, fmt.Sprintf("%smade-up-%d", CallbackPathPrefix, i), unsigned)
		}, "unknown product"},
		{"kit calls to made-up products", func(i int) *http.Response {
			return serve(http.MethodPost, fmt.Sprintf("%smade-up-kit-%d%s%s", CallbackPathPrefix, i, koogallery.KitPathPrefix, koogallery.KitTenantSync), `{}`)
		}, "unknown product"},
		{"basic callbacks to a product without its keys Secret", func(int) *http.Response {
			return serve(http.MethodPost, CallbackPathPrefix+keyless.Name, unsigned)
		}, "keys are not configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			now = now.Add(time.Second) // a fresh second's budget
			before := reads.gets.Load()
			within, over := 0, 0
			for i := range requests {
				a := decodeAnswer(t, tc.send(i))
				g.Expect(a.status).To(Equal(http.StatusOK))
				if a.Msg == errReadsSpent.msg {
					g.Expect(a.Code).To(Equal("000005"), "retried by the marketplace")
					over++
				} else {
					g.Expect(a.Msg).To(ContainSubstring(tc.withinMsg))
					within++
				}
			}
			g.Expect(reads.gets.Load()-before).To(BeNumerically("<=", budget), "API-server reads for %d requests", requests)
			g.Expect(within).To(BeNumerically(">", 0), "the budget is spent on confirmations first")
			g.Expect(over).To(BeNumerically(">=", requests-budget))
		})
	}

	t.Run("revocation lists of made-up products", func(t *testing.T) {
		g := NewWithT(t)
		now = now.Add(time.Second)
		before := reads.gets.Load()
		statuses := map[int]int{}
		for i := range requests {
			resp := serve(http.MethodGet, fmt.Sprintf("%smade-up-list-%d/licenses/revoked", CallbackPathPrefix, i), "")
			statuses[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable {
				g.Expect(resp.Header.Get("Retry-After")).To(Equal("1"))
			}
		}
		g.Expect(reads.gets.Load() - before).To(BeNumerically("<=", budget))
		g.Expect(statuses).To(Equal(map[int]int{http.StatusNotFound: budget, http.StatusServiceUnavailable: requests - budget}),
			"unknown while the budget lasts, then to be retried")
	})

	t.Run("a signed callback to a cached product while the budget is spent", func(t *testing.T) {
		g := NewWithT(t)
		a := serveDirect(t, r, f, `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`)
		g.Expect(a.Code).To(Equal("000003"), "answered as ever: %s", a.Msg)
	})

	t.Run("a signature the cached keys refuse is not refused while the budget is spent", func(t *testing.T) {
		g := NewWithT(t)
		stale, err := NewReceiver(withoutNextKey{receiver.client}, reads, opts)
		g.Expect(err).NotTo(HaveOccurred())
		r = stale // serve sends to it from now on
		for i := range budget {
			serve(http.MethodPost, fmt.Sprintf("%smade-up-stale-%d", CallbackPathPrefix, i), unsigned)
		}
		next := &fixture{product: f.product, key: "the-next-key"}
		query := `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`
		a := serveDirect(t, stale, next, query)
		g.Expect(a.Code).To(Equal("000005"), "retried, not refused on keys that may be stale: %s", a.Msg)
		g.Expect(a.Msg).To(Equal(errReadsSpent.msg))

		now = now.Add(time.Second)
		a = serveDirect(t, stale, next, query)
		g.Expect(a.Code).To(Equal("000003"), "verified with the stored keys: %s", a.Msg)
	})
}

// withoutNextKey is a cache whose copy of every Secret lacks basicKey.next,
// as one that has not yet seen the key added.
type withoutNextKey struct{ client.Client }

func (c withoutNextKey) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Client.Get(ctx, key, obj, opts...)
	if s, ok := obj.(*corev1.Secret); ok {
		delete(s.Data, "basicKey.next")
	}
	return err
}

// Nor can such a caller fill the logs: beyond the budget, the audit lines
// of requests refused before their signature verified are counted, not
// written, and the next line written says how many were not. A signed
// callback's line is always written, and a failure's (a keys Secret that
// cannot be read) has a budget of its own.
func TestUnauthenticatedRequestsWriteAtMostTheAuditLineBudget(t *testing.T) {
	g := NewWithT(t)
	f, keyless := productAndKeylessCopy(t)

	const budget, requests = 5, 40
	now := time.Now()
	opts := receiver.opts
	opts.UnauthenticatedAuditLinesPerSecond, opts.Now = budget, func() time.Time { return now }
	r, err := NewReceiver(receiver.client, receiver.reader, opts)
	g.Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{})
	sendTo := func(product string, q url.Values, body string) answer {
		req := httptest.NewRequest(http.MethodPost, CallbackPathPrefix+product+"?"+q.Encode(), strings.NewReader(body))
		req = req.WithContext(logf.IntoContext(req.Context(), log))
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, req)
		return decodeAnswer(t, rec.Result())
	}
	send := func(q url.Values, body string) answer { return sendTo(f.product.Name, q, body) }
	audited := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
	query := `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`
	wrong := signedQuery(t, "not-the-key", query)

	for range requests {
		g.Expect(send(wrong, query).Code).To(Equal("000001"))
	}
	g.Expect(audited()).To(HaveLen(budget), "lines of requests refused before their signature verified")
	for range requests {
		g.Expect(send(signedQuery(t, f.key, query), query).Code).To(Equal("000003"))
	}
	g.Expect(audited()).To(HaveLen(budget+requests), "every signed callback's line, the budget spent")
	a := sendTo(keyless.Name, wrong, query)
	g.Expect(a.Code).To(Equal("000005"), a.Msg)
	failures := audited()[budget+requests:]
	g.Expect(failures).To(HaveLen(1), "a failure before the signature, the refusals' budget spent")
	g.Expect(failures[0]).To(ContainSubstring("Callback failed"))

	now = now.Add(time.Second)
	g.Expect(send(wrong, query).Code).To(Equal("000001"))
	all := audited()
	g.Expect(all).To(HaveLen(budget + requests + 2))
	g.Expect(all[len(all)-1]).To(ContainSubstring(fmt.Sprintf(`"notLogged"=%d`, requests-budget)))
}

// productAndKeylessCopy makes a SaaS product fixture and a copy of it whose
// keys Secret does not exist, and waits until the receiver's cache holds
// both.
func productAndKeylessCopy(t *testing.T) (*fixture, *saasv1alpha1.SaaSProduct) {
	t.Helper()
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	keyless := f.product.DeepCopy()
	keyless.ObjectMeta = metav1.ObjectMeta{Name: f.product.Name + "-keyless"}
	keyless.Spec.KeysSecretName = "no-such-secret"
	g.Expect(k8sClient.Create(ctxFor(t), keyless)).To(Succeed())
	for _, p := range []client.Object{f.product, keyless} {
		g.Eventually(func() error {
			return receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(p), &saasv1alpha1.SaaSProduct{})
		}).Should(Succeed(), "the receiver's cache holds the product")
	}
	return f, keyless
}
