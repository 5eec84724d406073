package webhook

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestALicenceEndingAtTheOrdersExpiryWithMillisecondsIsAccepted: both
// times are documented to the second (refreshInstance's expireTime
// yyyyMMddHHmmss, its example with milliseconds; getLicenseAsync's by the
// example "2023-10-27 10:30:15 z"), and a License stores them to the
// second. A renewal to 10:30:15.256 and a licence asked to end at
// 10:30:15.256 end at the same instant: the licence is within the order's
// validity (000000), not 000901, which the marketplace retries for two
// hours and the buyer never gets a key. One second past it stays 000901.
func TestALicenceEndingAtTheOrdersExpiryWithMillisecondsIsAccepted(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id := licenceOfOrder(t, f, saasv1alpha1.ChargingPeriod, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	g.Expect(f.call(t, refreshBody(id, newOrderID(), "RENEWAL", "20271027103015256")).Code).To(Equal("000000"))

	eventID := "evt-ms-" + newOrderID()
	a := f.call(t, licenseAsyncBody(id, eventID, "fp", "2027-10-27 10:30:15.256 z"))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	application := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: licenseApplicationName(eventID, "fp")}, application)).To(Succeed())
	g.Expect(application.Spec.NotAfter.Time).To(BeTemporally("==", time.Date(2027, 10, 27, 10, 30, 15, 0, time.UTC)))

	a = f.call(t, licenseAsyncBody(id, "evt-ms-"+newOrderID(), "fp", "2027-10-27 10:30:16 z"))
	g.Expect(a.Code).To(Equal("000901"), a.Msg)
	g.Expect(a.Msg).To(ContainSubstring("by 2027-10-27T10:30:15Z"))
}
