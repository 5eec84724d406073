package e2e

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/testenv"
)

var crdNames = []string{"saasproducts.saas.kooper.io", "saastenants.saas.kooper.io", "licenses.saas.kooper.io", "saasdirectories.saas.kooper.io"}

func testChartInstalled(t *testing.T, e *env) {
	g := NewWithT(t)
	for _, name := range crdNames {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: name}, crd)).To(Succeed())
		g.Expect(crd.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"), name)
	}
	// The chart's two Deployments are Available: kwok runs their pods (two
	// receivers, one controllers), which proves their pod specs pass
	// admission. Each runs as its own ServiceAccount.
	list := &appsv1.DeploymentList{}
	g.Expect(e.stack.Client.List(e.ctx, list, client.InNamespace(localstack.Namespace))).To(Succeed())
	available := map[string]int32{}
	accounts := map[string]string{}
	for _, d := range list.Items {
		available[d.Name] = d.Status.AvailableReplicas
		accounts[d.Name] = d.Spec.Template.Spec.ServiceAccountName
	}
	g.Expect(available).To(Equal(map[string]int32{"kooper-receiver": 2, "kooper-controllers": 1}))
	g.Expect(accounts).To(Equal(map[string]string{"kooper-receiver": "kooper-receiver", "kooper-controllers": "kooper-controllers"}))
	g.Expect(e.stack.ServiceAccount(localstack.Receiver)).To(Equal("system:serviceaccount:kooper-system:kooper-receiver"))
	g.Expect(e.stack.ServiceAccount(localstack.Controllers)).To(Equal("system:serviceaccount:kooper-system:kooper-controllers"))
	// The directory namespace, where the receiver writes directory shards.
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Namespace + "-directory"}, &corev1.Namespace{})).To(Succeed())
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Product}, product)).To(Succeed())
	g.Expect(apimeta.IsStatusConditionTrue(product.Status.Conditions, saasv1alpha1.KeysAvailableCondition)).To(BeTrue())
}

func testPurchase(t *testing.T, e *env) {
	g := NewWithT(t)
	e.tenant = buyReady(t, e)
	tenant := getTenant(g, e, e.tenant)
	g.Expect(tenant.Status.SKUCode).To(Equal(basicSKU))
	ns := tenant.Status.Namespace
	d := getDeployment(g, e, ns)
	g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
	g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1))
	expectProbesAndConfig(g, e, ns, e.tenant, basicSKU)
	// The isolation objects and the data, as the chart's RBAC let the operator make them.
	for name, obj := range map[string]client.Object{
		"kooper-quota":                      &corev1.ResourceQuota{},
		"kooper-isolation":                  &networkingv1.NetworkPolicy{},
		tenant.Status.CredentialsSecretName: &corev1.Secret{},
		"data":                              &corev1.PersistentVolumeClaim{},
	} {
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)).To(Succeed(), name)
	}
	// The marketplace gets the credentials, encrypted with the product's key.
	out, err := e.stack.Sim(e.ctx, "query-instance", "--instance-id", e.tenant)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`userName and password decrypt with the key`))
	g.Expect(out).To(ContainSubstring("Body-Sign: verified"))
}

func testSecondPurchase(t *testing.T, e *env) {
	e.survivor = buyReady(t, e)
}

func testRenewal(t *testing.T, e *env) {
	g := NewWithT(t)
	newExpiry := time.Now().UTC().AddDate(2, 0, 0).Truncate(time.Second)
	_, err := e.stack.Sim(e.ctx, "refresh-instance", "--sim-url", e.stack.SimURL, "--instance-id", e.tenant,
		"--order-id", orderID("renew"), "--expire-time", newExpiry.Format("20060102150405"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, e.tenant)
		g.Expect(tenant.Status.ExpireTime).NotTo(BeNil())
		g.Expect(tenant.Status.ExpireTime.Time.Equal(newExpiry)).To(BeTrue(), "expiry %s, want %s", tenant.Status.ExpireTime, newExpiry)
		g.Expect(isReady(tenant)).To(BeTrue())
	}).Should(Succeed())
}

