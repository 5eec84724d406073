package controllers

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/chartrender/ocitest"
)

// crmChartDir is internal/chartrender's multi-part test chart: a web
// Deployment, Service and Ingress, a worker Deployment, a Redis
// StatefulSet, a ConfigMap, a pre-install Job, a test Pod and extraObjects.
const crmChartDir = "../internal/chartrender/testdata/crm"

// crmChartTgz packages the test chart as helm package does, after edit (if
// not nil) changed it.
func crmChartTgz(t *testing.T, edit func(*chart.Chart)) []byte {
	t.Helper()
	c, err := loader.LoadDir(crmChartDir)
	if err != nil {
		t.Fatalf("loading %s: %v", crmChartDir, err)
	}
	if edit != nil {
		edit(c)
	}
	path, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatalf("packaging %s: %v", crmChartDir, err)
	}
	data, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// withVersion gives the test chart another version (and so another digest).
func withVersion(version string) func(*chart.Chart) {
	return func(c *chart.Chart) { c.Metadata.Version = version }
}

// newChartProductFrom creates a SaaS product (with its keys) whose tenants
// are a chart from source.
func newChartProductFrom(t *testing.T, source saasv1alpha1.ChartTemplate) *saasv1alpha1.SaaSProduct {
	t.Helper()
	return newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload = nil
		p.Spec.Chart = &source
	})
}

// chartSecretFor is a Secret of kooper's namespace holding a chart archive.
func chartSecretFor(name string, tgz []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name},
		Data: map[string][]byte{"chart.tgz": tgz}}
}

// expectResolved waits until the product records want as its chart.
func expectResolved(t *testing.T, product *saasv1alpha1.SaaSProduct, want saasv1alpha1.ResolvedChart) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
		g.Expect(got.Status.Chart).To(HaveValue(Equal(want)))
	}).Should(Succeed())
}

func TestChartProductFromASecretIsResolvedAndFollowsTheSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tgz := crmChartTgz(t, nil)
	product := newChartProductFrom(t, saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart-follows"}})
	secret := chartSecretFor("crm-chart-follows", tgz)
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())

	digest := chartrender.ArchiveFromBytes(tgz).Digest()
	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
	cond := expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	g.Expect(cond.Message).To(Equal("Chart crm 1.2.0 (" + digest + ") from Secret kooper-test/crm-chart-follows (key chart.tgz)"))
	ready := expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	g.Expect(ready.Message).To(Equal("The keys are available, the chart is resolved, every plan can run and every tenant gets URLs of its own"))
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	egress := expectCondition(t, product, saasv1alpha1.EgressRestrictedCondition, metav1.ConditionTrue, saasv1alpha1.EgressRestrictedReason)
	g.Expect(egress.Message).To(Equal("Each tenant may connect only to DNS and its own namespace: spec.chart.egress lists nothing else"))

	// A new chart in the Secret: the product records its digest.
	newer := crmChartTgz(t, withVersion("1.3.0"))
	g.Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
			return err
		}
		secret.Data["chart.tgz"] = newer
		return k8sClient.Update(ctx, secret)
	}).Should(Succeed())
	expectResolved(t, product, saasv1alpha1.ResolvedChart{
		Digest: chartrender.ArchiveFromBytes(newer).Digest(), Name: "crm", Version: "1.3.0", AppVersion: "1.2.0"})
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}

func TestChartProductWaitsForItsChartSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := newChartProductFrom(t, saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart-late"}})

	cond := expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason)
	g.Expect(cond.Message).To(HavePrefix("The chart from Secret kooper-test/crm-chart-late (key chart.tgz) cannot be fetched: "))
	g.Expect(cond.Message).To(ContainSubstring("not found"))
	ready := expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason)
	g.Expect(ready.Message).To(Equal(cond.Message))

	// A Secret without the key: still not fetched, the key named.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "crm-chart-late"},
		Data: map[string][]byte{"other.tgz": []byte("x")}}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason, "has no key chart.tgz")

	// Bytes that are no chart: fetched, but they do not load.
	patchSecretData(t, secret, "chart.tgz", []byte("not a chart"))
	cond = expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason, "does not load: loading chart sha256:")
	g.Expect(cond.Message).To(HaveSuffix(": not a gzipped chart archive: gzip: invalid header"))

	tgz := crmChartTgz(t, nil)
	patchSecretData(t, secret, "chart.tgz", tgz)
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: chartrender.ArchiveFromBytes(tgz).Digest(), Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	expectEvent(t, product.Name, corev1.EventTypeNormal, saasv1alpha1.SucceededReason)
}

