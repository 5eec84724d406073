package webhook

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// Tests of docs/lifecycle.md rule A (an answer is never decided on the
// cache alone) for what a newInstance or a getLicenseAsync stores, each from
// an input that failed before.

// TestALicenceApplicationTheCacheStillHoldsIsStoredAgain: the debugging
// tool replays one event for two products' instances, so the second one's
// application is stored under its product-named name. It is deleted by
// hand; the marketplace retries the event on a replica whose cache still
// holds the application. That was answered 000000 with nothing stored, and
// no licence was ever uploaded for the event.
func TestALicenceApplicationTheCacheStillHoldsIsStoredAgain(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeLicense), newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	firstID, _ := first.buy(t)
	secondID, _ := second.buy(t)
	eventID := "evt-" + newOrderID()
	body := func(id string) string { return licenseAsyncBody(id, eventID, "fp", "2027-11-22 10:30:15 z") }
	g.Expect(first.call(t, body(firstID)).Code).To(Equal("000000"))
	g.Expect(second.call(t, body(secondID)).Code).To(Equal("000000"))

	key := types.NamespacedName{Name: productApplicationName(second.product.Name, secondID, eventID, "fp")}
	held := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), key, held)).To(Succeed())
	g.Expect(k8sClient.Delete(ctxFor(t), held.DeepCopy())).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctxFor(t), key, &saasv1alpha1.License{}))
	}).Should(BeTrue())

	behind, err := NewReceiver(testenv.CacheBehind{Client: receiver.client, Old: held}, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	a := serveDirect(t, behind, second, body(secondID))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	stored := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), key, stored)).To(Succeed(), "000000 means the application is stored")
	g.Expect(stored.Spec.InstanceID).To(Equal(secondID))
	g.Expect(stored.Spec.EventID).To(Equal(eventID))

	// The first instance's application is untouched, and a repeat through
	// an up-to-date cache agrees.
	g.Expect(second.call(t, body(secondID)).Code).To(Equal("000000"))
	kept := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: licenseApplicationName(eventID, "fp")}, kept)).To(Succeed())
	g.Expect(kept.Spec.InstanceID).To(Equal(firstID))
}

// TestAPurchaseNeverTakesASharedIDWhoseTombstoneIsNotCachedYet: product
// A's record of the order line's shared ID (a purchase, or a debug one an
// earlier kooper gave the shared ID) is deleted (its finalizer writes the
// tombstone first). This replica's SaaSTenant informer has seen the
// deletion, its ConfigMap informer not yet the tombstone. Product B's
// debug newInstance of the same order line (the debugging tool sends the
// same mock order lines to every product, spec §1.9) was given the shared
// ID: answered to the marketplace, it cannot be taken back. A debug
// purchase now takes its product's own ID, with no read.
func TestAPurchaseNeverTakesASharedIDWhoseTombstoneIsNotCachedYet(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeSaaS), newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	line := orderID + "-000001"
	debug := newInstanceBody(orderID, `"testFlag":"1"`)
	shared := first.call(t, newInstanceBody(orderID)).InstanceID
	g.Expect(shared).To(Equal(instanceID(orderID, line)))

	// What the tenant controller's finalizer does: the tombstone, then the record goes.
	g.Expect(tombstone.Record(ctxFor(t), k8sClient, k8sClient, operatorNamespace, shared,
		tombstone.Entry{Product: first.product.Name, Kind: tombstone.KindTenant})).To(Succeed())
	tenant := getTenant(t, shared)
	g.Expect(k8sClient.Delete(ctxFor(t), tenant)).To(Succeed())
	g.Expect(k8sClient.Patch(ctxFor(t), tenant, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))).To(Succeed())
	g.Eventually(func() bool { return !receiver.cached(ctxFor(t), first.product, shared) }).Should(BeTrue())

	unseen, err := NewReceiver(tombstonesNotYetCached{receiver.client}, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	a := serveDirect(t, unseen, second, debug)
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(Equal(productInstanceID(second.product.Name, orderID, line)), "the shared ID is the first product's for ever")
	g.Expect(getTenant(t, a.InstanceID).Spec.ProductName).To(Equal(second.product.Name))
	g.Expect(apierrors.IsNotFound(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: shared}, &saasv1alpha1.SaaSTenant{}))).
		To(BeTrue(), "no record of the second product under the first one's ID")

	again := second.call(t, debug)
	g.Expect(again.InstanceID).To(Equal(a.InstanceID), "a repeat through a cache that has seen everything agrees")
}

