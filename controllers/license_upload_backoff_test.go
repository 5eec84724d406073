package controllers

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// An upload the marketplace keeps refusing backs off to once a minute.
// Before, each failed attempt wrote its number to the status; the retry
// 5 ms later read the licence from a cache that had not seen that write,
// ended on a stale read or a conflict, which is no failure, and came back
// a second later with controller-runtime's backoff reset: an upload about
// every second for as long as the marketplace said no. The passes are
// driven here as controller-runtime drives them (an error on the rate
// limiter, a RequeueAfter after forgetting the failures), on a fake clock,
// with a cache that shows each pass's own status write only one pass late.
func TestARefusedLicenceUploadBacksOffToOnceAMinute(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	application := unseenApplication(t)
	key := client.ObjectKeyFromObject(application)

	clock := clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	uploads := &refusingUploader{clock: clock}
	reconciler := func(c client.Client) *LicenseReconciler {
		return &LicenseReconciler{Client: c, Reader: k8sClient, Scheme: k8sClient.Scheme(), Recorder: &events.FakeRecorder{},
			Clock: clock, Uploads: func(string, string) LicenseUploader { return uploads },
			Options: LicenseOptions{SecretNamespace: unseenSecretNamespace}}
	}
	r := reconciler(&cacheOneWriteBehind{Client: withUnseenProducts{k8sClient}, key: key})
	limiter := newRetryRateLimiter()
	req := ctrl.Request{NamespacedName: key}
	for passes := 0; len(uploads.at()) < 8; passes++ {
		g.Expect(passes).To(BeNumerically("<", 2000), "uploads after %d passes: %v", passes, uploads.at())
		result, err := r.Reconcile(ctx, req)
		switch {
		case err != nil:
			clock.Step(limiter.When(req))
		case result.RequeueAfter > 0:
			limiter.Forget(req)
			clock.Step(result.RequeueAfter)
		default:
			t.Fatalf("pass %d: a licence whose upload failed must come back, not end", passes)
		}
	}

	at := uploads.at()
	t.Logf("uploads at %v from the first", offsets(at))
	first, last := at[0], at[len(at)-1]
	g.Expect(last.Sub(first)).To(BeNumerically(">=", 2*time.Minute),
		"8 uploads take more than two minutes (the wait doubles from 2 s up to a minute): %v", offsets(at))
	for i := len(at) - 2; i < len(at); i++ {
		g.Expect(at[i].Sub(at[i-1])).To(And(BeNumerically(">=", time.Minute), BeNumerically("<=", time.Minute+5*time.Second)),
			"at the capped pace, uploads are a minute apart: %v", offsets(at))
	}
	stored := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctx, key, stored)).To(Succeed())
	g.Expect(stored.Status.Upload.Attempts).To(BeEquivalentTo(8))
	licenseHas(saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, saasv1alpha1.UploadFailedReason)(g, stored)
	delivered := apimeta.FindStatusCondition(stored.Status.Conditions, saasv1alpha1.DeliveredCondition)
	g.Expect(delivered.Message).To(And(ContainSubstring("refused by the marketplace (HTTP 400)"), ContainSubstring("retrying at")),
		"a 4xx answer is not final (the spec names no final code): retried, and said so")

	// A restart (a reconciler with nothing in memory, its cache up to
	// date) keeps the pace: half a minute after the last upload nothing is
	// sent, and it comes back when the next one is due.
	clock.SetTime(last.Add(30 * time.Second))
	restarted := reconciler(withUnseenProducts{k8sClient})
	result, err := restarted.Reconcile(ctx, req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(uploads.at()).To(HaveLen(8), "nothing sent before the next upload is due")
	g.Expect(result.RequeueAfter).To(And(BeNumerically(">", 0), BeNumerically("<=", 30*time.Second)))
	clock.Step(result.RequeueAfter)
	_, err = restarted.Reconcile(ctx, req)
	g.Expect(err).NotTo(HaveOccurred(), "the failure is retried after its wait, not on the rate limiter")
	g.Expect(uploads.at()).To(HaveLen(9), "sent when due")
}

// unseenSecretNamespace holds the keys of unseenApplication's product and
// its licence key: the suite's licence controller looks for neither there.
const unseenSecretNamespace = "elsewhere"

