package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/testenv"
)

// The chart sample (config/samples/saas_v1alpha1_saasproduct_chart.yaml).
const (
	chartProduct    = "crm-suite"
	chartSecret     = "crm-suite-chart"
	chartBasicSKU   = "0a4d1578-5295-46a7-92d4-7c803dccc51e"
	chartProSKU     = "8d8a9c2b-3c41-4a7e-9d43-6f1e0b5c2a10"
	chartProductKey = "OFFI846204237451911169"
)

// testChartTenant drives a tenant of the chart sample through its life:
// every part of the chart is provisioned, frozen and unfrozen together,
// re-rendered by an upgrade, and released, keeping its data.
func testChartTenant(t *testing.T, e *env) {
	g := NewWithT(t)
	installChartProduct(t, g, e)
	url := strings.TrimSuffix(e.stack.ReceiverURL, localstack.Product) + chartProduct
	sim := func(args ...string) string {
		out, err := e.stack.Sim(e.ctx, append(args, "--url", url)...)
		g.Expect(err).NotTo(HaveOccurred(), out)
		return out
	}

	order := orderID("chart")
	sim("new-instance", "--sim-url", e.stack.SimURL, "--order-id", order, "--product-id", chartProductKey, "--sku", chartBasicSKU)
	var tenant *saasv1alpha1.SaaSTenant
	g.Eventually(func(g Gomega) {
		var err error
		tenant, err = e.stack.TenantForOrder(e.ctx, order)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(tenant).NotTo(BeNil())
		g.Expect(isReady(tenant)).To(BeTrue())
	}).Should(Succeed())
	ns, id := tenant.Status.Namespace, tenant.Name
	// The basic plan: web and Redis, no worker; every part available and kooper's.
	expectParts(g, e, ns, map[string]int32{"Deployment/" + id + "-web": 1, "StatefulSet/" + id + "-redis": 1})
	g.Expect(getObject(e, ns, id+"-worker", &appsv1.Deployment{})).To(MatchError(apierrors.IsNotFound, "IsNotFound"))
	for name, obj := range map[string]client.Object{
		id + "-web": &corev1.Service{}, id + "-redis": &corev1.Service{}, id + "-config": &corev1.ConfigMap{},
		"kooper-quota": &corev1.ResourceQuota{}, "kooper-isolation": &networkingv1.NetworkPolicy{},
	} {
		g.Expect(getObject(e, ns, name, obj)).To(Succeed(), name)
	}
	ingress := &networkingv1.Ingress{}
	g.Expect(getObject(e, ns, id+"-web", ingress)).To(Succeed())
	g.Expect(ingress.Spec.Rules[0].Host).To(Equal(id + ".crm-suite.example.com"))
	g.Expect(getTenant(g, e, id).Status.Inventory).To(HaveLen(6))

	sim("freeze", "--instance-id", id)
	g.Eventually(func(g Gomega) {
		g.Expect(apimeta.IsStatusConditionTrue(getTenant(g, e, id).Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeTrue())
		expectParts(g, e, ns, map[string]int32{"Deployment/" + id + "-web": 0, "StatefulSet/" + id + "-redis": 0})
	}).Should(Succeed())
	sim("unfreeze", "--instance-id", id)
	g.Eventually(func(g Gomega) {
		g.Expect(isReady(getTenant(g, e, id))).To(BeTrue())
		expectParts(g, e, ns, map[string]int32{"Deployment/" + id + "-web": 1, "StatefulSet/" + id + "-redis": 1})
	}).Should(Succeed())

	// The professional plan's values: three web replicas and a worker.
	sim("upgrade-instance", "--sim-url", e.stack.SimURL, "--instance-id", id, "--order-id", orderID("chart-upgrade"),
		"--product-id", chartProductKey, "--sku", chartProSKU)
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, id)
		g.Expect(tenant.Status.SKUCode).To(Equal(chartProSKU))
		g.Expect(isReady(tenant)).To(BeTrue())
		expectParts(g, e, ns, map[string]int32{
			"Deployment/" + id + "-web": 3, "Deployment/" + id + "-worker": 2, "StatefulSet/" + id + "-redis": 1})
	}).Should(Succeed())

	sim("release-instance", "--instance-id", id)
	g.Eventually(func(g Gomega) {
		g.Expect(apimeta.IsStatusConditionTrue(getTenant(g, e, id).Status.Conditions, saasv1alpha1.ReleasedCondition)).To(BeTrue())
		for _, name := range []string{id + "-web", id + "-worker"} {
			g.Expect(getObject(e, ns, name, &appsv1.Deployment{})).To(MatchError(apierrors.IsNotFound, "IsNotFound"), name)
		}
		g.Expect(getObject(e, ns, id+"-redis", &appsv1.StatefulSet{})).To(MatchError(apierrors.IsNotFound, "IsNotFound"))
	}).Should(Succeed())
	// The data stays until the retention period ends.
	g.Expect(getObject(e, ns, id+"-config", &corev1.ConfigMap{})).To(Succeed())
	g.Expect(getObject(e, ns, tenant.Status.CredentialsSecretName, &corev1.Secret{})).To(Succeed())
}

