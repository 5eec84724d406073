package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// Tests of docs/lifecycle.md rules A (every 000000 is stored), B (an issued
// instance is answerable for ever), E (the expiry comes from the orders),
// F (a stale FREEZE) and R (release is final), each from an input that
// failed before.

// laggingClient reads every object as it was before its last write: a
// manager cache one write behind the API server, made stale on purpose.
type laggingClient struct {
	client.Client
	mu       sync.Mutex
	current  map[string]client.Object
	previous map[string]client.Object
}

func newLaggingClient(c client.Client) *laggingClient {
	return &laggingClient{Client: c, current: map[string]client.Object{}, previous: map[string]client.Object{}}
}

func (c *laggingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	id := fmt.Sprintf("%T/%s", obj, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.current[id]; cur == nil || cur.GetResourceVersion() != obj.GetResourceVersion() {
		c.previous[id], c.current[id] = cur, obj.DeepCopyObject().(client.Object)
	}
	if prev := c.previous[id]; prev != nil {
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(prev.DeepCopyObject()).Elem())
	}
	return nil
}

// laggingReceiver serves a receiver whose cached reads lag one write.
func laggingReceiver(t *testing.T, configure ...func(*Options)) (url string) {
	t.Helper()
	opts := DefaultOptions()
	opts.Namespace = operatorNamespace
	for _, c := range configure {
		c(&opts)
	}
	r, err := NewReceiver(newLaggingClient(k8sClient), k8sClient, opts)
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)
	return server.URL
}

// callAt sends a callback signed with the fixture's key to the receiver at base.
func (f *fixture) callAt(t *testing.T, base, body string) answer {
	t.Helper()
	target := base + CallbackPathPrefix + f.product.Name + "?" + signedQuery(t, f.key, body).Encode()
	resp, err := http.Post(target, "application/json;charset=utf8", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	return decodeAnswer(t, resp)
}

func TestAStaleCacheNeverDecidesAnAnswer(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	stale := laggingReceiver(t)

	t.Run("UNFREEZE right after FREEZE is stored", func(t *testing.T) {
		id, _ := f.buy(t)
		g.Expect(f.callAt(t, stale, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
		g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateFrozen))
		g.Expect(f.callAt(t, stale, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
		g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateActive))
	})
	t.Run("FREEZE right after UNFREEZE is stored", func(t *testing.T) {
		// Without rule F's freeze retry window, which would take the second
		// FREEZE for a retry of the first.
		stale := laggingReceiver(t, func(o *Options) { o.FreezeRetryWindow = 0 })
		id, _ := f.buy(t)
		g.Expect(f.callAt(t, stale, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
		g.Expect(f.callAt(t, stale, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
		g.Expect(f.callAt(t, stale, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
		g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateFrozen))
	})
	t.Run("a renewal repeated after another renewal is stored once each", func(t *testing.T) {
		id, _ := f.buy(t)
		first, second := newOrderID(), newOrderID()
		g.Expect(f.callAt(t, stale, refreshBody(id, first, "RENEWAL", "20290101000000")).Code).To(Equal("000000"))
		g.Expect(f.callAt(t, stale, refreshBody(id, second, "RENEWAL", "20290201000000")).Code).To(Equal("000000"))
		g.Expect(f.callAt(t, stale, refreshBody(id, first, "RENEWAL", "20290101000000")).Code).To(Equal("000000"))
		g.Expect(orderIDs(getTenant(t, id))).To(ContainElements(first, second))
	})
	t.Run("a plan just added is allowed by changeInstanceCheck", func(t *testing.T) {
		id, _ := f.buy(t)
		product := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), product)).To(Succeed())
		product.Spec.Plans = append(product.Spec.Plans, saasv1alpha1.Plan{SKUCode: "enterprise"})
		g.Expect(k8sClient.Update(ctxFor(t), product)).To(Succeed())
		check := fmt.Sprintf(`{"activity":"changeInstanceCheck","instanceId":%q,"productInfo":{"skuCode":"enterprise"}}`, id)
		a := f.callAt(t, stale, check)
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
	})
	t.Run("a key just added to the keys Secret verifies", func(t *testing.T) {
		id, _ := f.buy(t)
		patch := client.RawPatch(types.MergePatchType, []byte(`{"stringData":{"basicKey.rotated":"a-key-just-added"}}`))
		secret := keysSecretOf(t, f)
		g.Expect(k8sClient.Patch(ctxFor(t), secret, patch)).To(Succeed())
		rotated := &fixture{product: f.product, key: "a-key-just-added"}
		a := rotated.callAt(t, stale, statusBody(id, "FREEZE"))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateFrozen))
	})
}