// expectChartReady waits until the product's ChartReady has status and
// reason and a message containing text, and returns it.
func expectChartReady(t *testing.T, product *saasv1alpha1.SaaSProduct, status metav1.ConditionStatus, reason, text string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	NewWithT(t).Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
		cond = apimeta.FindStatusCondition(got.Status.Conditions, saasv1alpha1.ChartReadyCondition)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(status))
		g.Expect(cond.Reason).To(Equal(reason))
		g.Expect(cond.Message).To(ContainSubstring(text))
	}).Should(Succeed())
	return cond
}

// patchSecretData sets one key of a Secret.
func patchSecretData(t *testing.T, secret *corev1.Secret, key string, value []byte) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		got := &corev1.Secret{}
		if err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(secret), got); err != nil {
			return err
		}
		patch := client.MergeFrom(got.DeepCopy())
		got.Data[key] = value
		return k8sClient.Patch(testContext(t), got, patch)
	}).Should(Succeed())
}

// A chart that renders an object no tenant may hold is caught on the
// product, and not recorded: no tenant would run it.
func TestChartProductThatRendersAClusterRoleIsRefused(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	clusterRole := `{"extraObjects":[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"crm-admin"}}]}`
	product := newChartProductFrom(t, saasv1alpha1.ChartTemplate{
		SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart-refused"},
		Values:    &apiextensionsv1.JSON{Raw: []byte(clusterRole)},
	})
	tgz := crmChartTgz(t, nil)
	g.Expect(k8sClient.Create(ctx, chartSecretFor("crm-chart-refused", tgz))).To(Succeed())

	cond := expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason)
	g.Expect(cond.Message).To(Equal("Chart crm 1.2.0 (" + chartrender.ArchiveFromBytes(tgz).Digest() +
		") from Secret kooper-test/crm-chart-refused (key chart.tgz) would run for no tenant: chart holds 1 object a tenant may not hold: " +
		"rbac.authorization.k8s.io/ClusterRole crm-admin: kind not allowed in a tenant namespace"))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason)
	got := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
	g.Expect(got.Status.Chart).To(BeNil(), "a refused chart is not recorded")

	// Only one plan's values add the object: ChartReady is False all the
	// same, naming the object (the chart is now recorded for the other
	// plan's tenants: TestAPlanWhoseChartRenderIsRefusedLeavesTheOtherPlansSold).
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = nil
		p.Spec.Plans[1].Values = &apiextensionsv1.JSON{Raw: []byte(strings.Replace(clusterRole, "crm-admin", "pro-admin", 1))}
	})
	expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason, "ClusterRole pro-admin")

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[1].Values = nil })
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: chartrender.ArchiveFromBytes(tgz).Digest(), Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
}

// registryWithBasicAuth serves an in-process registry that answers only
// requests with user:password; its host is 127.0.0.1:<port> (plain HTTP).
func registryWithBasicAuth(t *testing.T, user, password string) string {
	t.Helper()
	guard := &ocitest.RequireAuth{Want: ocitest.BasicAuthorization(user, password)}
	return ocitest.NewRegistry(t, guard.Wrap)
}

// pullSecret is a kubernetes.io/dockerconfigjson Secret of kooper's
// namespace for host.
func pullSecret(t *testing.T, secretName, host, user, password string) *corev1.Secret {
	t.Helper()
	data := ocitest.DockerConfig(t, host, user, password)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: secretName},
		Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: data}}
}