// installChartProduct packages the sample chart into its Secret and
// creates the chart sample product. The local cluster has no storage
// provisioner, only a small pool of static volumes that the workload
// tenants use, so every plan's Redis keeps its data on an emptyDir here
// (redis.persistence.enabled: false); the chart's claim template is tested
// by rendering (internal/chartrender) and envtest.
func installChartProduct(t *testing.T, g Gomega, e *env) {
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	chart, err := loader.LoadDir(filepath.Join(root, "config", "samples", "charts", "crm-suite"))
	g.Expect(err).NotTo(HaveOccurred())
	archive, err := chartutil.Save(chart, t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())
	tgz, err := os.ReadFile(filepath.Clean(archive))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.stack.Client.Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: chartSecret, Namespace: localstack.Namespace},
		Data:       map[string][]byte{"chart.tgz": tgz},
	})).To(Succeed())

	data, err := os.ReadFile(filepath.Join(root, "config", "samples", "saas_v1alpha1_saasproduct_chart.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(yaml.UnmarshalStrict(data, product)).To(Succeed())
	product.Spec.Chart.Values = &apiextensionsv1.JSON{Raw: []byte(`{"redis":{"persistence":{"enabled":false}}}`)}
	g.Expect(e.stack.Client.Create(e.ctx, product)).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: chartProduct}, got)).To(Succeed())
		g.Expect(apimeta.IsStatusConditionTrue(got.Status.Conditions, saasv1alpha1.ReadyCondition)).To(BeTrue())
		g.Expect(got.Status.Chart).NotTo(BeNil())
	}).Should(Succeed())
}

// expectParts checks each Deployment's or StatefulSet's wanted replicas,
// that as many are available, and that kooper labelled it as the tenant's.
func expectParts(g Gomega, e *env, namespace string, want map[string]int32) {
	for part, replicas := range want {
		kind, name, _ := strings.Cut(part, "/")
		var obj client.Object
		var spec *int32
		var available int32
		if kind == "StatefulSet" {
			s := &appsv1.StatefulSet{}
			g.Expect(getObject(e, namespace, name, s)).To(Succeed(), part)
			obj, spec, available = s, s.Spec.Replicas, s.Status.AvailableReplicas
		} else {
			d := &appsv1.Deployment{}
			g.Expect(getObject(e, namespace, name, d)).To(Succeed(), part)
			obj, spec, available = d, d.Spec.Replicas, d.Status.AvailableReplicas
		}
		g.Expect(spec).NotTo(BeNil(), part)
		g.Expect(*spec).To(Equal(replicas), part)
		g.Expect(available).To(Equal(replicas), part)
		g.Expect(obj.GetLabels()).To(HaveKeyWithValue(saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue), part)
	}
}

func getObject(e *env, namespace, name string, obj client.Object) error {
	return e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
}
