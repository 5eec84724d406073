package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// TestARecordRestoredFromABackupOlderThanItsReleaseStaysReleased: a tenant
// is released, then its CRD is deleted, and its record is restored from a
// backup taken before the release, which says Active. Before, the
// tombstone said only lost-with-crd, the restored record was taken back as
// it was, and the released buyer was provisioned again (its data, deleted
// by retention, recreated empty). Now the tombstone says the instance was
// released, and the record is taken back as Released (docs/lifecycle.md
// rule R: release is final).
func TestARecordRestoredFromABackupOlderThanItsReleaseStaysReleased(t *testing.T) {
	g := NewWithT(t)
	c := startControllersOn(t, ownControlPlane(t))

	tenant, ns := provisionedTenantIn(t, c)
	backup := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: tenant.Name, Labels: tenant.Labels, Finalizers: tenant.Finalizers},
		Spec:       *tenant.Spec.DeepCopy(),
	}
	app := client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}

	released := &saasv1alpha1.SaaSTenant{}
	g.Eventually(func() error {
		if err := c.Get(testContext(t), client.ObjectKeyFromObject(tenant), released); err != nil {
			return err
		}
		released.Spec.State = saasv1alpha1.StateReleased // as releaseInstance stores it
		return c.Update(testContext(t), released)
	}).Should(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(c.Get(testContext(t), app, &appsv1.Deployment{})) }).
		Should(BeTrue(), "the released buyer is no longer served")

	crd := deleteCRD(t, c, "saastenants")
	entry, ok, err := tombstone.Lookup(testContext(t), c, operatorNamespace, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok && entry.LostWithCRD && entry.ReleasedWhenLost).To(BeTrue(), "remembered as lost with its CRD after its release: %+v", entry)

	reinstallCRD(t, c, crd)
	restoreRecord(t, c, backup)
	restored := &saasv1alpha1.SaaSTenant{}
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(backup), restored)).To(Succeed(), "a restored record is not a resurrected one")
		g.Expect(restored.Spec.State).To(Equal(saasv1alpha1.StateReleased))
		g.Expect(apimeta.FindStatusCondition(restored.Status.Conditions, saasv1alpha1.ReleasedCondition)).NotTo(BeNil())
	}).Should(Succeed())
	g.Expect(restored.DeletionTimestamp).To(BeNil())
	g.Consistently(func() bool { return apierrors.IsNotFound(c.Get(testContext(t), app, &appsv1.Deployment{})) }).
		WithTimeout(3*time.Second).Should(BeTrue(), "a released buyer is never served again")
}

// TestALicenceRestoredFromABackupOlderThanItsReleaseStaysRevoked: as
// above for a licence. Before, the released licence was missing from the
// revocation list once its CRD went, and its record restored Active was
// issued a key again.
func TestALicenceRestoredFromABackupOlderThanItsReleaseStaysRevoked(t *testing.T) {
	g := NewWithT(t)
	c := startControllersOn(t, ownControlPlane(t))

	product, _ := newLicenseProductIn(t, c, true, nil)
	licence := newLicenseIn(t, c, product, "basic", func(l *saasv1alpha1.License) {
		l.Name = issuedID()
		l.Spec.InstanceID = l.Name
		l.Finalizers = []string{saasv1alpha1.Finalizer} // as the receiver creates it
	})
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(licence), licence)).To(Succeed())
		licenseReady(g, licence)
	}).Should(Succeed())
	backup := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: licence.Name, Labels: licence.Labels, Finalizers: licence.Finalizers},
		Spec:       *licence.Spec.DeepCopy(),
	}

	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(licence), licence)).To(Succeed())
		if licence.Spec.State != saasv1alpha1.StateReleased {
			licence.Spec.State = saasv1alpha1.StateReleased // as releaseInstance stores it
			g.Expect(c.Update(testContext(t), licence)).To(Succeed())
		}
		licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason)(g, licence)
	}).Should(Succeed())

	crd := deleteCRD(t, c, "licenses")
	revoked, err := tombstone.GoneLicences(testContext(t), c, operatorNamespace, product.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(revoked).To(Equal([]string{licence.Name}), "a released licence stays revoked while its record is lost")

	reinstallCRD(t, c, crd)
	restoreRecord(t, c, backup)
	restored := &saasv1alpha1.License{}
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(backup), restored)).To(Succeed(), "a restored record is not a resurrected one")
		g.Expect(restored.Spec.State).To(Equal(saasv1alpha1.StateReleased))
		licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason)(g, restored)
	}).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(backup), restored)).To(Succeed())
		g.Expect(apimeta.IsStatusConditionTrue(restored.Status.Conditions, saasv1alpha1.ReadyCondition)).To(BeFalse(), "no key is issued again")
	}).WithTimeout(3 * time.Second).Should(Succeed())
}
