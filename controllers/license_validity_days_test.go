package controllers

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/licenseissue"
)

// TestALicenceKeyOfValidityDaysLastsWholeDaysInADaylightSavingZone:
// validityDays counts days of 24 hours, UTC days as the spec's licence
// times are UTC (§3.10, getLicenseAsync's effectiveTime and expireTime).
// The licence's times come back from the API server in the process's local
// zone (metav1.Time decodes into time.Local), which the chart's extraEnv
// can set (TZ) to one that keeps daylight saving time: calendar days there
// made a 30-day key spanning the spring change an hour short.
func TestALicenceKeyOfValidityDaysLastsWholeDaysInADaylightSavingZone(t *testing.T) {
	g := NewWithT(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	g.Expect(err).NotTo(HaveOccurred())
	// Berlin moves to summer time on 2026-03-29. A licence read from the
	// API server holds its times in the process's zone; set it here on the
	// value instead of on time.Local, which the suite's running manager
	// reads.
	notBefore := metav1.NewTime(time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC).In(berlin))
	l := saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: "i-dst"},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: "i-dst", NotBefore: &notBefore}}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	signer, err := licenseissue.New(priv)
	g.Expect(err).NotTo(HaveOccurred())
	product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFLDST", Type: saasv1alpha1.ProductTypeLicense,
		Plans: []saasv1alpha1.Plan{{SKUCode: "basic", License: &saasv1alpha1.LicenseTerms{ValidityDays: 30}}}}}
	s := &licenseState{license: &l, instance: &l, product: product, plan: &product.Spec.Plans[0], signer: signer}

	claims, err := (&LicenseReconciler{}).desiredClaims(s)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(time.Unix(claims.NotBefore, 0).UTC()).To(Equal(time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)))
	g.Expect(time.Unix(claims.NotAfter, 0).UTC()).To(Equal(time.Date(2026, 4, 19, 0, 0, 0, 0, time.UTC)), "30 days of 24 hours")
}
