package webhook

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestTheDeviceBindingIsThePlanOfTheOrderInForce: the receiver took the
// plan whose device binding 000903 checks from status.skuCode, which is
// written only when a key is issued: an instance whose order was resolved
// but which had no key yet took an application naming no device under a
// device-bound plan (000000). The plan is now the resolved order's. Before
// the order is resolved nothing can be decided: the application is stored
// (a 000005 until Query Order answers would count against the merchant),
// and the licence controller issues its key only to the rules
// (TestAnApplicationWithoutFingerprintUnderRequiredBindingGetsNoKey,
// TestAnApplicationKeyEndsWithTheInstancesPaidPeriod).
func TestTheDeviceBindingIsThePlanOfTheOrderInForce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	g.Expect(k8sClient.Patch(ctxFor(t), f.product, client.RawPatch(types.JSONPatchType,
		[]byte(`[{"op":"add","path":"/spec/plans/1/license/deviceBinding","value":"Required"}]`)))).To(Succeed())
	g.Eventually(func(g Gomega) {
		product := &saasv1alpha1.SaaSProduct{}
		g.Expect(receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), product)).To(Succeed())
		g.Expect(product.Spec.Plans[1].License.DeviceBinding).To(Equal(saasv1alpha1.DeviceBindingRequired))
	}).Should(Succeed())

	unresolved, _ := f.buy(t)
	event := "evt-unresolved-" + newOrderID()
	a := f.call(t, licenseAsyncBody(unresolved, event, "", "2036-11-22 10:30:15 z"))
	g.Expect(a.Code).To(Equal("000000"), "stored, to be held to the rules by the controller: %s", a.Msg)

	resolved := licenceOfOrder(t, f, saasv1alpha1.ChargingPeriod, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	instance := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: resolved}, instance)).To(Succeed())
	instance.Status.SKUCode = "" // no key issued yet
	g.Expect(k8sClient.Status().Update(ctxFor(t), instance)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cached := &saasv1alpha1.License{}
		g.Expect(receiver.client.Get(ctxFor(t), types.NamespacedName{Name: resolved}, cached)).To(Succeed())
		g.Expect(cached.Status.SKUCode).To(BeEmpty())
	}).Should(Succeed())
	event = "evt-resolved-" + newOrderID()
	g.Expect(f.call(t, licenseAsyncBody(resolved, event, "", "2026-12-01 00:00:00 z")).Code).To(Equal("000903"))
	g.Expect(f.call(t, licenseAsyncBody(resolved, event, "fp", "2036-11-22 10:30:15 z")).Code).To(Equal("000901"))
	g.Expect(f.call(t, licenseAsyncBody(resolved, event, "fp", "2026-12-01 00:00:00 z")).Code).To(Equal("000000"))
}