func TestChartProductFromAnOCIRegistry(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const user, password = "robot", "s3cr3t-registry-password"
	host := registryWithBasicAuth(t, user, password)
	repo, err := name.NewRepository(host + "/charts/crm")
	g.Expect(err).NotTo(HaveOccurred())
	auth := &authn.Basic{Username: user, Password: password}
	digest := ocitest.PushChart(t, repo, "1.2.0", auth, crmChartTgz(t, nil))
	want := saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"}

	// By tag, with a pull Secret that does not exist yet.
	byTag := newChartProductFrom(t, saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
		Repository: host + "/charts/crm", Tag: "1.2.0", PullSecretName: "crm-pull"}})
	cond := expectCondition(t, byTag, saasv1alpha1.ChartReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason)
	g.Expect(cond.Message).To(HavePrefix("The chart from oci://" + host + "/charts/crm:1.2.0 cannot be fetched: "))
	g.Expect(cond.Message).To(ContainSubstring("pull Secret kooper-test/crm-pull"))

	// A pull Secret with the wrong password: the registry's refusal, and
	// no credential, in the message.
	secret := pullSecret(t, "crm-pull", host, user, "wrong-password")
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	cond = expectChartReady(t, byTag, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason, "401")
	g.Expect(cond.Message).NotTo(Or(ContainSubstring("wrong-password"), ContainSubstring(password),
		ContainSubstring(base64.StdEncoding.EncodeToString([]byte(user+":wrong-password")))))

	// The right one: the tag resolved to the manifest's digest.
	patchSecretData(t, secret, corev1.DockerConfigJsonKey, pullSecret(t, "crm-pull", host, user, password).Data[corev1.DockerConfigJsonKey])
	expectResolved(t, byTag, want)
	cond = expectCondition(t, byTag, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	g.Expect(cond.Message).To(Equal("Chart crm 1.2.0 (" + digest + ") from oci://" + host + "/charts/crm:1.2.0"))
	expectCondition(t, byTag, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	// By digest.
	byDigest := newChartProductFrom(t, saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
		Repository: host + "/charts/crm", Digest: digest, PullSecretName: "crm-pull"}})
	expectResolved(t, byDigest, want)
	expectCondition(t, byDigest, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	// The tag moved: a reconcile (here asked for; in production every ten
	// minutes) records the new digest.
	moved := ocitest.PushChart(t, repo, "1.2.0", auth, crmChartTgz(t, withVersion("1.2.1")))
	requestReconcile(t, byTag.Name)
	expectResolved(t, byTag, saasv1alpha1.ResolvedChart{Digest: moved, Name: "crm", Version: "1.2.1", AppVersion: "1.2.0"})
}

// requestReconcile asks for a product's reconcile, as an operator does,
// with an annotation.
func requestReconcile(t *testing.T, name string) {
	t.Helper()
	changeProduct(t, name, func(p *saasv1alpha1.SaaSProduct) {
		metav1.SetMetaDataAnnotation(&p.ObjectMeta, "saas.kooper.io/test-reconcile", time.Now().Format(time.RFC3339Nano))
	})
}

// A chart referenced by tag comes back every ten minutes, so status.chart
// follows the tag; by digest or in a Secret it needs no timer. A failed
// fetch from a registry is retried with back-off, a missing Secret waits
// for its watch.
func TestChartProductRequeue(t *testing.T) {
	host := registryWithBasicAuth(t, "robot", "pw")
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	tgz := crmChartTgz(t, nil)
	digest := ocitest.PushChart(t, repo, "1.2.0", &authn.Basic{Username: "robot", Password: "pw"}, tgz)
	g := NewWithT(t)
	ctx := testContext(t)
	g.Expect(k8sClient.Create(ctx, pullSecret(t, "crm-pull-requeue", host, "robot", "pw"))).To(Succeed())
	g.Expect(k8sClient.Create(ctx, chartSecretFor("crm-chart-requeue", tgz))).To(Succeed())

	cases := []struct {
		name      string
		source    saasv1alpha1.ChartTemplate
		wantAfter bool
		wantErr   bool
	}{
		{name: "by tag", wantAfter: true, source: saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
			Repository: host + "/charts/crm", Tag: "1.2.0", PullSecretName: "crm-pull-requeue"}}},
		{name: "by digest", source: saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
			Repository: host + "/charts/crm", Digest: digest, PullSecretName: "crm-pull-requeue"}}},
		{name: "in a Secret", source: saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart-requeue"}}},
		{name: "a Secret not there", source: saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart-absent"}}},
		{name: "a tag not there", wantErr: true, source: saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
			Repository: host + "/charts/crm", Tag: "9.9.9", PullSecretName: "crm-pull-requeue"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newChartProductFrom(t, tc.source)
			// A reconciler of its own, reading around any cache, so its
			// result can be seen; the manager's reconciles the same product
			// beside it, and a conflict between them is requeued quietly.
			r := &SaaSProductReconciler{Client: k8sClient, Reader: k8sClient, Recorder: events.NewFakeRecorder(100),
				SecretNamespace: operatorNamespace, Charts: &Charts{}}
			g.Eventually(func(g Gomega) {
				result, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(product)})
				if tc.wantErr {
					g.Expect(err).To(MatchError(ContainSubstring("failed to fetch the chart from oci://" + host + "/charts/crm:9.9.9")))
					g.Expect(result).To(Equal(ctrl.Result{}))
					return
				}
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(result.RequeueAfter).NotTo(Equal(conflictRequeueDelay), "not a conflict")
				if tc.wantAfter {
					g.Expect(result.RequeueAfter).To(BeNumerically(">=", chartTagResync))
					g.Expect(result.RequeueAfter).To(BeNumerically("<=", chartTagResync+chartTagResync/10))
				} else {
					g.Expect(result).To(Equal(ctrl.Result{}))
				}
			}).Should(Succeed())
		})
	}
}