// testStaleFreeze sends the FREEZE of the period the buyer has just renewed,
// as a marketplace retry arriving late would: the paying tenant keeps
// running (docs/lifecycle.md rule F).
func testStaleFreeze(t *testing.T, e *env) {
	g := NewWithT(t)
	_, err := e.stack.Sim(e.ctx, "freeze", "--instance-id", e.tenant)
	g.Expect(err).NotTo(HaveOccurred())
	tenant := getTenant(g, e, e.tenant)
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.StateActive))
	g.Consistently(func(g Gomega) {
		g.Expect(isReady(getTenant(g, e, e.tenant))).To(BeTrue())
	}).WithTimeout(2 * time.Second).Should(Succeed())
}

// testFreezeAfterPlanRetired buys the pro plan, takes the plan out of the
// product as a merchant retiring it would, then freezes the tenant: stopping
// service never waits for configuration (docs/lifecycle.md rule S).
func testFreezeAfterPlanRetired(t *testing.T, e *env) {
	g := NewWithT(t)
	tenant, _ := buyReadySKU(t, e, "retired", proSKU)

	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Product}, product)).To(Succeed())
	plans := product.Spec.Plans
	patch := client.MergeFrom(product.DeepCopy())
	product.Spec.Plans = slices.DeleteFunc(slices.Clone(plans), func(p saasv1alpha1.Plan) bool { return p.SKUCode == proSKU })
	g.Expect(e.stack.Client.Patch(e.ctx, product, patch)).To(Succeed())
	defer func() {
		// The merchant brings the plan back; the later steps sell it.
		restore := client.MergeFrom(product.DeepCopy())
		product.Spec.Plans = plans
		g.Expect(e.stack.Client.Patch(e.ctx, product, restore)).To(Succeed())
	}()
	g.Eventually(func(g Gomega) {
		g.Expect(apimeta.IsStatusConditionTrue(getTenant(g, e, tenant.Name).Status.Conditions, saasv1alpha1.StalledCondition)).To(BeTrue())
	}).Should(Succeed())

	out, err := e.stack.Sim(e.ctx, "freeze", "--instance-id", tenant.Name)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Eventually(func(g Gomega) {
		d := getDeployment(g, e, getTenant(g, e, tenant.Name).Status.Namespace)
		g.Expect(*d.Spec.Replicas).To(BeZero())
		g.Expect(d.Status.Replicas).To(BeZero(), "pods still running")
	}).Should(Succeed())
}

func testUpgrade(t *testing.T, e *env) {
	g := NewWithT(t)
	_, err := e.stack.Sim(e.ctx, "upgrade-instance", "--sim-url", e.stack.SimURL, "--instance-id", e.tenant,
		"--order-id", orderID("upgrade"), "--sku", proSKU)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, e.tenant)
		g.Expect(tenant.Status.SKUCode).To(Equal(proSKU))
		d := getDeployment(g, e, tenant.Status.Namespace)
		// Professional is a larger pod, not more of them: the tenant's
		// ReadWriteOnce volume attaches to one node (issue 28).
		g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
		cpu := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]
		g.Expect(cpu.Cmp(resource.MustParse("2"))).To(BeZero(), "cpu request %s", cpu.String())
		// The rollout completed: the one replica runs the new template.
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(BeEquivalentTo(1))
		g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1))
		g.Expect(isReady(tenant)).To(BeTrue())
	}).Should(Succeed())
	// The old pod stops before the new one starts, so the volume is never
	// wanted on two nodes at once.
	ns := getTenant(g, e, e.tenant).Status.Namespace
	g.Expect(getDeployment(g, e, ns).Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))
	pvc := &corev1.PersistentVolumeClaim{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: "data"}, pvc)).To(Succeed())
	g.Expect(pvc.Spec.AccessModes).To(ConsistOf(corev1.ReadWriteOnce))
	// The plan is in the configuration file: the upgrade rendered it again.
	expectProbesAndConfig(g, e, getTenant(g, e, e.tenant).Status.Namespace, e.tenant, proSKU)
}