func keysSecretOf(t *testing.T, f *fixture) client.Object {
	t.Helper()
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}}
}

func orderIDs(t *saasv1alpha1.SaaSTenant) []string {
	ids := make([]string, len(t.Spec.Orders))
	for i, o := range t.Spec.Orders {
		ids[i] = o.OrderID
	}
	return ids
}

func TestAnIssuedInstanceWhoseRecordIsGoneIsAnsweredForEver(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, orderID := f.buy(t)
	// What the tenant controller's finalizer does when the record is
	// deleted (kubectl delete, a debug TTL): the tombstone, then the record.
	g.Expect(tombstone.Record(ctxFor(t), k8sClient, k8sClient, operatorNamespace, id,
		tombstone.Entry{Product: f.product.Name, Kind: tombstone.KindTenant})).To(Succeed())
	tenant := getTenant(t, id)
	g.Expect(tenant.Finalizers).To(ContainElement(saasv1alpha1.Finalizer), "the receiver creates records with the finalizer")
	g.Expect(k8sClient.Delete(ctxFor(t), tenant)).To(Succeed())
	g.Expect(k8sClient.Patch(ctxFor(t), tenant, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))).To(Succeed())

	for name, body := range map[string]string{
		"releaseInstance":      fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id),
		"refreshInstance":      refreshBody(id, newOrderID(), "RENEWAL", "20300101000000"),
		"FREEZE":               statusBody(id, "FREEZE"),
		"UNFREEZE":             statusBody(id, "UNFREEZE"),
		"upgradeInstance":      upgradeBody(id, newOrderID()),
		"the purchase again":   newInstanceBody(orderID),
		"the query":            fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id),
		"a receiver restarted": "",
	} {
		t.Run(name, func(t *testing.T) {
			if body == "" {
				// A reinstalled operator has a new, empty cache: the
				// tombstones are in the API server.
				a := f.callAt(t, laggingReceiver(t), fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id))
				g.Expect(a.Code).To(Equal("000000"), a.Msg)
				return
			}
			a := f.call(t, body)
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			g.Expect(a.AppInfo).To(BeNil())
		})
	}
	again := f.call(t, newInstanceBody(orderID))
	g.Expect(again.InstanceID).To(Equal(id))
	query := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
	g.Expect(query.Info).To(HaveLen(1))
	g.Expect(query.Info[0].InstanceID).To(Equal(id))
	g.Expect(query.Info[0].AppInfo).To(BeNil())

	// Nothing was provisioned again, and each answer left an Event.
	err := k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, &saasv1alpha1.SaaSTenant{})
	g.Expect(err).To(MatchError(ContainSubstring("not found")))
	g.Eventually(func() []eventsv1.Event { return eventsAbout(t, f.product.Name, saasv1alpha1.InstanceGoneReason) }).
		ShouldNot(BeEmpty())

	refused := f.call(t, fmt.Sprintf(`{"activity":"changeInstanceCheck","instanceId":%q,"productInfo":{"skuCode":"pro"}}`, id))
	g.Expect(refused.Code).To(Equal("000002"))
	g.Expect(refused.Msg).To(ContainSubstring("released"))
	// An id kooper never issued is still unknown.
	g.Expect(f.call(t, statusBody("i-00000000000000000000", "FREEZE")).Code).To(Equal("000003"))
	// A tombstone of another product's instance does not make it known here.
	other := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	g.Expect(other.call(t, statusBody(id, "FREEZE")).Code).To(Equal("000003"))
}