// TestADebugPurchaseCostsNoRead: a new debug purchase is decided on the
// cache and stored by its Create alone. It cost three reads of the API
// server (both record kinds and the tombstone shard of the shared ID), a
// callback 4.0 times as slow as a raw Create at 50 a second
// (docs/benchmarks.md, 2026-12-07). A debug purchase an earlier kooper
// gave the shared ID keeps it, decided on the cache too.
func TestADebugPurchaseCostsNoRead(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	// A product or keys Secret the cache has not seen yet is read from the
	// API server once (TestUnauthenticatedRequestsSpendAtMostTheReadBudget):
	// that is not the purchase's read.
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), &saasv1alpha1.SaaSProduct{})
	}).Should(Succeed(), "the receiver's cache holds the product")
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKey{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}, &corev1.Secret{})
	}).Should(Succeed(), "the receiver's cache holds the keys Secret")
	reads := &countingReader{Reader: receiver.reader}
	counted, err := NewReceiver(receiver.client, reads, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())

	orderID := newOrderID()
	a := serveDirect(t, counted, f, newInstanceBody(orderID, `"testFlag":"1"`))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(Equal(productInstanceID(f.product.Name, orderID, orderID+"-000001")))
	g.Expect(reads.gets.Load()).To(BeZero(), "API-server reads of a new debug purchase")

	// An earlier kooper's answer: the debug purchase's record under the shared ID.
	earlier := newOrderID()
	shared := instanceID(earlier, earlier+"-000001")
	g.Expect(k8sClient.Create(ctxFor(t), &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: shared, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.ProductLabel: f.product.Name}},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: shared, ProductName: f.product.Name, OrderID: earlier,
			OrderLineID: earlier + "-000001", BusinessID: "b", State: saasv1alpha1.StateActive, Mode: saasv1alpha1.ModeDebug},
	})).To(Succeed())
	g.Eventually(func() bool { return receiver.cached(ctxFor(t), f.product, shared) }).Should(BeTrue())
	again := serveDirect(t, counted, f, newInstanceBody(earlier, `"testFlag":"1"`))
	g.Expect(again.Code).To(Equal("000000"), again.Msg)
	g.Expect(again.InstanceID).To(Equal(shared), "an ID once answered stays the purchase's")
	g.Expect(apierrors.IsNotFound(k8sClient.Get(ctxFor(t),
		types.NamespacedName{Name: productInstanceID(f.product.Name, earlier, earlier+"-000001")}, &saasv1alpha1.SaaSTenant{}))).
		To(BeTrue(), "no second instance of the order line")
}

// TestARepeatedPurchaseCostsOneRead: a repeat of a purchase whose record the cache holds, under the shared ID
// or under the product's own, reads the API server once, as before
// (docs/reliability.md, scenario 7: a storm of duplicates).
func TestARepeatedPurchaseCostsOneRead(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeSaaS), newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	shared := first.call(t, newInstanceBody(orderID)).InstanceID
	own := second.call(t, newInstanceBody(orderID)).InstanceID
	g.Expect(own).NotTo(Equal(shared))
	g.Eventually(func() bool {
		return receiver.cached(ctxFor(t), first.product, shared) && receiver.cached(ctxFor(t), second.product, own)
	}).Should(BeTrue())

	reads := &countingReader{Reader: receiver.reader}
	counted, err := NewReceiver(receiver.client, reads, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	for f, want := range map[*fixture]string{first: shared, second: own} {
		before := reads.gets.Load()
		a := serveDirect(t, counted, f, newInstanceBody(orderID))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		g.Expect(a.InstanceID).To(Equal(want))
		g.Expect(reads.gets.Load()-before).To(BeEquivalentTo(1), "API-server reads of a repeat of %s's purchase", f.product.Name)
	}
}

// tombstonesNotYetCached is a receiver's cache that has not seen any
// tombstone shard yet.
type tombstonesNotYetCached struct{ client.Client }

func (c tombstonesNotYetCached) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.ConfigMap); ok && strings.HasPrefix(key.Name, tombstone.ShardPrefix) {
		return apierrors.NewNotFound(corev1.Resource("configmaps"), key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}
