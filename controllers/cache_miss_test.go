package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// namespaceWithWorkload makes a namespace with the given labels and a
// Deployment called as a tenant's, outside any tenant the manager
// reconciles, and a tenant record that names it: what a release pass of a
// tenant whose namespace is missing from the cache finds.
func namespaceWithWorkload(t *testing.T, labels map[string]string) (*saasv1alpha1.SaaSTenant, string) {
	t.Helper()
	g := NewWithT(t)
	id := fmt.Sprintf("i-unlabelled-%d", tenantSeq.Add(1))
	ns := "tenant-" + id
	if labels[saasv1alpha1.InstanceIDLabel] == "" {
		labels[saasv1alpha1.InstanceIDLabel] = id
	}
	g.Expect(k8sClient.Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}})).To(Succeed())
	podLabels := map[string]string{"app": "x"}
	g.Expect(k8sClient.Create(testContext(t), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenantobjects.AppName},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}}},
	})).To(Succeed())
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id}, Status: saasv1alpha1.SaaSTenantStatus{Namespace: ns}}
	return tenant, ns
}

// TestAReleaseWhoseNamespaceLostKoopersLabelSaysSoAndRemovesNothing: the
// release of a tenant whose namespace another tool relabelled (with the
// chart's admission policy kooper may not put the labels back) reported
// "the data is deleted" and the workload removed, from the cache's miss,
// while both were still there and the data was never marked for deletion.
// The miss is now confirmed with the API server, and the release says why
// it cannot go on. A namespace still labelled as the tenant's that the
// cache has not caught up with is released as ever; a release already
// recorded trusts the cache.
func TestAReleaseWhoseNamespaceLostKoopersLabelSaysSoAndRemovesNothing(t *testing.T) {
	t.Run("relabelled by another tool", func(t *testing.T) {
		g := NewWithT(t)
		tenant, ns := namespaceWithWorkload(t, map[string]string{saasv1alpha1.ManagedByLabel: "argocd"})
		r := tenantReconcilerLikeSetup(t, cacheMissing{Client: k8sClient, key: client.ObjectKey{Name: ns}})

		fate, until, err := r.releaseData(testContext(t), tenant, retention{days: 10}, fakeClock.Now(), true)
		g.Expect(err).To(MatchError(ContainSubstring("namespace " + ns + " is no longer labelled as this tenant's")))
		g.Expect(err).To(MatchError(ContainSubstring(`it has app.kubernetes.io/managed-by="argocd"`)))
		g.Expect(fate).To(Equal(dataKept))
		g.Expect(until).To(BeNil())
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{})).To(Succeed(),
			"nothing is removed from a namespace kooper no longer recognises as the tenant's")
		g.Expect(getObject(t, &corev1.Namespace{}, "", ns).Annotations).NotTo(HaveKey(saasv1alpha1.DeleteAfterAnnotation))

		fate, _, err = r.releaseData(testContext(t), tenant, retention{days: 10}, fakeClock.Now(), false)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fate).To(Equal(dataDeleted), "a recorded release trusts the cache: no request per pass")
	})
	t.Run("labelled, the cache behind", func(t *testing.T) {
		g := NewWithT(t)
		tenant, ns := namespaceWithWorkload(t, map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue})
		r := tenantReconcilerLikeSetup(t, cacheMissing{Client: k8sClient, key: client.ObjectKey{Name: ns}})

		fate, until, err := r.releaseData(testContext(t), tenant, retention{days: 10}, fakeClock.Now(), true)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fate).To(Equal(dataKept))
		g.Expect(until).NotTo(BeNil())
		g.Expect(apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{}))).To(BeTrue())
		g.Expect(getObject(t, &corev1.Namespace{}, "", ns).Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	})
}

// TestAReleaseRemovesAWorkloadTheCacheMisses: a Deployment missing from
// the cache (its managed-by label removed by hand, on a tenant stalled so
// that no provisioning pass labels it again) was taken for removed, and
// kept running after the release. The release's first pass looks each
// workload object up in the API server; a recorded release trusts the
// cache.
func TestAReleaseRemovesAWorkloadTheCacheMisses(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := namespaceWithWorkload(t, map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue})
	key := client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}
	r := tenantReconcilerLikeSetup(t, cacheMissing{Client: k8sClient, key: key})

	_, _, err := r.releaseData(testContext(t), tenant, retention{}, fakeClock.Now(), false)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Get(testContext(t), key, &appsv1.Deployment{})).To(Succeed(), "a recorded release reads the cache only")

	_, _, err = r.releaseData(testContext(t), tenant, retention{}, fakeClock.Now(), true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(apierrors.IsNotFound(k8sClient.Get(testContext(t), key, &appsv1.Deployment{}))).To(BeTrue())
}

