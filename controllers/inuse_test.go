package controllers

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Tests of the in-use protection (DESIGN.md rule 10): a product, and its
// keys Secret, that live tenants or licences use are kept from deletion
// until those let go, and their callbacks are verified meanwhile.

// expectEventSaying waits for an Event about the named object whose note
// contains text.
func expectEventSaying(t *testing.T, name, reason, text string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(k8sClient.List(testContext(t), list)).To(Succeed())
		g.Expect(list.Items).To(ContainElement(SatisfyAll(
			HaveField("Regarding.Name", name), HaveField("Reason", reason), HaveField("Note", ContainSubstring(text)))))
	}).Should(Succeed())
}

// expectInUse waits until obj carries the in-use finalizer.
func expectInUse(t *testing.T, obj client.Object) {
	t.Helper()
	stored := obj.DeepCopyObject().(client.Object)
	NewWithT(t).Eventually(func() []string {
		_ = k8sClient.Get(testContext(t), client.ObjectKeyFromObject(obj), stored)
		return stored.GetFinalizers()
	}).Should(ContainElement(saasv1alpha1.InUseFinalizer))
}

// A tenant or licence reconciles its product only while the product's
// hold may turn on it: not for every tenant bought while the product is
// protected and not being deleted (a chart product's reconcile reads its
// chart and renders it for every plan).
func TestATenantReconcilesItsProductOnlyWhileItsHoldMayChange(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	itsProduct := []reconcile.Request{{NamespacedName: client.ObjectKey{Name: product.Name}}}
	mapped := func(products client.Reader, obj client.Object) []reconcile.Request {
		return productWhoseHoldMayChange(products)(ctx, obj)
	}

	expectInUse(t, product)
	g.Expect(mapped(k8sClient, tenant)).To(BeEmpty(), "protected and not being deleted: no tenant changes its hold")
	licence := &saasv1alpha1.License{Spec: saasv1alpha1.LicenseSpec{ProductName: product.Name}}
	g.Expect(mapped(k8sClient, licence)).To(BeEmpty())

	// As a product is read before its first reconcile, or with its
	// finalizer removed by hand (which the product's own watch does not pass).
	unprotected := withoutFinalizers(t, k8sClient)
	g.Expect(mapped(unprotected, tenant)).To(Equal(itsProduct), "not protected: the tenant's event puts the finalizer on")

	elsewhere := tenant.DeepCopy()
	elsewhere.Spec.ProductName = "no-such-product"
	g.Expect(mapped(k8sClient, elsewhere)).To(Equal([]reconcile.Request{{NamespacedName: client.ObjectKey{Name: "no-such-product"}}}),
		"a product not found is reconciled, which finds it gone")
	elsewhere.Spec.ProductName = ""
	g.Expect(mapped(k8sClient, elsewhere)).To(BeEmpty())

	g.Expect(k8sClient.Delete(ctx, product)).To(Succeed())
	g.Eventually(func() []reconcile.Request { return mapped(k8sClient, tenant) }).Should(Equal(itsProduct),
		"being deleted: it goes once its last tenant lets go")
}

// withoutFinalizers reads through c, and answers every object without its
// finalizers.
func withoutFinalizers(t *testing.T, c client.Client) client.Reader {
	t.Helper()
	return interceptor.NewClient(withWatch{c}, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			obj.SetFinalizers(nil)
			return nil
		},
	})
}

func TestAProductInUseIsKeptUntilItsTenantsAreReleased(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := readyTenant(t, product, "basic")
	expectInUse(t, product)

	g.Expect(k8sClient.Delete(testContext(t), product)).To(Succeed())
	expectEventSaying(t, product.Name, saasv1alpha1.InUseReason, tenant.Name)
	g.Consistently(isGone(t, product)).Should(BeFalse(), "a live tenant holds its product")
	answer := callback(t, product, fmt.Sprintf(`{"activity":"updateInstanceStatus","instanceId":%q,"status":"FREEZE"}`, tenant.Name))
	g.Expect(answer.Code).To(Equal("000000"), "callbacks are still verified: %s", answer.Msg)

	answer = callback(t, product, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, tenant.Name))
	g.Expect(answer.Code).To(Equal("000000"), answer.Msg)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Eventually(isGone(t, product)).Should(BeTrue(), "once released, the tenant lets its product go")
}

func TestAKeysSecretInUseIsKeptUntilItsTenantsAreReleased(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := readyTenant(t, product, "basic")
	ns := "tenant-" + tenant.Name
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}}
	expectInUse(t, secret)

	g.Expect(k8sClient.Delete(testContext(t), secret)).To(Succeed())
	expectEventSaying(t, secret.Name, saasv1alpha1.InUseReason, product.Name)
	g.Consistently(isGone(t, secret)).Should(BeFalse(), "a product in use holds its keys")
	answer := callback(t, product, fmt.Sprintf(`{"activity":"updateInstanceStatus","instanceId":%q,"status":"FREEZE"}`, tenant.Name))
	g.Expect(answer.Code).To(Equal("000000"), "callbacks are still verified: %s", answer.Msg)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))

	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Consistently(isGone(t, secret)).Should(BeFalse(), "the product may be sent a new purchase, which its keys verify")

	g.Expect(k8sClient.Delete(testContext(t), product)).To(Succeed())
	g.Eventually(isGone(t, product)).Should(BeTrue(), "no live tenant holds the product")
	g.Eventually(isGone(t, secret)).Should(BeTrue(), "once no product names them, the keys may go")
}

