package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/testenv"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// TestDeletingTheCRDsKeepsTenantNamespaces deletes the SaaSTenant CRD, which
// deletes every tenant at once (Capsule #1181 is this accident), and checks
// that tenant namespaces, data and workloads all survive. It runs on a
// control plane of its own, since it removes a CRD.
func TestDeletingTheCRDsKeepsTenantNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	mgr, c := ownManager(t, ownControlPlane(t))
	g.Expect((&SaaSTenantReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("kooper-saastenant"), Clock: clocktesting.NewFakeClock(time.Now()),
		Orders:  MarketplaceOrderClients(marketplace.server.URL),
		Options: TenantOptions{SecretNamespace: operatorNamespace, IngressNamespace: "ingress-nginx", FieldOwner: "kooper"},
	}).SetupWithManager(mgr)).To(Succeed())
	startOwnManager(t, mgr)

	// A product with the Delete policy: the most dangerous case.
	product := newTenantProductIn(t, c, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.RetentionPolicy = saasv1alpha1.DeleteData
	})
	tenant := newTenantIn(t, c, product, "basic", nil)
	ns := "tenant-" + tenant.Name
	g.Eventually(func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{})
	}).Should(Succeed())

	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "saastenants.saas.kooper.io"}}
	g.Expect(c.Delete(ctx, crd)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(crd), crd)) }).
		Should(BeTrue(), "the tenants' finalizers must not hold the CRD")

	namespace := &corev1.Namespace{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: ns}, namespace)).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil())
	g.Expect(namespace.Annotations).NotTo(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{})).To(Succeed())
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.CredentialsSecretName}, &corev1.Secret{})).To(Succeed())
}

// ownControlPlane starts a control plane for a test of its own: one that
// deletes a CRD must not take the suite's. It stops with the test.
func ownControlPlane(t *testing.T) *testenv.Env {
	t.Helper()
	env, err := testenv.StartWith(func(e *envtest.Environment) { e.ControlPlaneStopTimeout = 5 * time.Second })
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	return env
}

// ownManager returns a manager on env shaped like main.go's, with no
// controller yet, and an uncached client of env; kooper's namespaces exist.
func ownManager(t *testing.T, env *testenv.Env) (ctrl.Manager, client.Client) {
	t.Helper()
	g := NewWithT(t)
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	for _, ns := range []string{operatorNamespace, directoryNamespace} {
		g.Expect(c.Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: CacheOptions(operatorNamespace),
		// The suite's manager in this process registered the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	return mgr, c
}

// startOwnManager starts mgr; it stops with the test, or when stop is
// called.
func startOwnManager(t *testing.T, mgr ctrl.Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = mgr.Start(ctx) }()
	return cancel
}

// startControllersOn runs every controller, as main.go does, on env, and
// returns an uncached client of it.
func startControllersOn(t *testing.T, env *testenv.Env) client.Client {
	t.Helper()
	mgr, c := ownManager(t, env)
	NewWithT(t).Expect(Setup(mgr, Config{
		Namespace: operatorNamespace, DirectoryNamespace: directoryNamespace, IngressNamespace: "ingress-nginx",
		ProductsConfigMap: productsConfigMap, MonitoringNamespace: monitoringNamespace,
		ClusterPodCIDRs: testPodCIDRs, ClusterServiceCIDRs: testServiceCIDRs,
		MaxConcurrentReconciles: 2, Clock: clocktesting.NewFakeClock(time.Now()), KeysRetryInterval: time.Second,
		Orders:  MarketplaceOrderClients(marketplace.server.URL),
		Uploads: MarketplaceUploadClients(marketplace.server.URL),
		Usage:   MarketplaceUsageClients(marketplace.server.URL),
	})).To(Succeed())
	startOwnManager(t, mgr)
	return c
}

// deleteCRD deletes kooper's CRD of resource (its plural), waits until it
// is gone, and returns it as it was, to be installed again.
func deleteCRD(t *testing.T, c client.Client, resource string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	g := NewWithT(t)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	key := client.ObjectKey{Name: resource + "." + saasv1alpha1.GroupVersion.Group}
	g.Expect(c.Get(testContext(t), key, crd)).To(Succeed())
	g.Expect(c.Delete(testContext(t), crd.DeepCopy())).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(c.Get(testContext(t), key, &apiextensionsv1.CustomResourceDefinition{}))
	}).
		Should(BeTrue(), "the records' finalizers must not hold the CRD")
	return crd
}

