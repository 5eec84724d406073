package webhook

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// Tests of answers about a condition that lasts longer than the
// marketplace retries (spec §1.7): each one answered so that the order
// failed for good, or succeeded with nothing ever delivered.

// TestANewPurchaseOfAProductBeingDeletedIsRefused: a product being deleted
// may lose its in-use finalizer at any moment, so a tenant recorded for it
// would stall on ProductNotFound for ever and its later callbacks be
// answered "unknown product". A new purchase is refused with 000106 (sold
// out) and nothing is stored; a repeat of a purchase already stored, and
// every other callback of an existing instance, is answered as before.
func TestANewPurchaseOfAProductBeingDeletedIsRefused(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, orderID := f.buy(t)
	const hold = "test.kooper.io/hold"
	g.Expect(k8sClient.Patch(ctxFor(t), f.product, client.RawPatch(types.MergePatchType,
		fmt.Appendf(nil, `{"metadata":{"finalizers":[%q]}}`, hold)))).To(Succeed())
	t.Cleanup(func() {
		_ = k8sClient.Patch(context.Background(), f.product, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
	})
	g.Expect(k8sClient.Delete(ctxFor(t), f.product)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cached := &saasv1alpha1.SaaSProduct{}
		g.Expect(receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), cached)).To(Succeed())
		g.Expect(cached.DeletionTimestamp.IsZero()).To(BeFalse())
	}).Should(Succeed())

	newOrder := newOrderID()
	refused := f.call(t, newInstanceBody(newOrder))
	g.Expect(refused.Code).To(Equal("000106"), refused.Msg)
	g.Expect(refused.Msg).To(ContainSubstring(fmt.Sprintf("SaaSProduct %q is being deleted and takes no new purchases", f.product.Name)))
	err := k8sClient.Get(ctxFor(t), types.NamespacedName{Name: instanceID(newOrder, newOrder+"-000001")}, &saasv1alpha1.SaaSTenant{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a refused purchase stores nothing: %v", err)

	again := f.call(t, newInstanceBody(orderID))
	g.Expect(again.Code).To(Equal("000000"), again.Msg)
	g.Expect(again.InstanceID).To(Equal(id))
	query := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
	g.Expect(query.Code).To(Equal("000000"), query.Msg)
	g.Expect(f.call(t, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateFrozen))
	g.Expect(f.call(t, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id)).Code).To(Equal("000000"))
}

