package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/rollout"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/testenv"
)

// Tests of the Secret and ConfigMap watches for tenants a paused rollout
// keeps on an older revision of their product: such a tenant reads the
// names its revision gives, not those of the product's spec, and a change
// of what they name must reach it as it reaches a tenant of the newest.

// productPausedOnOlderRevision creates a product whose workload first
// sets, with one ready tenant, then moves it to a new revision by next and
// a new image, which rolls the tenant's pods; its wave misses its progress
// deadline, so the rollout pauses and a tenant bought from then on runs
// the first revision. It returns the
// product and the first revision's name.
func productPausedOnOlderRevision(t *testing.T, first, next func(*saasv1alpha1.WorkloadTemplate)) (*saasv1alpha1.SaaSProduct, string) {
	t.Helper()
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{
			MaxUnavailableTenants: ptr.To(intstr.FromInt32(1)), ProgressDeadlineSeconds: ptr.To(int32(10))}
		first(p.Spec.Workload)
	})
	readyTenant(t, product, "basic")
	g.Eventually(func(g Gomega) {
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(s.Progress).To(Equal("1/1"))
	}).Should(Succeed())
	before, _ := rolloutOf(g, t, product.Name)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		next(p.Spec.Workload)
		p.Spec.Workload.Image = "registry.example.com/crm:2.0"
	})
	g.Eventually(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.Wave).To(Equal(int32(1)))
		g.Expect(s.UpdateRevision).NotTo(Equal(before.CurrentRevision))
	}).Should(Succeed())
	// Nothing makes the wave's new pods available: past the deadline it fails.
	restoreClockAfter(t)
	fakeClock.Step(11 * time.Second)
	poke(t, product)
	g.Eventually(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused))
		g.Expect(s.CurrentRevision).To(Equal(before.CurrentRevision))
	}).Should(Succeed())
	return product, before.CurrentRevision
}

// TestATenantOnAnOlderRevisionIsWokenByItsConfigMap: the ConfigMap only an
// older revision names, deleted while a rollout away from it is paused,
// stalls a tenant bought then on that revision; created again, it wakes
// the tenant, which is provisioned without a restart, and a hot-fix of it
// reaches the tenant's files.
func TestATenantOnAnOlderRevisionIsWokenByItsConfigMap(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	oldConfig := sourceConfigMap(t, map[string]string{"app.conf": "id={{.InstanceID}} v1"}, nil)
	newConfig := sourceConfigMap(t, map[string]string{"app.conf": "id={{.InstanceID}} v2"}, nil)
	product, firstRevision := productPausedOnOlderRevision(t,
		func(w *saasv1alpha1.WorkloadTemplate) {
			w.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: oldConfig.Name}
		},
		func(w *saasv1alpha1.WorkloadTemplate) { w.Config.ConfigMapName = newConfig.Name })

	g.Expect(k8sClient.Delete(ctx, oldConfig)).To(Succeed())
	late := newTenant(t, product, "basic", nil)
	stalled := eventuallyTenant(t, late.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ConfigMapNotFoundReason))
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(
		ContainSubstring("ConfigMap %s/%s", operatorNamespace, oldConfig.Name), "the first revision's ConfigMap, not the spec's")

	recreated := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: oldConfig.Name},
		Data: map[string]string{"app.conf": "id={{.InstanceID}} v1"}}
	g.Expect(k8sClient.Create(ctx, recreated)).To(Succeed())
	provisionedLate := eventuallyTenant(t, late.Name, provisioned)
	g.Expect(provisionedLate.Status.Revision).To(Equal(firstRevision))
	ns := "tenant-" + late.Name
	g.Eventually(tenantConfigMap(t, ns)).Should(Equal(map[string]string{"app.conf": "id=" + late.Name + " v1"}))

	// A hot-fix of the first revision's ConfigMap while the rollout is paused.
	patch := client.MergeFrom(recreated.DeepCopy())
	recreated.Data["app.conf"] = "id={{.InstanceID}} v1.1"
	g.Expect(k8sClient.Patch(ctx, recreated, patch)).To(Succeed())
	g.Eventually(tenantConfigMap(t, ns)).Should(Equal(map[string]string{"app.conf": "id=" + late.Name + " v1.1"}))
}

// TestATenantOnAnOlderRevisionGetsItsRotatedSecret: the TLS Secret only an
// older revision names, rotated while a rollout away from it is paused,
// reaches the copy of a tenant on that revision.
func TestATenantOnAnOlderRevisionGetsItsRotatedSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	oldSecret, newSecret := copyableTLSSecret(), copyableTLSSecret()
	g.Expect(k8sClient.Create(ctx, oldSecret)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, newSecret)).To(Succeed())
	product, firstRevision := productPausedOnOlderRevision(t,
		func(w *saasv1alpha1.WorkloadTemplate) { w.Ingress.TLSSecretName = oldSecret.Name },
		func(w *saasv1alpha1.WorkloadTemplate) { w.Ingress.TLSSecretName = newSecret.Name })

	late := newTenant(t, product, "basic", nil)
	g.Expect(eventuallyTenant(t, late.Name, provisioned).Status.Revision).To(Equal(firstRevision))
	ns := "tenant-" + late.Name
	g.Expect(getObject(t, &corev1.Secret{}, ns, tenantobjects.TLSSecretName).Data).To(
		HaveKeyWithValue(corev1.TLSCertKey, []byte("certificate")))

	rotated := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(oldSecret), rotated)).To(Succeed())
	patch := client.MergeFrom(rotated.DeepCopy())
	rotated.Data[corev1.TLSCertKey] = []byte("rotated certificate")
	g.Expect(k8sClient.Patch(ctx, rotated, patch)).To(Succeed())
	g.Eventually(func() (map[string][]byte, error) {
		copied := &corev1.Secret{}
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.TLSSecretName}, copied)
		return copied.Data, err
	}).Should(HaveKeyWithValue(corev1.TLSCertKey, []byte("rotated certificate")), fmt.Sprintf("the copy follows %s", oldSecret.Name))
}

