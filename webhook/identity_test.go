package webhook

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestOneOrderLineBoughtFromThreeProductsGetsAnInstanceOfEach: the Seller
// Console's debugging tool sends the same mock order (MOCKPERIODYEARNEW,
// spec §1.9) to every product of the merchant, and each must answer it
// (spec §1.8: one instance per order line, of that product). The second
// product was answered 000003 "instance does not exist" on every retry
// while the first product's instance held the order line's ID.
func TestOneOrderLineBoughtFromThreeProductsGetsAnInstanceOfEach(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeSaaS), newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	licences := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	// A fresh order line stands for the mock one: this package's tests share
	// one API server.
	orderID := newOrderID()
	line := orderID + "-000001"
	want := map[*fixture]string{
		// A debug purchase takes its product's own ID, the first product's too.
		first:    productInstanceID(first.product.Name, orderID, line),
		second:   productInstanceID(second.product.Name, orderID, line),
		licences: productInstanceID(licences.product.Name, orderID, line),
	}
	for range 2 { // the debugging tool replays a case as often as asked
		for _, f := range []*fixture{first, second, licences} {
			a := f.call(t, newInstanceBody(orderID, `"testFlag":"1"`))
			g.Expect(a.Code).To(Equal("000000"), "%s: %s", f.product.Name, a.Msg)
			g.Expect(a.InstanceID).To(Equal(want[f]), f.product.Name)
		}
	}
	g.Expect(getTenant(t, want[first]).Spec.ProductName).To(Equal(first.product.Name))
	g.Expect(getTenant(t, want[second]).Spec.ProductName).To(Equal(second.product.Name))
	licence := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: want[licences]}, licence)).To(Succeed())
	g.Expect(licence.Spec.ProductName).To(Equal(licences.product.Name))

	// Each instance is its own product's only.
	query := fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, want[second])
	g.Expect(first.call(t, query).Code).To(Equal("000003"))
	g.Expect(second.call(t, query).Code).To(Equal("000000"))
}

// TestAPurchaseKeepsItsOwnIDWhenTheSharedOneIsFreedAgain: an ID once given
// stays the purchase's. Here the first product's record goes without a
// tombstone (as if forgotten), so the shared ID is free again; the second
// product's repeat still gets the ID it was first given.
func TestAPurchaseKeepsItsOwnIDWhenTheSharedOneIsFreedAgain(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeSaaS), newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	shared := first.call(t, newInstanceBody(orderID)).InstanceID
	own := second.call(t, newInstanceBody(orderID)).InstanceID
	g.Expect(own).To(Equal(productInstanceID(second.product.Name, orderID, orderID+"-000001")))

	forget(t, shared)
	g.Eventually(func() bool { return !receiver.cached(ctxFor(t), first.product, shared) }).Should(BeTrue())
	g.Eventually(func() bool { return receiver.cached(ctxFor(t), second.product, own) }).Should(BeTrue())
	a := second.call(t, newInstanceBody(orderID))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(Equal(own))
	g.Expect(apierrors.IsNotFound(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: shared}, &saasv1alpha1.SaaSTenant{}))).
		To(BeTrue(), "no second instance under the freed ID")
}

// TestAPurchaseRacingAnotherProductsForTheSharedIDTakesItsOwn: the other
// product's record is not in the receiver's cache yet, so the receiver
// tries the shared ID, meets AlreadyExists, finds another product's record
// on the API server and takes its own ID.
func TestAPurchaseRacingAnotherProductsForTheSharedIDTakesItsOwn(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeSaaS), newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	g.Expect(first.call(t, newInstanceBody(orderID)).Code).To(Equal("000000"))

	unseen, err := NewReceiver(tenantsNotYetCached{receiver.client}, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	a := serveDirect(t, unseen, second, newInstanceBody(orderID))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(Equal(productInstanceID(second.product.Name, orderID, orderID+"-000001")))
	g.Expect(getTenant(t, a.InstanceID).Spec.ProductName).To(Equal(second.product.Name))
	again := second.call(t, newInstanceBody(orderID))
	g.Expect(again.InstanceID).To(Equal(a.InstanceID), "a repeat through a cache that has seen everything agrees")
}

// TestOneLicenceEventOfTwoInstancesIsRecordedForEach: the debugging tool
// replays one getLicenseAsync event for every product's instance. The
// second instance's application was answered 000000 and never made while
// the first instance's held the event's name.
func TestOneLicenceEventOfTwoInstancesIsRecordedForEach(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeLicense), newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	firstID, _ := first.buy(t)
	secondID, _ := second.buy(t)
	eventID := "evt-" + newOrderID()
	for range 2 {
		g.Expect(first.call(t, licenseAsyncBody(firstID, eventID, "fp", "2027-11-22 10:30:15 z")).Code).To(Equal("000000"))
		g.Expect(second.call(t, licenseAsyncBody(secondID, eventID, "fp", "2027-11-22 10:30:15 z")).Code).To(Equal("000000"))
	}
	applications := map[string]string{}
	list := &saasv1alpha1.LicenseList{}
	g.Expect(k8sClient.List(ctxFor(t), list)).To(Succeed())
	for _, l := range list.Items {
		if l.Spec.EventID == eventID {
			applications[l.Name] = l.Spec.InstanceID
		}
	}
	g.Expect(applications).To(Equal(map[string]string{
		licenseApplicationName(eventID, "fp"):                                firstID,
		productApplicationName(second.product.Name, secondID, eventID, "fp"): secondID,
	}))
}

// tenantsNotYetCached is a receiver's cache that has not seen any
// SaaSTenant yet.
type tenantsNotYetCached struct{ client.Client }

func (c tenantsNotYetCached) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*saasv1alpha1.SaaSTenant); ok {
		return apierrors.NewNotFound(saasv1alpha1.GroupVersion.WithResource("saastenants").GroupResource(), key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// forget deletes tenant id's record as if kooper had never issued it: the
// finalizer dropped, no tombstone written (the receiver's tests run no
// controller).
func forget(t *testing.T, id string) {
	t.Helper()
	g := NewWithT(t)
	tenant := getTenant(t, id)
	tenant.Finalizers = nil
	g.Expect(k8sClient.Update(ctxFor(t), tenant)).To(Succeed())
	g.Expect(client.IgnoreNotFound(k8sClient.Delete(ctxFor(t), tenant))).To(Succeed())
}