// reinstallCRD installs crd again, as `helm upgrade` or `kubectl apply`
// would after the accident, and waits until it is established.
func reinstallCRD(t *testing.T, c client.Client, crd *apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	g := NewWithT(t)
	again := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: crd.Name, Labels: crd.Labels, Annotations: crd.Annotations}, Spec: crd.Spec}
	g.Expect(c.Create(testContext(t), again)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(again), again)).To(Succeed())
		g.Expect(again.Status.Conditions).To(ContainElement(And(
			HaveField("Type", apiextensionsv1.Established), HaveField("Status", apiextensionsv1.ConditionTrue))))
	}).Should(Succeed())
}

// restoreRecord creates obj again as a backup restores it: its metadata,
// finalizers and spec, without its status.
func restoreRecord(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	obj.SetResourceVersion("")
	obj.SetUID("")
	obj.SetCreationTimestamp(metav1.Time{})
	obj.SetDeletionTimestamp(nil)
	obj.SetManagedFields(nil)
	// The API server serves a reinstalled CRD's kind a moment after it is created.
	NewWithT(t).Eventually(func() error { return c.Create(testContext(t), obj) }).Should(Succeed())
}

// provisionedTenantIn creates, in c's control plane, a tenant of an issued
// instance, as the receiver does (with the finalizer), and waits for its
// Deployment. It returns the tenant and its namespace.
func provisionedTenantIn(t *testing.T, c client.Client) (*saasv1alpha1.SaaSTenant, string) {
	t.Helper()
	product := newTenantProductIn(t, c, nil)
	tenant := newTenantIn(t, c, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		withIssuedID(tn)
		tn.Finalizers = []string{saasv1alpha1.Finalizer}
	})
	ns := "tenant-" + tenant.Name
	NewWithT(t).Eventually(func() error {
		return c.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{})
	}).Should(Succeed())
	return tenant, ns
}

// TestDeletingTheLicenseCRDRevokesNoLicence deletes the License CRD, which
// deletes every licence at once. Before, each was remembered as released:
// the revocation list named every paid licence, and the garbage collector
// deleted every key Secret (owned by its License). Now the licence is
// remembered as lost, not revoked, its key stays, and the record restored
// from a backup after the CRD is installed again is taken back, not
// deleted as a resurrected one.
func TestDeletingTheLicenseCRDRevokesNoLicence(t *testing.T) {
	g := NewWithT(t)
	c := startControllersOn(t, ownControlPlane(t))

	product, _ := newLicenseProductIn(t, c, true, nil)
	licence := newLicenseIn(t, c, product, "basic", func(l *saasv1alpha1.License) {
		l.Name = issuedID()
		l.Spec.InstanceID = l.Name
		l.Finalizers = []string{saasv1alpha1.Finalizer} // as the receiver creates it
	})
	key := client.ObjectKey{Namespace: operatorNamespace, Name: LicenseSecretName(licence.Name)}
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(licence), licence)).To(Succeed())
		licenseReady(g, licence)
	}).Should(Succeed())
	keySecret := &corev1.Secret{}
	g.Expect(c.Get(testContext(t), key, keySecret)).To(Succeed())
	g.Expect(keySecret.OwnerReferences).To(BeEmpty(), "an owner reference lets the garbage collector delete the key with the CRD")
	token := string(keySecret.Data[LicenseKeySecretKey])

	crd := deleteCRD(t, c, "licenses")

	g.Expect(c.Get(testContext(t), key, keySecret)).To(Succeed(), "the key Secret must outlive the CRD")
	g.Expect(string(keySecret.Data[LicenseKeySecretKey])).To(Equal(token))
	entry, ok, err := tombstone.Lookup(testContext(t), c, operatorNamespace, licence.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue(), "the instance is still remembered as issued")
	g.Expect(entry.LostWithCRD).To(BeTrue(), "the instance is lost with its CRD, not released")
	revoked, err := tombstone.GoneLicences(testContext(t), c, operatorNamespace, product.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(revoked).To(BeEmpty(), "no paid licence is revoked by a CRD deletion")

	reinstallCRD(t, c, crd)
	restored := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: licence.Name, Labels: licence.Labels, Finalizers: licence.Finalizers},
		Spec:       licence.Spec,
	}
	restoreRecord(t, c, restored)
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(restored), restored)).To(Succeed(), "a restored record is not a resurrected one")
		licenseReady(g, restored)
	}).Should(Succeed())
	g.Expect(restored.DeletionTimestamp).To(BeNil())
	g.Expect(restored.CreationTimestamp.After(licence.CreationTimestamp.Time)).To(BeTrue(),
		"the restore is meant to give the record a later creationTimestamp, from which the window once started")
	g.Expect(c.Get(testContext(t), key, keySecret)).To(Succeed())
	g.Expect(string(keySecret.Data[LicenseKeySecretKey])).To(Equal(token), "the restored record keeps its licence: same window, same key")
	g.Expect(restored.Status.NotBefore.Equal(licence.Status.NotBefore)).To(BeTrue(), "window start %v, before %v", restored.Status.NotBefore, licence.Status.NotBefore)

	// A deletion by hand afterwards is the merchant's: released, key gone.
	g.Expect(c.Delete(testContext(t), restored)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(c.Get(testContext(t), key, &corev1.Secret{})) }).Should(BeTrue())
	g.Eventually(func() ([]string, error) {
		return tombstone.GoneLicences(testContext(t), c, operatorNamespace, product.Name)
	}).Should(Equal([]string{licence.Name}))
}

