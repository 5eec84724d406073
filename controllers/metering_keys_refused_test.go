package controllers

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The Seller Console's basic key was rotated, and the keys Secret was not
// updated: the marketplace refuses every usage push of the product as a
// whole, whichever of its keys signs it (MKT.0102). Before, each tenant
// tried each key, failed, and tried again after its backoff, at most a
// minute: with 10,000 tenants and 2 keys, about 333 refused pushes and 167
// uncached reads of a tenant a second, for as long as the Secret stayed
// wrong. Now the product remembers the refusal: its other tenants wait,
// their usage unpushed; one tenant tries again every keysRefusedRetry; a
// Warning Event on the product says it once; and a change of the keys
// Secret has every waiting tenant push at once.

// consoleKey is the basic key the Seller Console signs with, which the
// keys Secret does not hold until the test puts it there.
const consoleKey = "console-basic-key-9c1d"

// eventLog records the Events a controller sends, with the kind and name
// of the object each regards.
type eventLog struct {
	mu     sync.Mutex
	events []loggedEvent
}

type loggedEvent struct {
	regarding, eventType, reason, note string
}

func (l *eventLog) Eventf(regarding, _ runtime.Object, eventType, reason, _, note string, args ...any) {
	name := fmt.Sprintf("%T", regarding)
	if o, ok := regarding.(client.Object); ok {
		name += " " + o.GetName()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, loggedEvent{regarding: name, eventType: eventType, reason: reason, note: fmt.Sprintf(note, args...)})
}

// withReason returns the Events sent with reason.
func (l *eventLog) withReason(reason string) []loggedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedEvent
	for _, e := range l.events {
		if e.reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// pokeIn asks for a reconcile of tenant on c, as `kubectl annotate` would.
func pokeIn(t *testing.T, c client.Client, tenant client.Object) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, saasv1alpha1.ReconcileRequestedAnnotation, strconv.FormatInt(time.Now().UnixNano(), 10)))
	NewWithT(t).Expect(c.Patch(testContext(t), tenant, client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
}

// setKeysIn writes keys into the keys Secret of product on c.
func setKeysIn(t *testing.T, c client.Client, product *saasv1alpha1.SaaSProduct, keys map[string]string) {
	t.Helper()
	g := NewWithT(t)
	secret := &corev1.Secret{}
	g.Expect(c.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}, secret)).To(Succeed())
	before := secret.DeepCopy()
	for name, value := range keys {
		secret.Data[name] = []byte(value)
	}
	g.Expect(c.Patch(testContext(t), secret, client.MergeFrom(before))).To(Succeed())
}