func testFreeze(t *testing.T, e *env) {
	g := NewWithT(t)
	_, err := e.stack.Sim(e.ctx, "freeze", "--instance-id", e.tenant)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, e.tenant)
		g.Expect(apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeTrue())
		d := getDeployment(g, e, tenant.Status.Namespace)
		g.Expect(*d.Spec.Replicas).To(BeZero())
		g.Expect(d.Status.Replicas).To(BeZero(), "pods still running")
	}).Should(Succeed())
	tenant := getTenant(g, e, e.tenant)
	g.Expect(isReady(tenant)).To(BeFalse())
	ns := tenant.Status.Namespace
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: "data"}, &corev1.PersistentVolumeClaim{})).To(Succeed())
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: tenant.Status.CredentialsSecretName}, &corev1.Secret{})).To(Succeed())
}

func testUnfreeze(t *testing.T, e *env) {
	g := NewWithT(t)
	_, err := e.stack.Sim(e.ctx, "unfreeze", "--instance-id", e.tenant)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, e.tenant)
		g.Expect(isReady(tenant)).To(BeTrue())
		d := getDeployment(g, e, tenant.Status.Namespace)
		g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
		g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1))
	}).Should(Succeed())
}

func testConformance(t *testing.T, e *env) {
	g := NewWithT(t)
	out, err := e.stack.Sim(e.ctx, "conformance", "--change-sku", proSKU)
	t.Log(out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).NotTo(ContainSubstring("FAIL"))
}

func testRelease(t *testing.T, e *env) {
	g := NewWithT(t)
	_, err := e.stack.Sim(e.ctx, "release-instance", "--instance-id", e.tenant)
	g.Expect(err).NotTo(HaveOccurred())
	ns := getTenant(g, e, e.tenant).Status.Namespace
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, e.tenant)
		g.Expect(apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.ReleasedCondition)).To(BeTrue())
		g.Expect(tenant.Status.RetainUntil).NotTo(BeNil())
		err := e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &appsv1.Deployment{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the Deployment is still there: %v", err)
	}).Should(Succeed())
	// The data is kept for the retention period...
	namespace := &corev1.Namespace{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: ns}, namespace)).To(Succeed())
	g.Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: "data"}, &corev1.PersistentVolumeClaim{})).To(Succeed())
	// ...and when it is over (moved to the past here, rather than waiting
	// 15 days), the namespace goes, deleted to the end by the controller-manager.
	patch := client.MergeFrom(namespace.DeepCopy())
	namespace.Annotations[saasv1alpha1.DeleteAfterAnnotation] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	g.Expect(e.stack.Client.Patch(e.ctx, namespace, patch)).To(Succeed())
	g.Eventually(func() bool {
		err := e.stack.Client.Get(e.ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
		return apierrors.IsNotFound(err)
	}).Should(BeTrue(), "namespace %s was not deleted", ns)
}

// testHandDeletion deletes a Ready tenant as kubectl delete would: the
// marketplace's later callbacks for it still succeed (docs/lifecycle.md
// rule B), and a repeated purchase of its order line provisions nothing.
func testHandDeletion(t *testing.T, e *env) {
	g := NewWithT(t)
	tenant, order := buyReadySKU(t, e, "deleted", basicSKU)
	g.Expect(tenant.Finalizers).To(ContainElement(saasv1alpha1.Finalizer))
	e.deleted, e.deletedOrder = tenant.Name, order
	g.Expect(e.stack.Client.Delete(e.ctx, tenant)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(e.stack.Client.Get(e.ctx, client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue())
	expectAnsweredAsGone(g, e)
}

// expectAnsweredAsGone sends the marketplace's callbacks for the tenant
// deleted by hand; the simulator fails on any answer but 000000.
func expectAnsweredAsGone(g Gomega, e *env) {
	for _, args := range [][]string{
		{"release-instance", "--instance-id", e.deleted},
		{"query-instance", "--instance-id", e.deleted},
	} {
		out, err := e.stack.Sim(e.ctx, args...)
		g.Expect(err).NotTo(HaveOccurred(), out)
	}
	out, err := e.stack.Buy(e.ctx, e.deletedOrder, basicSKU, 0)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring(e.deleted))
	g.Consistently(func() (*saasv1alpha1.SaaSTenant, error) { return e.stack.TenantForOrder(e.ctx, e.deletedOrder) }).
		WithTimeout(2 * time.Second).Should(BeNil())
}

func testReinstalled(t *testing.T, e *env) {
	g := NewWithT(t)
	g.Expect(e.stack.Reinstall(e.ctx)).To(Succeed())
	expectAnsweredAsGone(g, e)
}

func testHelmUpgrade(t *testing.T, e *env) {
	g := NewWithT(t)
	_, err := e.stack.Helm(e.ctx, "upgrade", localstack.Release, chartPath(g),
		"--namespace", localstack.Namespace, "--reuse-values", "--wait", "--timeout", "3m",
		"--set", "logLevel=debug", "--set", "product.spec.debug.ttlSeconds=43200")
	g.Expect(err).NotTo(HaveOccurred())
	expectIntact(g, e)
	// The operator applied the product change the upgrade made to the
	// products ConfigMap.
	g.Eventually(func(g Gomega) {
		product := &saasv1alpha1.SaaSProduct{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Product}, product)).To(Succeed())
		g.Expect(product.Spec.Debug.TTLSeconds).To(HaveValue(BeEquivalentTo(43200)))
	}).Should(Succeed())
	// And the operator still provisions.
	buyReady(t, e)
}