// TestANamespaceDeletedOutsideKooperIsSaidAndMadeAgain: an active tenant's
// namespace deleted by hand (kubectl delete namespace) showed only the
// API server's refusals to create in a terminating namespace, and once it
// was gone kooper made it again, empty, without a word of the data lost.
// Now Provisioned says NamespaceTerminating while it is deleted, and a
// Warning Event NamespaceRecreated says it was made again.
func TestANamespaceDeletedOutsideKooperIsSaidAndMadeAgain(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := provisionedTenant(t)
	before := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(k8sClient.Delete(testContext(t), before)).To(Succeed())
	// envtest runs no namespace controller: the namespace stays
	// Terminating until finishNamespaceDeletion, as one whose objects'
	// finalizers hold it does on a real cluster.
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.NamespaceTerminatingReason))
	g.Expect(tenantEvents(t, tenant.Name, saasv1alpha1.NamespaceRecreatedReason)()).To(BeZero())

	finishNamespaceDeletion(t, ns)
	g.Eventually(func() (types.UID, error) {
		now := &corev1.Namespace{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Name: ns}, now)
		return now.UID, err
	}).ShouldNot(Or(BeEmpty(), Equal(before.UID)), "the namespace is made again")
	g.Eventually(tenantEvents(t, tenant.Name, saasv1alpha1.NamespaceRecreatedReason)).Should(Equal(1))
	eventuallyTenant(t, tenant.Name, provisioned)
}

// TestAChartReleaseDeletesAWorkloadTheCacheMisses: a chart tenant's
// release deleted an inventory workload only if the cache held it, so one
// whose managed-by label was removed by hand kept running. Each is now
// deleted without the look (once: the inventory then drops it).
func TestAChartReleaseDeletesAWorkloadTheCacheMisses(t *testing.T) {
	g := NewWithT(t)
	_, tenant := newChartTenant(t, "basic", nil)
	tenant = getObject(t, &saasv1alpha1.SaaSTenant{}, "", tenant.Name)
	ns := tenant.Status.Namespace
	web := client.ObjectKey{Namespace: ns, Name: tenant.Spec.InstanceID + "-web"}
	before := getObject(t, &appsv1.Deployment{}, ns, web.Name)
	r := tenantReconcilerLikeSetup(t, cacheMissing{Client: k8sClient, key: web})

	g.Expect(r.removeChartWorkloads(testContext(t), tenant, ns)).To(Succeed())
	// The tenant, still active for the suite's manager, may have it made
	// anew at once: deleted means gone or another object.
	now := &appsv1.Deployment{}
	err := k8sClient.Get(testContext(t), web, now)
	g.Expect(apierrors.IsNotFound(err) || err == nil && now.UID != before.UID).To(BeTrue(), "the Deployment the cache missed is deleted")
	g.Expect(tenant.Status.Inventory).NotTo(ContainElement(saasv1alpha1.InventoryEntry{Group: "apps", Kind: "Deployment", Name: web.Name}))
}

// TestAFreezeWithdrawsAnIngressTheCacheMisses: the pass that freezes a
// tenant under DisableIngress removed the Ingress only if the cache held
// it, so one whose managed-by label was removed by hand went on serving
// the buyer who stopped paying. That pass now removes through an applier
// that looks in the API server (confirming); later passes trust the cache.
func TestAFreezeWithdrawsAnIngressTheCacheMisses(t *testing.T) {
	g := NewWithT(t)
	_, ns := namespaceWithWorkload(t, map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue})
	ingress := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenantobjects.AppName},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: tenantobjects.AppName, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
	g.Expect(k8sClient.Create(testContext(t), ingress)).To(Succeed())
	key := client.ObjectKeyFromObject(ingress)
	r := tenantReconcilerLikeSetup(t, cacheMissing{Client: k8sClient, key: key})
	withdrawn := func() client.Object {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenantobjects.AppName}}
	}

	_, err := r.applier().Remove(testContext(t), withdrawn())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Get(testContext(t), key, &networkingv1.Ingress{})).To(Succeed(), "a pass that trusts the cache misses it")

	_, err = r.confirming(r.applier()).Remove(testContext(t), withdrawn())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(apierrors.IsNotFound(k8sClient.Get(testContext(t), key, &networkingv1.Ingress{}))).To(BeTrue())
}