func TestAllKeysRefusedPushesOncePerProductNotPerTenant(t *testing.T) {
	const tenants, keys = 20, 2
	g := NewWithT(t)
	h := hourAgo(4)
	clk := clocktesting.NewFakeClock(h)
	usage := newKeyCheckingUsage(t, consoleKey)
	events := &eventLog{}

	// The metering controller alone, under a manager (its watches are
	// under test), on a control plane of its own.
	mgr, c := ownManager(t, ownControlPlane(t))
	r := meteringAt(c, clk)
	r.Client, r.Reader, r.Recorder = mgr.GetClient(), mgr.GetAPIReader(), events
	r.Usage = MarketplaceUsageClients(usage.server.URL)
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	t.Cleanup(func() { meteringGauge.use(managerCache, fakeClock) })
	startOwnManager(t, mgr)

	product := newTenantProductIn(t, c, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: threeMeters[:1]}
	})
	// Two keys, neither the console's: every push is tried with both.
	setKeysIn(t, c, product, map[string]string{saasv1alpha1.BasicKeySecretKey + ".old": "an-old-basic-key"})
	var all []*saasv1alpha1.SaaSTenant
	for range tenants {
		all = append(all, payPerUseTenantIn(t, c, product))
	}
	for _, tn := range all {
		eventuallyTenantIn(t, c, tn.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
			g.Expect(tn.Status.Metering).NotTo(BeNil())
			g.Expect(tn.Status.Metering.Since.Time).To(BeTemporally("==", h))
		})
	}
	metered := func(g Gomega, name string) *metav1.Condition {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(c.Get(testContext(t), client.ObjectKey{Name: name}, tn)).To(Succeed())
		cond := apimeta.FindStatusCondition(tn.Status.Metering.Conditions, saasv1alpha1.MeteredCondition)
		g.Expect(cond).NotTo(BeNil())
		return cond
	}
	everyTenantWaits := func(g Gomega) {
		for _, tn := range all {
			cond := metered(g, tn.Name)
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse), tn.Name)
			g.Expect(cond.Reason).To(Equal(saasv1alpha1.UsagePushFailedReason), tn.Name)
		}
	}
	// pushesStay checks that no more than most pushes were sent all along.
	pushesStay := func(most int32) {
		t.Helper()
		NewWithT(t).Consistently(usage.requests.Load).WithTimeout(2*time.Second).WithPolling(50*time.Millisecond).
			Should(BeNumerically("<=", most), "pushes are per product, not per tenant (%d tenants × %d keys a pass)", tenants, keys)
	}

	// Two hours close; every tenant has a pass (and, when it fails, its
	// retries after the controller's backoff).
	clk.SetTime(h.Add(2*time.Hour + time.Minute))
	for _, tn := range all {
		pokeIn(t, c, tn)
	}
	g.Eventually(everyTenantWaits).Should(Succeed())
	pushesStay(keys) // one tenant tried each key once
	refused := events.withReason(saasv1alpha1.UsageKeysRefusedReason)
	g.Expect(refused).To(HaveLen(1), "said once, on the product")
	g.Expect(refused[0].regarding).To(Equal("*v1alpha1.SaaSProduct " + product.Name))
	g.Expect(refused[0].eventType).To(Equal(corev1.EventTypeWarning))
	g.Expect(refused[0].note).To(And(ContainSubstring("MKT.0102"), ContainSubstring("each of the product's 2 basic keys"),
		ContainSubstring("keys Secret "+operatorNamespace+"/"+product.Spec.KeysSecretName), ContainSubstring("Seller Console")))
	for _, key := range []string{usageKey(), "an-old-basic-key", consoleKey} {
		g.Expect(refused[0].note).NotTo(ContainSubstring(key), "an Event names no key")
	}

	// Passes before keysRefusedRetry is over push nothing; the first pass
	// after it is the one that tries again, for the whole product.
	clk.SetTime(h.Add(2*time.Hour + time.Minute + keysRefusedRetry - time.Second))
	for _, tn := range all {
		pokeIn(t, c, tn)
	}
	pushesStay(keys)
	clk.SetTime(h.Add(2*time.Hour + time.Minute + keysRefusedRetry + time.Minute))
	for _, tn := range all {
		pokeIn(t, c, tn)
	}
	g.Eventually(usage.requests.Load).Should(BeNumerically("==", 2*keys), "one tenant tried again")
	pushesStay(2 * keys)
	g.Expect(events.withReason(saasv1alpha1.UsageKeysRefusedReason)).To(HaveLen(1), "a refusal already said is not said again")
	for _, tn := range all {
		m := storedMeteringIn(t, c, tn.Name)
		g.Expect(m.PushedUntil).To(BeNil(), "no usage is taken as pushed: it waits")
		g.Expect(m.Segments).NotTo(BeEmpty())
	}

	// The operator puts the console's key into the keys Secret: every
	// tenant pushes at once, woken by the Secret's change alone.
	setKeysIn(t, c, product, map[string]string{saasv1alpha1.BasicKeySecretKey: consoleKey})
	for _, tn := range all {
		eventuallyTenantIn(t, c, tn.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
			g.Expect(tn.Status.Metering.PushedUntil).NotTo(BeNil())
			g.Expect(tn.Status.Metering.PushedUntil.Time).To(BeTemporally("==", h.Add(2*time.Hour)))
			cond := apimeta.FindStatusCondition(tn.Status.Metering.Conditions, saasv1alpha1.MeteredCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
		})
	}
	g.Expect(events.withReason(saasv1alpha1.UsageKeysRefusedReason)).To(HaveLen(1))
}

// storedMeteringIn is storedMetering on c.
func storedMeteringIn(t *testing.T, c client.Client, name string) *saasv1alpha1.TenantMetering {
	t.Helper()
	tn := &saasv1alpha1.SaaSTenant{}
	NewWithT(t).Expect(c.Get(testContext(t), client.ObjectKey{Name: name}, tn)).To(Succeed())
	return tn.Status.Metering
}