// A product is protected from its first reconcile, not from its first
// tenant, so a tenant created a moment before the product is deleted finds
// it held; an unused product still goes at once.
func TestAProductIsProtectedBeforeItsFirstTenant(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	expectInUse(t, product)

	g.Expect(k8sClient.Delete(testContext(t), product)).To(Succeed())
	g.Eventually(isGone(t, product)).Should(BeTrue(), "nothing uses it")
}

func TestALicenceProductInUseIsKeptUntilItsLicencesAreReleased(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	l := newLicense(t, product, "basic")
	eventuallyLicense(t, l.Name, licenseReady)

	g.Expect(k8sClient.Delete(testContext(t), product)).To(Succeed())
	expectEventSaying(t, product.Name, saasv1alpha1.InUseReason, l.Name)
	g.Consistently(isGone(t, product)).Should(BeFalse(), "a live licence holds its product")

	updateLicense(t, l.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateReleased })
	eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))
	g.Eventually(isGone(t, product)).Should(BeTrue())
}

func TestWhatHoldsAProduct(t *testing.T) {
	released := []metav1.Condition{{Type: saasv1alpha1.ReleasedCondition, Status: metav1.ConditionTrue}}
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		tenant saasv1alpha1.SaaSTenant
		want   bool
	}{
		{"an active tenant", saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateActive}}, true},
		{"a frozen tenant", saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateFrozen}}, true},
		{"a tenant released but not yet torn down", saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateReleased}}, true},
		{"a released tenant torn down", saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateReleased},
			Status: saasv1alpha1.SaaSTenantStatus{Conditions: released}}, false},
		{"a released tenant whose last usage is not pushed", saasv1alpha1.SaaSTenant{
			ObjectMeta: metav1.ObjectMeta{Finalizers: []string{saasv1alpha1.MeteringFinalizer}},
			Spec:       saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateReleased}, Status: saasv1alpha1.SaaSTenantStatus{Conditions: released}}, true},
		{"a tenant deleted by hand", saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now, Finalizers: []string{saasv1alpha1.Finalizer}},
			Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateActive}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(tenantHoldsProduct(&tc.tenant)).To(Equal(tc.want))
		})
	}
	frozen := &saasv1alpha1.License{Spec: saasv1alpha1.LicenseSpec{State: saasv1alpha1.StateFrozen}}
	NewWithT(t).Expect(licenceHoldsProduct(frozen)).To(BeTrue(), "a frozen licence may be reinstated")
	revoked := &saasv1alpha1.License{Spec: saasv1alpha1.LicenseSpec{State: saasv1alpha1.StateReleased}, Status: saasv1alpha1.LicenseStatus{Conditions: released}}
	NewWithT(t).Expect(licenceHoldsProduct(revoked)).To(BeFalse())
}

func TestHoldersNoteNamesAFew(t *testing.T) {
	holders := []string{"SaaSTenant i-1", "SaaSTenant i-2", "SaaSTenant i-3", "SaaSTenant i-4", "SaaSTenant i-5", "License i-6", "License i-7"}
	NewWithT(t).Expect(holdersNote("still used", holders)).To(Equal(
		"Deletion waits: still used: SaaSTenant i-1, SaaSTenant i-2, SaaSTenant i-3, SaaSTenant i-4, SaaSTenant i-5 and 2 more"))
}

// A stopped manager's field indexes are forgotten, so the registry never
// keeps its cache alive: a process that starts managers again and again
// (tests, the lifecycle property test's restarts) must not grow.
func TestAStoppedManagersIndexesAreForgotten(t *testing.T) {
	g := NewWithT(t)
	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme: testEnv.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: CacheOptions(operatorNamespace),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(indexByProduct(mgr)).To(Succeed())
	g.Expect(indexByProduct(mgr)).To(Succeed(), "a second registration of the same index is a no-op")
	g.Expect(indexesOf(mgr)).To(Equal(2))

	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error)
	go func() { stopped <- mgr.Start(ctx) }()
	cancel()
	g.Eventually(stopped).Should(Receive(BeNil()))
	g.Expect(indexesOf(mgr)).To(BeZero())
}

// indexesOf counts the registry's entries for mgr.
func indexesOf(mgr ctrl.Manager) int {
	n := 0
	indexes.Range(func(k, _ any) bool {
		if k.(indexKey).indexer == mgr.GetFieldIndexer() {
			n++
		}
		return true
	})
	return n
}

// The keys Secret of a product carries the keys label, by which the
// receiver caches it and no other Secret of kooper's namespace; a Secret
// no product names loses it.
func TestKeysSecretsAreLabelledForTheReceiver(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := newTenantProduct(t, nil)
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}
	g.Eventually(func() map[string]string {
		_ = k8sClient.Get(ctx, key, secret)
		return secret.Labels
	}).Should(HaveKeyWithValue(saasv1alpha1.KeysLabel, "true"))

	g.Expect(k8sClient.Delete(ctx, product)).To(Succeed())
	g.Eventually(func() map[string]string {
		_ = k8sClient.Get(ctx, key, secret)
		return secret.Labels
	}).ShouldNot(HaveKey(saasv1alpha1.KeysLabel))
}