// TestAnInstanceLostWithItsCRDWaitsForItsRecord: the SaaSTenant CRD was
// deleted (the records with it) and installed again, and the records are
// not restored yet. The instances were never released: a callback is
// answered 000005 (retried) rather than 000000 as for a released one, which
// would leave a FREEZE or a release unapplied for good while the tenant
// still runs, or 000003. Once the record is restored, it is answered as
// before.
func TestAnInstanceLostWithItsCRDWaitsForItsRecord(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, orderID := f.buy(t)
	// What the tenant controller does when the CRD is being deleted.
	g.Expect(tombstone.Record(ctxFor(t), k8sClient, k8sClient, operatorNamespace, id,
		tombstone.Entry{Product: f.product.Name, Kind: tombstone.KindTenant, LostWithCRD: true})).To(Succeed())
	restore := getTenant(t, id).DeepCopy()
	g.Expect(k8sClient.Delete(ctxFor(t), restore.DeepCopy())).To(Succeed())
	g.Expect(k8sClient.Patch(ctxFor(t), restore.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue())

	for name, body := range map[string]string{
		"releaseInstance":    fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id),
		"refreshInstance":    refreshBody(id, newOrderID(), "RENEWAL", "20300101000000"),
		"FREEZE":             statusBody(id, "FREEZE"),
		"upgradeInstance":    upgradeBody(id, newOrderID()),
		"the purchase again": newInstanceBody(orderID),
		"the query":          fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id),
	} {
		t.Run(name, func(t *testing.T) {
			a := f.call(t, body)
			g.Expect(a.Code).To(Equal("000005"), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring("deleted with the SaaSTenant CRD"))
		})
	}
	err := k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, &saasv1alpha1.SaaSTenant{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the purchase again must not create a record of its own")

	// Restored from a backup: answered from the record again.
	restore.ResourceVersion, restore.UID, restore.DeletionTimestamp, restore.CreationTimestamp = "", "", nil, metav1.Time{}
	restore.Status = saasv1alpha1.SaaSTenantStatus{}
	g.Expect(k8sClient.Create(ctxFor(t), restore)).To(Succeed())
	g.Eventually(func() string { return f.call(t, statusBody(id, "FREEZE")).Code }).Should(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateFrozen))
}

func eventsAbout(t *testing.T, name, reason string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	NewWithT(t).Expect(k8sClient.List(ctxFor(t), list)).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestALateRenewalRetryNeverMovesTheExpiryBack(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	orderA, orderB := newOrderID(), newOrderID()

	// Order B is delivered, then the marketplace's retry of the earlier A.
	g.Expect(f.call(t, refreshBody(id, orderB, "RENEWAL", "20290301000000")).Code).To(Equal("000000"))
	g.Expect(f.call(t, refreshBody(id, orderA, "RENEWAL", "20290201000000")).Code).To(Equal("000000"))
	tenant := getTenant(t, id)
	g.Expect(tenant.Spec.ExpireTime.UTC()).To(Equal(time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC)))
	g.Expect(orderIDs(tenant)).To(ContainElements(orderA, orderB))

	// A shortening order is recorded; the controller applies it by its
	// creation time (rule E), so the receiver leaves the renewal expiry.
	cut := newOrderID()
	g.Expect(f.call(t, refreshBody(id, cut, "UNSUBSCRIBE_RENEWAL_PERIOD", "20290115000000")).Code).To(Equal("000000"))
	tenant = getTenant(t, id)
	g.Expect(tenant.Spec.ExpireTime.UTC()).To(Equal(time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC)))
	g.Expect(orderIDs(tenant)).To(ContainElement(cut))
}