// Plans, URLs and egress of a chart product: kooper builds neither its
// Deployment nor its Ingress, so it judges neither its quota's rollout
// nor its host's uniqueness; its egress allow list is spec.chart.egress.
func TestChartProductChecks(t *testing.T) {
	chartProduct := func(change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{}
		p.Name = "crm"
		p.Spec.Type = saasv1alpha1.ProductTypeSaaS
		p.Spec.NamespacePrefix = "tenant"
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}}
		p.Spec.Plans = []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 3,
			Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}}
		if change != nil {
			change(p)
		}
		return p
	}
	g := NewWithT(t)

	plans := plansCondition(chartProduct(nil))
	g.Expect(plans.Status).To(Equal(metav1.ConditionTrue), "a quota of 1 pod is the chart's to fit")
	g.Expect(plans.Message).To(Equal("Plans of a chart are not checked against their quotas: each quota bounds what the chart runs for a tenant; " +
		"plans[].replicas has no effect on a chart product, whose tenants run the replica counts the chart's values set (spec.chart.values, plans[].values): plan basic sets replicas: 3"))

	urls := urlsCondition(chartProduct(func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://crm.example.com/{{.InstanceID}}"}
	}))
	g.Expect(urls.Status).To(Equal(metav1.ConditionTrue), "one host for every tenant: the chart routes")
	g.Expect(urlsCondition(chartProduct(nil)).Message).To(Equal("No URL templates"))

	restricted := egressCondition(chartProduct(nil))
	g.Expect(restricted.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(restricted.Message).To(Equal("Each tenant may connect only to DNS and its own namespace: spec.chart.egress lists nothing else"))
	allowed := egressCondition(chartProduct(func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Egress = []saasv1alpha1.EgressRule{{}}
	}))
	g.Expect(allowed.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(allowed.Message).To(Equal("Each tenant may also connect to what the 1 rule of spec.chart.egress allow"))

	inputs, _ := readyInputsOf(chartProduct(nil))
	g.Expect(inputs).To(Equal(chartProductReadyInputs))
	workload := chartProduct(func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart, p.Spec.Workload = nil, &saasv1alpha1.WorkloadTemplate{}
	})
	inputs, _ = readyInputsOf(workload)
	g.Expect(inputs).To(Equal(productReadyInputs), "a workload product's Ready is summed up as before")
}

// The product controller alone resolves a chart product's chart, and its
// tenants run what it recorded: no test writes status.chart here.
func TestChartProductResolvedByItsControllerRunsItsTenants(t *testing.T) {
	g := NewWithT(t)
	product, digest := newChartProduct(t, nil)
	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	tenant := newTenant(t, product, "basic", nil)
	got := eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(got.Status.Inventory).To(ContainElement(saasv1alpha1.InventoryEntry{Group: "apps", Kind: "StatefulSet", Name: tenant.Spec.InstanceID + "-redis"}))
}

