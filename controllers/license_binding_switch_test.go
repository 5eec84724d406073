package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestRequiredBindingLaterKeepsRenewingIssuedApplications: a plan switched
// to deviceBinding Required stalled every application already issued a key
// without a device fingerprint (FingerprintRequired, before the window was
// even computed), so the buyer's renewal never reached the key: it expired
// at the old date, and the licence stayed Ready=False. Only an application
// never issued a key is held to the binding; one issued keeps its key,
// renewed without a device.
func TestRequiredBindingLaterKeepsRenewingIssuedApplications(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProductWith(t, true, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].License.DeviceBinding = saasv1alpha1.DeviceBindingOptional
	})
	instance := eventuallyLicense(t, newLicense(t, product, "pro").Name, licenseReady)

	// The application asks for a window past the paid period, so the key
	// ends with the instance's expiry, and a renewal moves it later.
	event := fmt.Sprintf("EVT%d", tenantSeq.Add(1))
	application := newApplicationFor(t, product, instance.Name, event, "", orderExpiry.AddDate(100, 0, 0))
	application = eventuallyLicense(t, application.Name, licenseReady)
	g.Expect(application.Status.NotAfter.Time).To(BeTemporally("==", orderExpiry))
	firstKey := storedKey(t, application)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].License.DeviceBinding = saasv1alpha1.DeviceBindingRequired
	})
	// The switch re-queues every licence of the product; the issued
	// application stays Ready (watched for a while once a pass has run).
	pokeAndAwaitPass(t, application, "license")
	g.Consistently(func(g Gomega) {
		stored := &saasv1alpha1.License{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: application.Name}, stored)).To(Succeed())
		licenseReady(g, stored)
	}).WithTimeout(2 * time.Second).Should(Succeed())

	renewal, renewedEnd := fmt.Sprintf("CS%dRENEW", tenantSeq.Add(1)), orderExpiry.AddDate(1, 0, 0)
	marketplace.addOrderCreated(renewal, product.Spec.ProductID, "pro", renewedEnd.Format("20060102150405"), time.Now())
	updateLicense(t, instance.Name, func(l *saasv1alpha1.License) {
		l.Spec.Orders = append(l.Spec.Orders, appliedOrder(renewal, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewal, &renewedEnd))
	})
	application = eventuallyLicense(t, application.Name, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(l.Status.NotAfter).NotTo(BeNil())
		g.Expect(l.Status.NotAfter.Time).To(BeTemporally("==", renewedEnd), "the key ends with the renewed period")
		licenseReady(g, l)
	})
	renewedKey := storedKey(t, application)
	g.Expect(renewedKey).NotTo(Equal(firstKey), "a new key is issued")
	claims, err := licensekey.Verify(renewedKey, licensekey.VerifyOptions{ProductID: product.Spec.ProductID,
		Keys: licensekey.NewKeySet(signer.PublicKey()), Now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.NotAfter).To(Equal(renewedEnd.Unix()))
	g.Expect(claims.Device).To(BeEmpty(), "the key stays bound to no device, as issued")
}
