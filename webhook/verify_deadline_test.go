package webhook

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A signature the cached keys refuse (a key just rotated in, which the cache
// has not seen yet) is checked again on the keys as stored. When that reread
// was cut off (the callback's deadline ran out, the API server was slow
// under load) the call was refused 000001 on keys that may be stale, and
// counted as an authentication failure: during a rotation under load the
// marketplace counted refusals for a transient. It is answered 000005, to
// be retried; a reread that answers still decides.
func TestAKeysRereadCutByTheDeadlineIsAnsweredRetry(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), &saasv1alpha1.SaaSProduct{})
	}).Should(Succeed(), "the receiver's cache holds the product")
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKey{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}, &corev1.Secret{})
	}).Should(Succeed(), "the receiver's cache holds the keys Secret")

	var mu sync.Mutex
	now := time.Now()
	opts := receiver.opts
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	nextSecond := func() { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second) } // the next reread of the keys
	reads := &keysReadsCutOff{Reader: receiver.reader}
	reads.cut.Store(true)
	// The cache has not seen basicKey.next, which signs the calls below.
	stale, err := NewReceiver(withoutNextKey{receiver.client}, reads, opts)
	g.Expect(err).NotTo(HaveOccurred())
	next := &fixture{product: f.product, key: "the-next-key"}
	query := `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`
	authFailures := func() float64 {
		return testutil.ToFloat64(callbacksTotal.WithLabelValues(f.product.Name, unknownActivity, string(koogallery.ResultAuthFailed)))
	}

	before := authFailures()
	a := serveDirect(t, stale, next, query)
	g.Expect(reads.secretGets.Load()).To(BeEquivalentTo(1), "the stored keys were read again")
	g.Expect(a.Code).To(Equal(string(koogallery.ResultInternalError)), "retried, not refused on keys that may be stale: %s", a.Msg)
	g.Expect(authFailures()).To(Equal(before), "no authentication failure is counted")

	reads.cut.Store(false)
	nextSecond()
	a = serveDirect(t, stale, next, query)
	g.Expect(a.Code).To(Equal(string(koogallery.ResultInstanceNotFound)), "verified with the stored keys: %s", a.Msg)

	nextSecond()
	a = serveDirect(t, stale, &fixture{product: f.product, key: "no-key-of-the-product"}, query)
	g.Expect(a.Code).To(Equal(string(koogallery.ResultAuthFailed)), "refused on the stored keys: %s", a.Msg)
	g.Expect(authFailures()).To(Equal(before + 1))
}

// keysReadsCutOff is an API-server reader whose reads of Secrets fail, while
// cut is set, as when the callback's deadline runs out during the read. It
// counts the reads of Secrets.
type keysReadsCutOff struct {
	client.Reader
	cut        atomic.Bool
	secretGets atomic.Int64
}

func (r *keysReadsCutOff) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		r.secretGets.Add(1)
		if r.cut.Load() {
			return context.DeadlineExceeded
		}
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}