// TestATenantRestoredAfterItsCRDWasDeletedIsTakenBack: the SaaSTenant CRD
// was deleted (the tenants keep running, TestDeletingTheCRDsKeepsTenantNamespaces)
// and installed again, and the merchant restores the records from a
// backup. Before, each tombstone said released, so each restored record
// was deleted as resurrected: the tenants kept running with no record that
// could freeze or release them. Now it is taken back and reconciled.
func TestATenantRestoredAfterItsCRDWasDeletedIsTakenBack(t *testing.T) {
	g := NewWithT(t)
	c := startControllersOn(t, ownControlPlane(t))

	tenant, ns := provisionedTenantIn(t, c)

	crd := deleteCRD(t, c, "saastenants")
	entry, ok, err := tombstone.Lookup(testContext(t), c, operatorNamespace, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok && entry.LostWithCRD).To(BeTrue(), "remembered as lost with its CRD: %+v", entry)

	reinstallCRD(t, c, crd)
	restored := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: tenant.Name, Labels: tenant.Labels, Finalizers: tenant.Finalizers},
		Spec:       tenant.Spec,
	}
	restoreRecord(t, c, restored)
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(restored), restored)).To(Succeed(), "a restored record is not a resurrected one")
		g.Expect(restored.Status.ObservedGeneration).To(BeNumerically(">", 0))
		g.Expect(restored.Status.Namespace).To(Equal(ns))
	}).Should(Succeed())
	g.Expect(restored.DeletionTimestamp).To(BeNil())
}

// TestATenantRestoredAsReleasedIsReleasedInItsNamespace restores, after the
// SaaSTenant CRD was deleted, the record of a tenant the buyer released
// meanwhile (the backup was taken after the release, or the marketplace's
// retried release arrived first). Its status, and with it status.namespace,
// is not restored, and a released tenant is never provisioned again to
// record it: before, the release found "nothing was provisioned", left the
// workload serving the released buyer and set no retention date. Now the
// namespace labelled as the tenant's is found again and released.
func TestATenantRestoredAsReleasedIsReleasedInItsNamespace(t *testing.T) {
	g := NewWithT(t)
	c := startControllersOn(t, ownControlPlane(t))

	tenant, ns := provisionedTenantIn(t, c)
	app := client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}

	crd := deleteCRD(t, c, "saastenants")
	reinstallCRD(t, c, crd)
	restored := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: tenant.Name, Labels: tenant.Labels, Finalizers: tenant.Finalizers},
		Spec:       tenant.Spec,
	}
	restored.Spec.State = saasv1alpha1.StateReleased
	restoreRecord(t, c, restored)
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(restored), restored)).To(Succeed())
		released := apimeta.FindStatusCondition(restored.Status.Conditions, saasv1alpha1.ReleasedCondition)
		g.Expect(released).NotTo(BeNil())
		g.Expect(released.Reason).To(Equal(saasv1alpha1.RetainingDataReason), released.Message)
		g.Expect(restored.Status.Namespace).To(Equal(ns))
		g.Expect(restored.Status.RetainUntil).NotTo(BeNil(), "the retained data gets its date")
		g.Expect(apierrors.IsNotFound(c.Get(testContext(t), app, &appsv1.Deployment{}))).To(BeTrue(), "the released buyer is no longer served")
	}).Should(Succeed())
}