// Two plans that render an object differently in a field the API server
// will not change are reported on the product, before a tenant changing
// between them stalls; plans that differ only in what may change pass.
func TestChartPlansThatCannotBeChangedBetweenAreReported(t *testing.T) {
	g := NewWithT(t)
	product, _ := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].Values = jsonValues(`{"web":{"replicas":3},"redis":{"storage":"10Gi"}}`)
	})
	cond := expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionFalse, saasv1alpha1.PlanChangeRefusedReason)
	g.Expect(cond.Message).To(HavePrefix("plans basic and pro render StatefulSet/i-example-redis spec.volumeClaimTemplates differently"))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.PlanChangeRefusedReason)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[1].Values = jsonValues(`{"web":{"replicas":3}}`) })
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}

// The pairs of plans a tenant cannot change between are recorded on the
// product, unordered, for the receiver to refuse such a change in
// changeInstanceCheck; a reconcile that finds the same writes nothing. They
// describe the chart the tenants run (status.chart), so they stay while
// the chart cannot be checked, and go once the plans differ only in what
// may change.
func TestChartPlanChangesRefusedAreRecorded(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	bigRedis := jsonValues(`{"web":{"replicas":3},"redis":{"storage":"10Gi"}}`)
	product, _ := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].Values = bigRedis
		p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "team", Replicas: 1,
			Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("30")}, Values: bigRedis})
	})
	refused := []saasv1alpha1.PlanPair{{SKUCodes: []string{"basic", "pro"}}, {SKUCodes: []string{"basic", "team"}}}
	expectRefused := func(want []saasv1alpha1.PlanPair) *saasv1alpha1.SaaSProduct {
		t.Helper()
		got := &saasv1alpha1.SaaSProduct{}
		g.Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.RefusedPlanChanges).To(Equal(want))
		}).Should(Succeed())
		return got
	}
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionFalse, saasv1alpha1.PlanChangeRefusedReason)
	got := expectRefused(refused)
	g.Expect(got.Status.PlanChangeRefused("pro", "basic")).To(BeTrue(), "either way")
	g.Expect(got.Status.PlanChangeRefused("pro", "team")).To(BeFalse())

	// A reconcile that finds the same writes nothing.
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
		g.Expect(got.Status.Rollout).NotTo(BeNil())
		g.Expect(got.Status.Rollout.State).To(Equal(saasv1alpha1.RolloutComplete))
	}).Should(Succeed())
	patch := client.MergeFrom(got.DeepCopy())
	got.Annotations = map[string]string{saasv1alpha1.ReconcileRequestedAnnotation: "1"}
	g.Expect(k8sClient.Patch(ctx, got, patch)).To(Succeed())
	requested := got.ResourceVersion
	g.Consistently(func() (string, error) {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)
		return got.ResourceVersion, err
	}).Should(Equal(requested))

	// A chart that does not load is not checked: the tenants keep running
	// the one recorded, whose refusals stand.
	chartKey := client.ObjectKey{Namespace: operatorNamespace, Name: product.Spec.Chart.SecretRef.Name}
	chartSecret := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, chartKey, chartSecret)).To(Succeed())
	tgz := chartSecret.Data["chart.tgz"]
	setChart := func(data []byte) {
		g.Expect(k8sClient.Get(ctx, chartKey, chartSecret)).To(Succeed())
		patch := client.MergeFrom(chartSecret.DeepCopy())
		chartSecret.Data["chart.tgz"] = data
		g.Expect(k8sClient.Patch(ctx, chartSecret, patch)).To(Succeed())
	}
	setChart([]byte("not a chart"))
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason)
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionFalse, saasv1alpha1.PlanChangeRefusedReason)
	g.Consistently(func() ([]saasv1alpha1.PlanPair, error) {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)
		return got.Status.RefusedPlanChanges, err
	}).WithTimeout(2 * time.Second).Should(Equal(refused))
	setChart(tgz)
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].Values = jsonValues(`{"web":{"replicas":3}}`)
		p.Spec.Plans[2].Values = nil
	})
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	expectRefused(nil)
}