// An event of a Secret or ConfigMap of kooper's namespace reads only the
// products and stored revisions that name it, whatever the number of
// others: one named only by an older revision of a product queues that
// product's tenants, and a Secret of the same name as a ConfigMap a
// revision names (or the other way round) queues none.
func TestAnObjectOnlyAStoredRevisionNamesReadsOnlyThatRevision(t *testing.T) {
	g := NewWithT(t)
	scheme, err := testenv.NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	var objs []client.Object
	stored := func(product string, n int64, w *saasv1alpha1.WorkloadTemplate) *appsv1.ControllerRevision {
		cr, err := controllerRevision(&saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: product}}, operatorNamespace,
			fmt.Sprintf("%s-%d", product, n), n, rollout.Revision{Workload: w})
		g.Expect(err).NotTo(HaveOccurred())
		return cr
	}
	for i := range 100 {
		name := fmt.Sprintf("other-%03d", i)
		objs = append(objs, &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name}},
			stored(name, 1, &saasv1alpha1.WorkloadTemplate{ImagePullSecretName: "other-pull",
				Config: &saasv1alpha1.WorkloadConfig{ConfigMapName: "other-config"}}))
	}
	objs = append(objs,
		&saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "paused"},
			Spec: saasv1alpha1.SaaSProductSpec{Workload: &saasv1alpha1.WorkloadTemplate{
				Ingress: &saasv1alpha1.IngressTemplate{TLSSecretName: "tls-v2"},
				Config:  &saasv1alpha1.WorkloadConfig{ConfigMapName: "cfg-v2"}}}},
		stored("paused", 1, &saasv1alpha1.WorkloadTemplate{
			Ingress: &saasv1alpha1.IngressTemplate{TLSSecretName: "tls-v1"},
			Config:  &saasv1alpha1.WorkloadConfig{ConfigMapName: "cfg-v1"}}),
		stored("paused", 2, &saasv1alpha1.WorkloadTemplate{
			Ingress: &saasv1alpha1.IngressTemplate{TLSSecretName: "tls-v2"},
			Config:  &saasv1alpha1.WorkloadConfig{ConfigMapName: "cfg-v2"}}),
		&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-paused-1"}, Spec: saasv1alpha1.SaaSTenantSpec{ProductName: "paused"}},
		&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-other-1"}, Spec: saasv1alpha1.SaaSTenantSpec{ProductName: "other-000"}},
	)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&saasv1alpha1.SaaSTenant{}, productNameIndex,
			func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.SaaSTenant).Spec.ProductName} }).
		WithIndex(&saasv1alpha1.SaaSProduct{}, copiedSecretNameIndex, copiedSecretNames).
		WithIndex(&saasv1alpha1.SaaSProduct{}, configMapNameIndex, configMapNames).
		WithIndex(&appsv1.ControllerRevision{}, revisionReferenceIndex, revisionReferences).
		Build()
	counting := &countingProducts{Client: c}
	r := &SaaSTenantReconciler{Client: counting, Options: TenantOptions{SecretNamespace: operatorNamespace}}
	r.productTenants = productTenantsReader{consistent: c}
	meta := metav1.ObjectMeta{Namespace: operatorNamespace}
	secret := func(name string) *corev1.Secret { meta.Name = name; return &corev1.Secret{ObjectMeta: meta} }
	configMap := func(name string) *corev1.ConfigMap { meta.Name = name; return &corev1.ConfigMap{ObjectMeta: meta} }
	pausedTenant := []reconcile.Request{{NamespacedName: client.ObjectKey{Name: "i-paused-1"}}}

	for _, tc := range []struct {
		name                string
		requests            func() []reconcile.Request
		want                []reconcile.Request
		products, revisions int
	}{
		{"a licence key", func() []reconcile.Request { return r.tenantsOfSecret(testContext(t), secret("license-i-123")) }, nil, 0, 0},
		{"the older revision's Secret", func() []reconcile.Request { return r.tenantsOfSecret(testContext(t), secret("tls-v1")) }, pausedTenant, 0, 1},
		{"the spec's Secret", func() []reconcile.Request { return r.tenantsOfSecret(testContext(t), secret("tls-v2")) }, pausedTenant, 1, 1},
		{"the older revision's ConfigMap", func() []reconcile.Request { return r.tenantsOfConfigMap(testContext(t), configMap("cfg-v1")) }, pausedTenant, 0, 1},
		{"a Secret of a ConfigMap's name", func() []reconcile.Request { return r.tenantsOfSecret(testContext(t), secret("cfg-v1")) }, nil, 0, 0},
		{"a ConfigMap of a Secret's name", func() []reconcile.Request { return r.tenantsOfConfigMap(testContext(t), configMap("tls-v1")) }, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			counting.listed, counting.revisions = 0, 0
			g.Expect(tc.requests()).To(ConsistOf(tc.want))
			g.Expect(counting.listed).To(Equal(tc.products), "products read")
			g.Expect(counting.revisions).To(Equal(tc.revisions), "revisions read")
		})
	}
}
