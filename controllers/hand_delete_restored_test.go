package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// TestATenantRestoredAndDeletedByHandIsReleasedInItsNamespace: the
// SaaSTenant CRD was deleted (the tenant keeps running, remembered as lost
// with its CRD), its product went meanwhile, and the record restored from
// a backup, without its status, stalls on ProductNotFound before it
// records its namespace again. The merchant then deletes the record by
// hand. Before, the deletion found "nothing was provisioned": the old
// Deployment served on for ever, the namespace was never marked, and the
// tombstone said the instance was gone. Now the namespace labelled as the
// tenant's is found again, as a release finds it, and the deletion by
// hand takes the workload down and keeps the data for the retention days.
func TestATenantRestoredAndDeletedByHandIsReleasedInItsNamespace(t *testing.T) {
	g := NewWithT(t)
	c := startControllersOn(t, ownControlPlane(t))

	tenant, ns := provisionedTenantIn(t, c)
	app := client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}

	crd := deleteCRD(t, c, "saastenants")
	reinstallCRD(t, c, crd)
	// No tenant holds the product now: it goes at once.
	product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: tenant.Spec.ProductName}}
	g.Expect(c.Delete(testContext(t), product)).To(Succeed())
	eventuallyGone(t, c, product, "the product is gone")

	restored := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: tenant.Name, Labels: tenant.Labels, Finalizers: tenant.Finalizers},
		Spec:       tenant.Spec,
	}
	restoreRecord(t, c, restored)
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(restored), restored)).To(Succeed(), "a restored record is not a resurrected one")
		hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason)(g, restored)
	}).Should(Succeed())
	g.Expect(restored.Status.Namespace).To(BeEmpty(), "the scenario: provisioning stalled before it recorded the namespace")
	g.Expect(c.Get(testContext(t), app, &appsv1.Deployment{})).To(Succeed(), "the old workload still serves")

	g.Expect(c.Delete(testContext(t), restored)).To(Succeed())
	eventuallyGone(t, c, restored, "the finalizer goes")
	g.Expect(apierrors.IsNotFound(c.Get(testContext(t), app, &appsv1.Deployment{}))).To(BeTrue(), "the deleted tenant is no longer served")
	namespace := &corev1.Namespace{}
	g.Expect(c.Get(testContext(t), client.ObjectKey{Name: ns}, namespace)).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil(), "a deletion by hand keeps the data (onHandDeletion Retain)")
	g.Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation), "the retention days start")
}

// eventuallyGone waits until c reads obj as not found.
func eventuallyGone(t *testing.T, c client.Client, obj client.Object, why string) {
	t.Helper()
	NewWithT(t).Eventually(func() bool {
		return apierrors.IsNotFound(c.Get(testContext(t), client.ObjectKeyFromObject(obj), obj))
	}).Should(BeTrue(), why)
}