// TestAFreezeRetriedAfterAnUnfreezeIsNotApplied: at the end of a period,
// FREEZE #1 fails (its answer is lost, or 000005). The buyer renews; the
// marketplace sends UNFREEZE (the tenant is Active here: nothing to undo)
// and retries FREEZE #1 before the renewal arrives (spec §1.5 item 4: their
// order is not documented). Before, the retry froze the paying tenant, and
// no UNFREEZE came again. Now it is stale while the UNFREEZE is less than
// --freeze-retry-window old; 0 applies it.
func TestAFreezeRetriedAfterAnUnfreezeIsNotApplied(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	g.Expect(f.call(t, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.LastUnfreezeTime).NotTo(BeNil(), "an UNFREEZE that changed nothing is remembered")
	g.Expect(f.call(t, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateActive), "the retried FREEZE is stale")
	g.Expect(f.call(t, refreshBody(id, newOrderID(), "RENEWAL", "20300101000000")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateActive))

	// A tenant frozen and unfrozen: a FREEZE retried after is stale too.
	id, _ = f.buy(t)
	for _, status := range []string{"FREEZE", "UNFREEZE", "FREEZE"} {
		g.Expect(f.call(t, statusBody(id, status)).Code).To(Equal("000000"))
	}
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateActive))

	applies := laggingReceiver(t, func(o *Options) { o.FreezeRetryWindow = 0 })
	id, _ = f.buy(t)
	g.Expect(f.callAt(t, applies, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
	g.Expect(f.callAt(t, applies, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateFrozen), "--freeze-retry-window=0 turns this check off")
}

// TestAFreezeJustInsideTheWindowAfterASubSecondUnfreezeIsStale: the
// receiver stores spec.lastUnfreezeTime to the second, so an UNFREEZE at
// 10:00:00.900 is stored as 10:00:00. A FREEZE at 10:00:00.400 the next
// day came 23h59m59.5s after it, within the 24-hour freeze retry window,
// and is stale (rule F); it was measured from the stored second, taken as
// past the window, and applied: a paying buyer frozen.
func TestAFreezeJustInsideTheWindowAfterASubSecondUnfreezeIsStale(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	unfreezeAt := time.Now().Truncate(time.Second).Add(900 * time.Millisecond)
	clock := clocktesting.NewFakeClock(unfreezeAt)
	opts := receiver.opts
	opts.Now = clock.Now
	r, err := NewReceiver(receiver.client, receiver.reader, opts)
	g.Expect(err).NotTo(HaveOccurred())
	// send signs body with the receiver's time, so that its timestamp is
	// within the signature window however far the clock is moved.
	send := func(body string) answer {
		q := resign(f.key, body, strconv.FormatInt(clock.Now().UnixMilli(), 10))
		req := httptest.NewRequest(http.MethodPost, CallbackPathPrefix+f.product.Name+"?"+q.Encode(), strings.NewReader(body))
		req.SetPathValue("product", f.product.Name)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return decodeAnswer(t, rec.Result())
	}

	g.Expect(send(statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
	stored := getTenant(t, id).Spec.LastUnfreezeTime
	g.Expect(stored).NotTo(BeNil())
	g.Expect(stored.Time).To(Equal(unfreezeAt.Truncate(time.Second)), "stored without its 900 milliseconds")

	clock.SetTime(unfreezeAt.Add(opts.FreezeRetryWindow - 500*time.Millisecond))
	a := send(statusBody(id, "FREEZE"))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateActive),
		"a FREEZE %s after the UNFREEZE is within the %s window", opts.FreezeRetryWindow-500*time.Millisecond, opts.FreezeRetryWindow)
}

func TestAStaleFreezeIsAnsweredAndNotApplied(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	future := time.Now().UTC().AddDate(0, 1, 0).Format("20060102150405")
	past := time.Now().UTC().AddDate(0, -1, 0).Format("20060102150405")
	soon := time.Now().UTC().Add(10 * time.Minute).Format("20060102150405")
	longAgo := time.Now().UTC().AddDate(0, -3, 0).Format("20060102150405")
	for _, tc := range []struct {
		name    string
		renewal []string // scene and expireTime pairs, in arrival order
		// aged is how many of the pairs were received two months ago: the
		// record's receivedTime of each is moved back by hand.
		aged int
		want saasv1alpha1.SubscriptionState
	}{
		{"no renewal: applied", nil, 0, saasv1alpha1.StateFrozen},
		{"after a renewal that runs for a month: stale", []string{"RENEWAL", future}, 0, saasv1alpha1.StateActive},
		{"after a trial conversion that runs for a month: stale", []string{"TRIAL_TO_FORMAL", future}, 0, saasv1alpha1.StateActive},
		{"at the end of the renewed period: applied", []string{"RENEWAL", past}, 0, saasv1alpha1.StateFrozen},
		{"within the margin of the renewal's end: applied", []string{"RENEWAL", soon}, 0, saasv1alpha1.StateFrozen},
		{"after a shortened period ended: applied", []string{"RENEWAL", future, "UNSUBSCRIBE_RENEWAL_PERIOD", past}, 0, saasv1alpha1.StateFrozen},
		{"after a refund, the retry of the renewal it cut: applied",
			[]string{"UNSUBSCRIBE_RENEWAL_PERIOD", past, "RENEWAL", future}, 0, saasv1alpha1.StateFrozen},
		{"after a refund of long ago and a renewal since: stale",
			[]string{"RENEWAL", past, "UNSUBSCRIBE_RENEWAL_PERIOD", longAgo, "RENEWAL", future}, 2, saasv1alpha1.StateActive},
		{"after a refund of long ago, renewed since, then refunded again: applied",
			[]string{"RENEWAL", past, "UNSUBSCRIBE_RENEWAL_PERIOD", longAgo, "RENEWAL", future, "UNSUBSCRIBE_RENEWAL_PERIOD", past}, 2, saasv1alpha1.StateFrozen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			id, _ := f.buy(t)
			for i := 0; i < len(tc.renewal); i += 2 {
				if i == 2*tc.aged && tc.aged > 0 {
					receivedLongAgo(t, id)
				}
				g.Expect(f.call(t, refreshBody(id, newOrderID(), tc.renewal[i], tc.renewal[i+1])).Code).To(Equal("000000"))
			}
			g.Expect(f.call(t, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
			g.Expect(getTenant(t, id).Spec.State).To(Equal(tc.want))
			if tc.want == saasv1alpha1.StateActive {
				g.Eventually(func() []eventsv1.Event { return eventsAbout(t, id, saasv1alpha1.StaleFreezeIgnoredReason) }).ShouldNot(BeEmpty())
			}
		})
	}
}

// receivedLongAgo moves the receivedTime of every order recorded for
// instance id two months back, as if they had come then.
func receivedLongAgo(t *testing.T, id string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		tenant := getTenant(t, id)
		for i := range tenant.Spec.Orders {
			tenant.Spec.Orders[i].ReceivedTime = metav1.NewTime(tenant.Spec.Orders[i].ReceivedTime.AddDate(0, -2, 0))
		}
		return k8sClient.Update(ctxFor(t), tenant)
	}).Should(Succeed())
}

