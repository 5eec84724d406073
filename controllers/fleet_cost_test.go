package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// Work that grows with the fleet on an event that concerns few of it.

// setChartReady writes the product's ChartReady by hand, as the product
// controller does on each resolution of its tag, and waits until the
// manager's cache has it.
func setChartReady(t *testing.T, name string, status metav1.ConditionStatus, message string) {
	t.Helper()
	g := NewWithT(t)
	written := &saasv1alpha1.SaaSProduct{}
	g.Eventually(func() error {
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, written); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(written.DeepCopy(), client.MergeFromWithOptimisticLock{})
		apimeta.SetStatusCondition(&written.Status.Conditions, metav1.Condition{Type: saasv1alpha1.ChartReadyCondition,
			Status: status, Reason: saasv1alpha1.SucceededReason, Message: message, ObservedGeneration: written.Generation})
		return k8sClient.Status().Patch(testContext(t), written, patch)
	}).Should(Succeed())
	g.Eventually(func() (string, error) {
		cached := &saasv1alpha1.SaaSProduct{}
		err := cachedClient.Get(testContext(t), client.ObjectKey{Name: name}, cached)
		return cached.ResourceVersion, err
	}).Should(Equal(written.ResourceVersion))
}

// quietTenants waits until the tenant controller has made no pass for a
// second, and returns its count of passes then.
func quietTenants(t *testing.T) float64 {
	t.Helper()
	var passes float64
	NewWithT(t).Eventually(func() bool {
		passes = tenantReconciles(t)
		time.Sleep(time.Second)
		return tenantReconciles(t) == passes
	}, time.Minute, time.Millisecond).Should(BeTrue(), "the tenant controller settles")
	return passes
}

// A product's tag is resolved again every 10 minutes; a registry that
// fails once flips ChartReady False and back, with the same chart
// resolved. None of its tenants reads ChartReady while the product has a
// chart (renderChart shows it only to a tenant waiting for one): the flips
// reconcile none of them. A tenant of a product whose chart is not
// resolved yet still follows its ChartReady message.
func TestAChartReadyFlipWithTheSameChartReconcilesNoTenant(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", nil)
	makeChartCurrent(t, "tenant-"+tenant.Name, tenant.Spec.InstanceID)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	before := quietTenants(t)
	const flips = 6
	for i := range flips {
		if i%2 == 0 {
			setChartReady(t, product.Name, metav1.ConditionFalse, fmt.Sprintf("failed to resolve the tag: registry unreachable (%d)", i))
		} else {
			setChartReady(t, product.Name, metav1.ConditionTrue, "chart crm 1.2.0 resolved")
		}
	}
	passes := quietTenants(t) - before
	t.Logf("%.0f tenant passes from %d ChartReady flips with the chart unchanged", passes, flips)
	g.Expect(passes).To(BeNumerically("<=", 1), "tenant passes from ChartReady flips with the chart unchanged")

	// A product with no chart resolved: its tenant says why it waits, and
	// follows each new reason.
	var lateSecret string
	waiting, _ := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		lateSecret = p.Name + "-late-chart"
		p.Spec.Chart.SecretRef.Name = lateSecret
	})
	waiter := newTenant(t, waiting, "basic", nil)
	waitingFor := func(message string) func(Gomega, *saasv1alpha1.SaaSTenant) {
		return func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
			c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ProvisionedCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(saasv1alpha1.ProgressingReason))
			g.Expect(c.Message).To(Equal(capMessage("Waiting for SaaSProduct " + waiting.Name + "'s chart to be resolved: " + message)))
		}
	}
	eventuallyTenant(t, waiter.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ProvisionedCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Message).To(ContainSubstring(lateSecret))
	})
	setChartReady(t, waiting.Name, metav1.ConditionFalse, "failed to resolve the tag: registry unreachable")
	eventuallyTenant(t, waiter.Name, waitingFor("failed to resolve the tag: registry unreachable"))
}

// countingProducts counts the SaaSProducts (listed) and the product
// revisions its Lists return.
type countingProducts struct {
	client.Client
	listed, revisions int
}

func (c *countingProducts) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := c.Client.List(ctx, list, opts...)
	switch l := list.(type) {
	case *saasv1alpha1.SaaSProductList:
		c.listed += len(l.Items)
	case *appsv1.ControllerRevisionList:
		c.revisions += len(l.Items)
	}
	return err
}

// An event of a Secret of kooper's namespace that no product copies (a
// licence key, of which a restart brings 10,000) reads no product; one a
// product copies reads that product, and queues its tenants.
func TestASecretNoProductCopiesReadsNoProduct(t *testing.T) {
	g := NewWithT(t)
	scheme, err := testenv.NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	var objs []client.Object
	for i := range 200 {
		objs = append(objs, &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%03d", i)},
			Spec: saasv1alpha1.SaaSProductSpec{Workload: &saasv1alpha1.WorkloadTemplate{ImagePullSecretName: "other-pull"}}})
	}
	objs = append(objs,
		&saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "copier"},
			Spec: saasv1alpha1.SaaSProductSpec{Workload: &saasv1alpha1.WorkloadTemplate{Ingress: &saasv1alpha1.IngressTemplate{TLSSecretName: "shared-tls"}}}},
		&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-copier-1"}, Spec: saasv1alpha1.SaaSTenantSpec{ProductName: "copier"}},
		&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-copier-2"}, Spec: saasv1alpha1.SaaSTenantSpec{ProductName: "copier"}},
		&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-other-1"}, Spec: saasv1alpha1.SaaSTenantSpec{ProductName: "other-000"}},
	)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&saasv1alpha1.SaaSTenant{}, productNameIndex,
			func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.SaaSTenant).Spec.ProductName} }).
		WithIndex(&saasv1alpha1.SaaSProduct{}, copiedSecretNameIndex, copiedSecretNames).
		WithIndex(&appsv1.ControllerRevision{}, revisionReferenceIndex, revisionReferences).
		Build()
	counting := &countingProducts{Client: c}
	r := &SaaSTenantReconciler{Client: counting, Options: TenantOptions{SecretNamespace: operatorNamespace}}
	r.productTenants = productTenantsReader{consistent: c}
	secret := func(name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name}}
	}

	g.Expect(r.tenantsOfSecret(testContext(t), secret("license-i-123"))).To(BeEmpty())
	g.Expect(counting.listed).To(BeZero(), "products read for a licence key Secret")

	counting.listed = 0
	g.Expect(r.tenantsOfSecret(testContext(t), secret("shared-tls"))).To(ConsistOf(
		reconcile.Request{NamespacedName: client.ObjectKey{Name: "i-copier-1"}},
		reconcile.Request{NamespacedName: client.ObjectKey{Name: "i-copier-2"}}))
	g.Expect(counting.listed).To(Equal(1), "products read for a Secret one product copies")
}