func testHelmUninstall(t *testing.T, e *env) {
	g := NewWithT(t)
	out, err := e.stack.Helm(e.ctx, "uninstall", localstack.Release, "--namespace", localstack.Namespace, "--wait")
	g.Expect(err).NotTo(HaveOccurred())
	t.Log(out)
	for _, name := range []string{"kooper-receiver", "kooper-controllers"} {
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: localstack.Namespace, Name: name}, &appsv1.Deployment{})).
			To(WithTransform(apierrors.IsNotFound, BeTrue()), "the chart's Deployment %s is still there", name)
	}
	// The directory namespace is kept, like the CRDs: its shards are data.
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Namespace + "-directory"}, &corev1.Namespace{})).To(Succeed())
	expectIntact(g, e)
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Product}, &saasv1alpha1.SaaSProduct{})).To(Succeed())
}

// expectIntact checks that the CRDs and the surviving tenant with its
// workload are still there.
func expectIntact(g Gomega, e *env) {
	for _, name := range crdNames {
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: name}, &apiextensionsv1.CustomResourceDefinition{})).To(Succeed(), name)
	}
	tenant := getTenant(g, e, e.survivor)
	g.Expect(isReady(tenant)).To(BeTrue())
	d := getDeployment(g, e, tenant.Status.Namespace)
	g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1))
}

// buyReady buys the sample product's basic plan and waits for the tenant
// to be Ready; it returns the instanceId.
func buyReady(t *testing.T, e *env) string {
	tenant, _ := buyReadySKU(t, e, "buy", basicSKU)
	return tenant.Name
}

// buyReadySKU buys sku with a new order named after what, waits for the
// tenant to be Ready, and returns it with the order.
func buyReadySKU(t *testing.T, e *env, what, sku string) (*saasv1alpha1.SaaSTenant, string) {
	g := NewWithT(t)
	order := orderID(what)
	out, err := e.stack.Buy(e.ctx, order, sku, 0)
	g.Expect(err).NotTo(HaveOccurred(), out)
	var tenant *saasv1alpha1.SaaSTenant
	g.Eventually(func(g Gomega) {
		tenant, err = e.stack.TenantForOrder(e.ctx, order)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(tenant).NotTo(BeNil())
		g.Expect(isReady(tenant)).To(BeTrue())
	}).Should(Succeed())
	return tenant, order
}

func getTenant(g Gomega, e *env, name string) *saasv1alpha1.SaaSTenant {
	tenant := &saasv1alpha1.SaaSTenant{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: name}, tenant)).To(Succeed())
	return tenant
}

func getDeployment(g Gomega, e *env, namespace string) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: namespace, Name: "app"}, d)).To(Succeed())
	return d
}

func isReady(t *saasv1alpha1.SaaSTenant) bool {
	return apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition)
}

func chartPath(g Gomega) string {
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	return filepath.Join(root, "charts", "kooper")
}
