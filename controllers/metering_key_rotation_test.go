package controllers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A basic key is rotated as docs/concepts.md (Marketplace keys) and
// docs/operations/alerts.md say: the new key goes into the keys Secret as
// basicKey.<suffix>, the Seller Console is switched to it, and only then is
// the old one removed. Between the switch and the removal the marketplace
// refuses a usage push signed with basicKey as a whole (MKT.0102, spec
// §6.4, §6.7): the push must be signed with the key the console holds.

// rotatedKey is the key the Seller Console signs with after the switch.
const rotatedKey = "rotated-basic-key-7f3a"

// keyCheckingUsage is the fake marketplace's usage endpoint (fakeUsage)
// holding only key, on a server of its own, so the suite's endpoint, which
// holds the test products' basicKey, is untouched; it counts every push,
// refused ones included.
type keyCheckingUsage struct {
	*fakeUsage
	requests atomic.Int32
	server   *httptest.Server
}

func newKeyCheckingUsage(t *testing.T, key string) *keyCheckingUsage {
	u := &keyCheckingUsage{fakeUsage: newFakeUsage(key)}
	u.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		u.serve(w, r)
	}))
	t.Cleanup(u.server.Close)
	return u
}

// refusedPushes is how many pushes were refused as a whole: the fake
// counts a push only once its signatures hold.
func (u *keyCheckingUsage) refusedPushes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return int(u.requests.Load()) - u.pushes
}

// addKeys writes keys into the keys Secret of the tenant's product, beside
// the ones it holds, as an operator rotating a key does.
func addKeys(t *testing.T, tenant *saasv1alpha1.SaaSTenant, keys map[string]string) {
	t.Helper()
	g := NewWithT(t)
	ctx := testContext(t)
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: tenant.Spec.ProductName}, product)).To(Succeed())
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}, secret)).To(Succeed())
	before := secret.DeepCopy()
	for name, value := range keys {
		secret.Data[name] = []byte(value)
	}
	g.Expect(k8sClient.Patch(ctx, secret, client.MergeFrom(before))).To(Succeed())
}

func TestAUsagePushAfterTheConsoleSwitchedToARotatedBasicKeyIsSignedWithIt(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(6)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred(), "metering starts at h")

	// Rotation, step 1: the new key beside the old; a stale key sorts
	// before it, so the push must go on past a refusal of its own too.
	addKeys(t, tenant, map[string]string{
		saasv1alpha1.BasicKeySecretKey + ".a-stale": "stale-basic-key",
		saasv1alpha1.BasicKeySecretKey + ".next":    rotatedKey,
	})
	// Step 2: the console switched; the marketplace holds the new key only.
	usage := newKeyCheckingUsage(t, rotatedKey)
	r.Usage = MarketplaceUsageClients(usage.server.URL)

	_, err = meterAt(t, r, h.Add(2*time.Hour+time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(usage.of(tenant.Name)).To(HaveLen(2), "both closed hours are billed")
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(2*time.Hour)))
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	refused := usage.refusedPushes()
	g.Expect(refused).To(Equal(2), "basicKey, then basicKey.a-stale, are refused before basicKey.next")

	// The next push starts with the key the marketplace accepted.
	_, err = meterAt(t, r, h.Add(3*time.Hour+time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(usage.of(tenant.Name)).To(HaveLen(3))
	g.Expect(usage.refusedPushes()).To(Equal(refused), "no push is refused once the accepted key is known")

	// A restarted kooper remembers nothing, and finds the key again.
	restarted := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	restarted.Usage = r.Usage
	_, err = meterAt(t, restarted, h.Add(4*time.Hour+time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(usage.of(tenant.Name)).To(HaveLen(4))
	g.Expect(storedMetering(t, tenant.Name).PushedUntil.Time).To(BeTemporally("==", h.Add(4*time.Hour)))
}

func TestAUsagePushRefusedWithEveryBasicKeyFailsNamingNoKey(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(4)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	recorder := events.NewFakeRecorder(10)
	r.Recorder = recorder
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	addKeys(t, tenant, map[string]string{saasv1alpha1.BasicKeySecretKey + ".next": rotatedKey})
	usage := newKeyCheckingUsage(t, "a-key-kooper-does-not-hold")
	r.Usage = MarketplaceUsageClients(usage.server.URL)

	_, err = meterAt(t, r, h.Add(2*time.Hour+time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("MKT.0102")))
	g.Expect(usage.refusedPushes()).To(Equal(2), "each of the two keys is tried once")
	g.Expect(usage.of(tenant.Name)).To(BeEmpty())
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil).To(BeNil(), "no hour is taken as pushed")
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Reason).To(Equal(saasv1alpha1.UsagePushFailedReason))
	var event string
	g.Eventually(recorder.Events).Should(Receive(&event))
	for _, text := range []string{err.Error(), c.Message, event} {
		for _, key := range []string{completeKeys[saasv1alpha1.BasicKeySecretKey], rotatedKey} {
			g.Expect(strings.Contains(text, key)).To(BeFalse(), "%q names a key", text)
		}
	}
}