// unseenApplication stores a getLicenseAsync application, and its
// instance with a resolved order, of a product only the test's own
// reconciler sees (its client is withUnseenProducts): the
// suite's licence controller stalls both on ProductNotFound and leaves
// them alone, so that every pass and upload is the test's.
func unseenApplication(t *testing.T) *saasv1alpha1.License {
	t.Helper()
	g := NewWithT(t)
	ctx := testContext(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := licensekey.MarshalPrivateKeyPEM(priv)
	g.Expect(err).NotTo(HaveOccurred())
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lp-unseen-%d", tenantSeq.Add(1))},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: fmt.Sprintf("OFFL%d", tenantSeq.Add(1)), Type: saasv1alpha1.ProductTypeLicense,
			Plans: []saasv1alpha1.Plan{{SKUCode: "pro", License: &saasv1alpha1.LicenseTerms{Features: []string{"export"}, ValidityDays: 365}}},
		},
	}
	product.Spec.KeysSecretName = product.Name + "-keys"
	keys := maps.Clone(completeKeys)
	keys[saasv1alpha1.LicenseSigningKeySecretKey] = string(pemKey)
	g.Expect(k8sClient.Create(ctx, keysSecret(unseenSecretNamespace, product.Spec.KeysSecretName, keys))).To(Succeed())
	unseenProducts.Store(product.Name, product)

	instance := newLicense(t, product, "pro")
	eventuallyLicense(t, instance.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))
	expiry := metav1.NewTime(orderExpiry)
	patch := client.MergeFrom(instance.DeepCopy())
	instance.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: instance.Spec.OrderID, ProductID: product.Spec.ProductID, SKUCode: "pro", ExpireTime: &expiry}
	g.Expect(k8sClient.Status().Patch(ctx, instance, patch)).To(Succeed())

	application := newApplication(t, product, instance.Name, fmt.Sprintf("EVT%d", tenantSeq.Add(1)))
	return eventuallyLicense(t, application.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))
}

// unseenProducts are the products only withUnseenProducts answers.
var unseenProducts sync.Map

// withUnseenProducts is a client that also reads the products of
// unseenProducts, which the API server does not hold.
type withUnseenProducts struct {
	client.Client
}

func (c withUnseenProducts) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if product, ok := obj.(*saasv1alpha1.SaaSProduct); ok {
		if unseen, ok := unseenProducts.Load(key.Name); ok {
			unseen.(*saasv1alpha1.SaaSProduct).DeepCopyInto(product)
			return nil
		}
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// cacheOneWriteBehind is a client whose cache shows the License called
// key without the reconciler's own last status write, once, on the next
// read: the informer has not delivered that write when the retry 5 ms
// later starts. Every other read, and every write, goes to Client.
type cacheOneWriteBehind struct {
	client.Client
	key client.ObjectKey

	mu sync.Mutex
	// older is the License as it was before the last status write, until
	// the next read shows it.
	older *saasv1alpha1.License
}

func (c *cacheOneWriteBehind) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if l, ok := obj.(*saasv1alpha1.License); ok && key == c.key {
		c.mu.Lock()
		older := c.older
		c.older = nil
		c.mu.Unlock()
		if older != nil {
			older.DeepCopyInto(l)
			return nil
		}
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *cacheOneWriteBehind) Status() client.SubResourceWriter {
	return statusOneWriteBehind{SubResourceWriter: c.Client.Status(), cache: c}
}

// statusOneWriteBehind writes status, and keeps the License called key
// as it was before for the next read of its cache.
type statusOneWriteBehind struct {
	client.SubResourceWriter
	cache *cacheOneWriteBehind
}

func (w statusOneWriteBehind) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if client.ObjectKeyFromObject(obj) != w.cache.key {
		return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
	}
	before := &saasv1alpha1.License{}
	if err := w.cache.Client.Get(ctx, w.cache.key, before); err != nil {
		return err
	}
	if err := w.SubResourceWriter.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	w.cache.mu.Lock()
	w.cache.older = before
	w.cache.mu.Unlock()
	return nil
}

// refusingUploader answers every upload as the marketplace refuses a
// request (HTTP 400 MKT.0101), and keeps the time of each on its clock.
type refusingUploader struct {
	clock *clocktesting.FakeClock

	mu    sync.Mutex
	times []time.Time
}

func (u *refusingUploader) UploadLicense(_ context.Context, eventID, _ string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.times = append(u.times, u.clock.Now())
	return fmt.Errorf("failed to upload the licence of event %s: %w", eventID,
		&koogallery.APIError{HTTPStatus: 400, Code: "MKT.0101", Message: "client-side request error"})
}

// at returns the time of every upload so far.
func (u *refusingUploader) at() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.times...)
}

// offsets are times as durations from the first, for failure messages.
func offsets(times []time.Time) []time.Duration {
	out := make([]time.Duration, len(times))
	for i, t := range times {
		out[i] = t.Sub(times[0])
	}
	return out
}