// TestGetLicenseAsyncOfAFrozenInstanceIsRefused: the licence controller
// neither issues nor uploads while the instance is frozen, so an
// application accepted then is delivered only if the buyer renews. It is
// answered 000901, as for a released instance; after an UNFREEZE it is
// accepted.
func TestGetLicenseAsyncOfAFrozenInstanceIsRefused(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id, _ := f.buy(t)
	g.Expect(f.call(t, statusBody(id, "FREEZE")).Code).To(Equal("000000"))

	body := licenseAsyncBody(id, "evt-frozen-"+newOrderID(), "fp", "2027-11-22 10:30:15 z")
	a := f.call(t, body)
	g.Expect(a.Code).To(Equal("000901"), a.Msg)
	g.Expect(a.Msg).To(Equal("the instance is frozen: its order has expired; apply again after renewing"))
	list := &saasv1alpha1.LicenseList{}
	g.Expect(k8sClient.List(ctxFor(t), list, client.MatchingLabels{saasv1alpha1.ProductLabel: f.product.Name})).To(Succeed())
	g.Expect(list.Items).To(HaveLen(1), "nothing but the instance is stored")

	g.Expect(f.call(t, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
	a = f.call(t, body)
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
}

// TestGetLicenseAsyncStartingWhenTheOrderEndsIsRefused: an application
// without expireTime ends with the order; one that starts at or after the
// order's expiry in force has an empty window, on which the licence stalls
// (Expired) and is never uploaded. It is answered 000901.
func TestGetLicenseAsyncStartingWhenTheOrderEndsIsRefused(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id := licenceOfOrder(t, f, saasv1alpha1.ChargingOneTime, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	cases := []struct{ name, effective, code string }{
		{"after the order's expiry", "2027-06-01 00:00:00 z", "000901"},
		{"at the order's expiry", "2027-01-01 00:00:00 z", "000901"},
		{"within the order", "2026-11-22 10:30:15 z", "000000"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			body := fmt.Sprintf(`{"activity":"getLicenseAsync","instanceId":%q,"eventId":"evt-start-%d-%s","effectiveTime":%q}`,
				id, i, newOrderID(), tc.effective)
			a := f.call(t, body)
			g.Expect(a.Code).To(Equal(tc.code), a.Msg)
			if tc.code == "000901" {
				g.Expect(a.Msg).To(ContainSubstring("before 2027-01-01T00:00:00Z"))
			}
		})
	}
}

// TestARepeatedPurchaseWhoseAppInfoCannotBeBuiltIsStillAnswered: the
// tenant is stored and runs; its credentials key is missing or another
// key. Answering the repeat 000005 makes the marketplace retry it for three
// hours and then fail the paid order. It is answered 000000 with the
// instance ID and no appInfo (spec §3.2: appInfo may come later, by
// queryInstance), and queryInstance still answers 000005.
func TestARepeatedPurchaseWhoseAppInfoCannotBeBuiltIsStillAnswered(t *testing.T) {
	t.Run("a tenant", func(t *testing.T) {
		g := NewWithT(t)
		f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
		id, orderID := f.buy(t)
		makeDerivedServing(t, id, "0000000000000000")

		a := f.call(t, newInstanceBody(orderID))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		g.Expect(a.InstanceID).To(Equal(id))
		g.Expect(a.AppInfo).To(BeNil())
		g.Expect(a.EncryptType).To(BeEmpty())

		query := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
		g.Expect(query.Code).To(Equal("000005"), query.Msg)
	})
	t.Run("a licence", func(t *testing.T) {
		g := NewWithT(t)
		f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
		id, orderID := f.buy(t)
		instance := &saasv1alpha1.License{}
		g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, instance)).To(Succeed())
		instance.Status.LicenseKeyRef = &saasv1alpha1.SecretKeyReference{Namespace: operatorNamespace, Name: "licence-key-never-stored", Key: "licence"}
		apimeta.SetStatusCondition(&instance.Status.Conditions, metav1.Condition{
			Type: saasv1alpha1.IssuedCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.SucceededReason, Message: "issued"})
		g.Expect(k8sClient.Status().Update(ctxFor(t), instance)).To(Succeed())

		a := f.call(t, newInstanceBody(orderID))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		g.Expect(a.InstanceID).To(Equal(id))
		g.Expect(a.AppInfo).To(BeNil())
	})
}

// TestAQueryOfSeveralIDsAnswersThoseNotLostWithTheCRD: one instance of a
// multi-ID queryInstance was lost with its CRD. The others are answered and
// the lost one left out, as an ID the receiver cannot answer (spec §3.3);
// answering the whole query 000005 would withhold every other instance
// until the record is restored. Asked for alone, or with IDs never issued,
// it is still 000005, retried.
func TestAQueryOfSeveralIDsAnswersThoseNotLostWithTheCRD(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	kept, _ := f.buy(t)
	lost, _ := f.buy(t)
	g.Expect(tombstone.Record(ctxFor(t), k8sClient, k8sClient, operatorNamespace, lost,
		tombstone.Entry{Product: f.product.Name, Kind: tombstone.KindTenant, LostWithCRD: true})).To(Succeed())
	tenant := getTenant(t, lost)
	g.Expect(k8sClient.Delete(ctxFor(t), tenant)).To(Succeed())
	g.Expect(k8sClient.Patch(ctxFor(t), tenant, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: lost}, &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue())

	for _, ids := range []string{kept + "," + lost, lost + "," + kept} {
		a := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, ids))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		g.Expect(a.Info).To(ConsistOf(HaveField("InstanceID", kept)))
	}
	for _, ids := range []string{lost, lost + ",i-never-issued"} {
		a := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, ids))
		g.Expect(a.Code).To(Equal("000005"), a.Msg)
		g.Expect(a.Msg).To(ContainSubstring("deleted with the SaaSTenant CRD"))
	}
}
