package webhook

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestGetLicenseAsyncTimeWithAZoneName: the spec shows getLicenseAsync's
// times only by the example "2023-10-27 10:30:15 z" (spec §3.10, §8 item
// 26), which is Java's "yyyy-MM-dd HH:mm:ss z": its z prints UTC, GMT or
// GMT+08:00 as well. Such a time was answered 000002, and the paying buyer
// got no licence; it is the instant it names, stored as such.
func TestGetLicenseAsyncTimeWithAZoneName(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id, _ := f.buy(t)
	notBefore := time.Date(2026, 11, 22, 10, 30, 15, 0, time.UTC)
	notAfter := time.Date(2027, 11, 22, 10, 30, 15, 0, time.UTC)
	cases := []struct{ name, effective, expire string }{
		{"UTC", "2026-11-22 10:30:15 UTC", "2027-11-22 10:30:15 UTC"},
		{"gmt", "2026-11-22 10:30:15 gmt", "2027-11-22 10:30:15 gmt"},
		{"GMT+08:00", "2026-11-22 18:30:15 GMT+08:00", "2027-11-22 18:30:15 GMT+08:00"},
		{"a numeric offset", "2026-11-22 18:30:15 +0800", "2027-11-22 05:30:15 -05:00"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			eventID := fmt.Sprintf("evt-zone-%d-%s", i, newOrderID())
			a := f.call(t, licenseWindowBody(id, eventID, tc.effective, tc.expire))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			application := &saasv1alpha1.License{}
			key := types.NamespacedName{Name: licenseApplicationName(eventID, "")}
			g.Expect(k8sClient.Get(ctxFor(t), key, application)).To(Succeed())
			g.Expect(application.Spec.InstanceID).To(Equal(id))
			g.Expect(application.Spec.NotBefore).NotTo(BeNil())
			g.Expect(application.Spec.NotBefore.Time).To(BeTemporally("==", notBefore))
			g.Expect(application.Spec.NotAfter).NotTo(BeNil())
			g.Expect(application.Spec.NotAfter.Time).To(BeTemporally("==", notAfter))
		})
	}
	// A zone abbreviation that names several zones (CST: China, US Central,
	// Cuba) stays refused, as the bad request it is.
	g := NewWithT(t)
	a := f.call(t, licenseWindowBody(id, "evt-zone-cst-"+newOrderID(), "2026-11-22 18:30:15 CST", "2027-11-22 18:30:15 CST"))
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	g.Expect(a.Msg).To(ContainSubstring("effectiveTime"))
}
