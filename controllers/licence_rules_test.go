package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// newApplicationFor stores an application of instance for event, valid from
// an hour ago until notAfter, naming device (none when empty): one created
// by hand, or accepted by the receiver before the instance's order was
// resolved, carries whatever window and device it was given.
func newApplicationFor(t *testing.T, product *saasv1alpha1.SaaSProduct, instance, event, device string, notAfter time.Time) *saasv1alpha1.License {
	t.Helper()
	from, until := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second)), metav1.NewTime(notAfter)
	application := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: "l-" + strings.ToLower(event), Labels: map[string]string{saasv1alpha1.ProductLabel: product.Name}},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: instance, ProductName: product.Name, EventID: event,
			DeviceFingerprint: device, NotBefore: &from, NotAfter: &until},
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), application)).To(Succeed())
	return application
}

// TestAnApplicationKeyEndsWithTheInstancesPaidPeriod: an application's key
// took the application's own expireTime, however far past the period the
// instance's orders paid for: one created by hand, or stored before the
// order was resolved, got a key for a century; one whose instance's expiry
// was later cut (UNSUBSCRIBE_RENEWAL_PERIOD) kept the longer key. The key
// ends by the instance's expiry in force, as the receiver's 000901 has it.
func TestAnApplicationKeyEndsWithTheInstancesPaidPeriod(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true)
	instance := eventuallyLicense(t, newLicense(t, product, "pro").Name, licenseReady)

	event := fmt.Sprintf("EVT%d", tenantSeq.Add(1))
	application := newApplicationFor(t, product, instance.Name, event, "fp-1", orderExpiry.AddDate(100, 0, 0))
	application = eventuallyLicense(t, application.Name, licenseReady)
	g.Expect(application.Status.NotAfter.Time).To(BeTemporally("==", orderExpiry), "the key ends with the paid period")
	claims, err := licensekey.Verify(storedKey(t, application), licensekey.VerifyOptions{ProductID: product.Spec.ProductID,
		Keys: licensekey.NewKeySet(signer.PublicKey()), Now: time.Now(), Fingerprint: "fp-1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.NotAfter).To(Equal(orderExpiry.Unix()))

	// The renewal period is unsubscribed: the instance's expiry moves back,
	// and so does the application's key.
	cut, cutEnd := fmt.Sprintf("CS%dCUT", tenantSeq.Add(1)), time.Now().AddDate(0, 6, 0).UTC().Truncate(time.Second)
	marketplace.addOrderCreated(cut, product.Spec.ProductID, "pro", cutEnd.Format("20060102150405"), time.Now())
	updateLicense(t, instance.Name, func(l *saasv1alpha1.License) {
		l.Spec.Orders = append(l.Spec.Orders, appliedOrder(cut, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneUnsubscribeRenewalPeriod, &cutEnd))
	})
	application = eventuallyLicense(t, application.Name, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(l.Status.NotAfter).NotTo(BeNil())
		g.Expect(l.Status.NotAfter.Time).To(BeTemporally("==", cutEnd), "the key ends with the shortened period")
		licenseReady(g, l)
	})
	claims, err = licensekey.Verify(storedKey(t, application), licensekey.VerifyOptions{ProductID: product.Spec.ProductID,
		Keys: licensekey.NewKeySet(signer.PublicKey()), Now: time.Now(), Fingerprint: "fp-1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.NotAfter).To(Equal(cutEnd.Unix()))
}

// TestAnApplicationWithoutFingerprintUnderRequiredBindingGetsNoKey: the
// receiver answers 000903 to an application without a device fingerprint
// under a plan whose licences are bound to a device, but only once it knows
// the plan; one stored before (or by hand) got a key bound to no device.
// It gets no key: it stalls, saying why.
func TestAnApplicationWithoutFingerprintUnderRequiredBindingGetsNoKey(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProductWith(t, true, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].License.DeviceBinding = saasv1alpha1.DeviceBindingRequired
	})
	instance := eventuallyLicense(t, newLicense(t, product, "pro").Name, licenseReady)

	event := fmt.Sprintf("EVT%d", tenantSeq.Add(1))
	application := newApplicationFor(t, product, instance.Name, event, "", time.Now().AddDate(0, 1, 0).Truncate(time.Second))
	application = eventuallyLicense(t, application.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, fingerprintRequiredReason)(g, l)
		licenseHas(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, fingerprintRequiredReason)(g, l)
	})
	g.Expect(apimeta.FindStatusCondition(application.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(ContainSubstring("device fingerprint"))
	g.Expect(application.Status.LicenseKeyRef).To(BeNil(), "no key is issued")
	_, attempts := marketplace.uploaded(event)
	g.Expect(attempts).To(BeZero(), "nothing is uploaded")

	// One naming its device is issued and uploaded as before.
	bound := fmt.Sprintf("EVT%d", tenantSeq.Add(1))
	eventuallyLicense(t, newApplicationFor(t, product, instance.Name, bound, "fp-1", time.Now().AddDate(0, 1, 0).Truncate(time.Second)).Name, licenseReady)
}