func TestAStaleCacheNeverDecidesAKitRefusal(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	stale := laggingReceiver(t)
	kitAt := func(key, body string) answer {
		h := kitHeaders(t, key, body)
		req, err := http.NewRequest(http.MethodPost, stale+CallbackPathPrefix+f.product.Name+koogallery.KitPathPrefix+string(koogallery.KitApplicationSync), bytes.NewBufferString(body))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		return decodeAnswer(t, resp)
	}
	instanceID, tenantID := kitIDs()
	// The stale receiver reads the keys Secret once as it is now...
	g.Expect(kitAt(testKitKey, applicationSyncBody(instanceID, tenantID, "", 0)).Code).To(Equal("000000"))

	// ...then the merchant replaces the RSA key...
	newRSA, err := rsa.GenerateKey(rand.Reader, 3072)
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := koogallery.PrivateKeyPEM(newRSA)
	g.Expect(err).NotTo(HaveOccurred())
	updateKeys := func(name string, value []byte) {
		secret := &corev1.Secret{}
		g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKey{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}, secret)).To(Succeed())
		secret.Data[name] = value
		g.Expect(k8sClient.Update(ctxFor(t), secret)).To(Succeed())
	}
	updateKeys(saasv1alpha1.RSAPrivateKeySecretKey, pemKey)
	ciphertext, err := koogallery.EncryptClientSecret(&newRSA.PublicKey, "the-client-secret", koogallery.DefaultOAEPHashes[0])
	g.Expect(err).NotTo(HaveOccurred())
	a := kitAt(testKitKey, applicationSyncBody(instanceID, tenantID, ciphertext, 1))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)

	// ...and the kit key.
	updateKeys(saasv1alpha1.KitKeySecretKey, []byte("a-kit-key-just-rotated"))
	a = kitAt("a-kit-key-just-rotated", applicationSyncBody(instanceID, tenantID, "", 0))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	d, _ := storedDirectory(t, instanceID, tenantID)
	g.Expect(d.Spec.Applications).To(BeEmpty())
}
