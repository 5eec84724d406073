package controllers

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/testenv"
)

// The bounds resolvedChart holds Chart.yaml's name, version and appVersion
// to are the product CRD's own for status.chart, so they cannot drift
// apart: a bound larger than the schema's would let a status write fail
// with 422 again.
func TestChartMetadataBoundsMatchTheCRD(t *testing.T) {
	for field, bound := range map[string]int{"name": maxChartName, "version": maxChartVersion, "appVersion": maxChartAppVersion} {
		t.Run(field, func(t *testing.T) {
			NewWithT(t).Expect(testenv.CRDMaxLength(t, "saasproducts", "status", "chart", field)).To(Equal(bound))
		})
	}
}

// chartTgzWith packages the test chart (crmChartDir) with its Chart.yaml's
// name, version and appVersion set, writing the archive itself: Helm's
// writer names the file after the chart, and a name of 254 characters is
// past a file name's 255 bytes once ".tgz" and the version are added.
func chartTgzWith(t *testing.T, name, version, appVersion string) []byte {
	t.Helper()
	c, err := loader.LoadDir(crmChartDir)
	if err != nil {
		t.Fatalf("loading %s: %v", crmChartDir, err)
	}
	c.Metadata.Name, c.Metadata.Version, c.Metadata.AppVersion = name, version, appVersion
	chartYAML, err := yaml.Marshal(c.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range c.Raw {
		data := f.Data
		if f.Name == "Chart.yaml" {
			data = chartYAML
		}
		// The loader drops an archive's top directory, whatever its name.
		if err := tw.WriteHeader(&tar.Header{Name: "chart/" + f.Name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newChartProductWith creates a chart product (newTenantProduct's plans)
// whose chart is tgz, in a Secret named after the product, with values.
func newChartProductWith(t *testing.T, tgz []byte, values string) *saasv1alpha1.SaaSProduct {
	t.Helper()
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: p.Name + "-chart"}}
		if values != "" {
			p.Spec.Chart.Values = jsonValues(values)
		}
	})
	NewWithT(t).Expect(k8sClient.Create(testContext(t), chartSecretFor(product.Name+"-chart", tgz))).To(Succeed())
	return product
}

// A Chart.yaml whose name or version is longer than status.chart holds
// (Helm bounds neither: a SemVer pre-release may be any length) is refused
// on ChartReady, naming the field, its length and the bound, and nothing
// is recorded; an appVersion, which kooper only shows, is cut to its bound
// on a character boundary and the chart is resolved. Before, each was
// recorded whole: every status write of the product failed with 422,
// ChartReady never appeared, and every tenant waited for the chart for
// ever with nothing saying why.
func TestChartYAMLTextPastStatusChartBounds(t *testing.T) {
	longVersion := "1.0.0-" + strings.Repeat("a", 130)
	longName := strings.Repeat("n", 254)
	for _, tc := range []struct {
		name, chartName, version string
		want                     string
	}{
		{name: "a version of 136 characters", chartName: "crm", version: longVersion,
			want: `is refused: its Chart.yaml's version has 136 characters, more than the 128 status.chart.version holds: "1.0.0-aaaa`},
		{name: "a name of 254 characters", chartName: longName, version: "1.2.0",
			want: `is refused: its Chart.yaml's name has 254 characters, more than the 253 status.chart.name holds: "nnnn`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newChartProductWith(t, chartTgzWith(t, tc.chartName, tc.version, "1.2.0"), "")
			cond := expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason, tc.want)
			g.Expect(cond.Message).To(HavePrefix("The chart from Secret kooper-test/" + product.Name + "-chart (key chart.tgz) is refused: "))
			g.Expect(len(cond.Message)).To(BeNumerically("<", 400), "the message quotes the start of the value, not all of it")
			got := &saasv1alpha1.SaaSProduct{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
			g.Expect(got.Status.Chart).To(BeNil(), "a refused chart is not recorded")
		})
	}
	t.Run("an appVersion of 200 Chinese characters", func(t *testing.T) {
		tgz := chartTgzWith(t, "crm", "1.2.0", strings.Repeat("版", 200))
		product := newChartProductWith(t, tgz, "")
		expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
		expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: chartrender.ArchiveFromBytes(tgz).Digest(),
			Name: "crm", Version: "1.2.0", AppVersion: strings.Repeat("版", 128)})
	})
}

// A chart object whose name the API server would refuse for its kind (a
// ConfigMap of 254 characters, past any name's 253; a Service of 64, past
// a DNS label's 63) is refused: on the product's example render
// (ChartReady), and on a tenant (Stalled), which applies and records
// nothing. Before, the tenant recorded the 254-character name in
// status.inventory before applying anything: that write failed with 422
// for ever, and the tenant stayed Progressing with nothing saying why.
func TestAChartObjectNamedPastItsKindsBoundIsRefused(t *testing.T) {
	g := NewWithT(t)
	longName := strings.Repeat("c", 254)
	values := `{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
		{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + longName + `"}},
		{"apiVersion":"v1","kind":"Service","metadata":{"name":"` + strings.Repeat("s", 64) + `"},"spec":{"ports":[{"port":80}]}}]}`

	product := newChartProductWith(t, packageTestChart(t), values)
	cond := expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason, "would run for no tenant: chart holds 2 objects")
	g.Expect(cond.Message).To(ContainSubstring("core/ConfigMap " + longName + ": " + chartrender.ReasonInvalidName + " (must be no more than 253 characters)"))
	g.Expect(cond.Message).To(ContainSubstring("core/Service " + strings.Repeat("s", 64) + ": " + chartrender.ReasonInvalidName + " (must be no more than 63 characters)"))

	// A tenant of the chart as resolved before the check (resolveChart
	// records it by hand) stalls on the same refusal.
	tenantProduct, digest := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = jsonValues(values) })
	resolveChart(t, tenantProduct.Name, digest)
	tenant := newTenant(t, tenantProduct, "basic", nil)
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartObjectRefusedReason))
	msg := apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message
	g.Expect(msg).To(ContainSubstring("core/ConfigMap " + longName + ": " + chartrender.ReasonInvalidName + " (must be no more than 253 characters)"))
	g.Expect(stalled.Status.Inventory).To(BeEmpty(), "nothing of a refused render is recorded")
	g.Expect(stalled.Status.Namespace).To(BeEmpty(), "nothing of a refused render is applied")
	expectTenantEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.ChartObjectRefusedReason)
}

// bigChartTgz is the test chart with a file of n random (incompressible)
// bytes, so its archive weighs a little over n bytes.
func bigChartTgz(t *testing.T, n int) []byte {
	t.Helper()
	blob := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{}).Read(blob) // never fails
	return crmChartTgz(t, func(c *chart.Chart) {
		c.Files = append(c.Files, &chart.File{Name: "files/blob.bin", Data: blob})
	})
}

// A chart packaged in a Secret is kept inside its revision, base64-encoded
// in JSON (4/3 of its size): a chart Secret near its 1 MiB with 300 KB of
// values makes a revision past etcd's 1.5 MiB request limit. It is refused
// before the create, on RolledOut with a message that gives its size and
// the bound, and with an Event; the same chart with small values is
// stored. Before, the create failed in etcd, Reconcile returned before the
// status was written, and nothing said why no tenant got the new version.
func TestARevisionTooLargeToStoreIsReported(t *testing.T) {
	g := NewWithT(t)
	tgz := bigChartTgz(t, 1_000_000)
	padding := `"padding":"` + strings.Repeat("p", 300_000) + `"`
	product := newChartProductWith(t, tgz, `{"report":{"enabled":true},"files":{"enabled":true},`+padding+`}`)
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	cond := expectCondition(t, product, saasv1alpha1.RolledOutCondition, metav1.ConditionFalse, saasv1alpha1.RevisionNotStoredReason)
	g.Expect(cond.Message).To(MatchRegexp(`^The product's newest revision %s-[0-9a-f]{10} is not stored, so no tenant is told to run it: `+
		`product revision %[1]s-[0-9a-f]{10} is [0-9]{7} bytes, its chart archive from Secret kooper-test/%[1]s-chart \(key chart.tgz\) [0-9]{7} of them base64-encoded, `+
		`more than the %d a revision may hold`, product.Name, maxRevisionBytes))
	expectEvent(t, product.Name, corev1.EventTypeWarning, saasv1alpha1.RevisionNotStoredReason)
	var revisions appsv1.ControllerRevisionList
	g.Expect(k8sClient.List(testContext(t), &revisions, client.InNamespace(operatorNamespace),
		client.MatchingLabels{saasv1alpha1.ProductLabel: product.Name})).To(Succeed())
	g.Expect(revisions.Items).To(BeEmpty())

	// Without the padding the revision fits, the near-1 MiB chart in it.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = nil })
	expectCondition(t, product, saasv1alpha1.RolledOutCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	g.Expect(k8sClient.List(testContext(t), &revisions, client.InNamespace(operatorNamespace),
		client.MatchingLabels{saasv1alpha1.ProductLabel: product.Name})).To(Succeed())
	g.Expect(revisions.Items).To(HaveLen(1))
	g.Expect(len(revisions.Items[0].Data.Raw)).To(BeNumerically(">", 1_300_000), "the chart is kept in its revision")
}

// A revision the API server refuses is reported on RolledOut, with the API
// server's error, and as an Event, and the error is returned so the
// reconcile is retried with back-off. The rollout reconciler runs here on
// a fake client whose create of a ControllerRevision fails as etcd's
// request limit makes it fail, since the manager's own would store the
// revision in envtest.
func TestARevisionTheAPIServerRefusesIsReported(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "refused-revision", Generation: 2},
		Spec: saasv1alpha1.SaaSProductSpec{Type: saasv1alpha1.ProductTypeSaaS, ProductID: "OFFIREFUSED", KeysSecretName: "keys",
			Workload: &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/crm:1.0"}},
	}
	refusal := apierrors.NewInternalError(errors.New("etcdserver: request is too large"))
	c := fake.NewClientBuilder().WithScheme(testEnv.Scheme).WithObjects(product).WithStatusSubresource(product).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*appsv1.ControllerRevision); ok {
				return refusal
			}
			return c.Create(ctx, obj, opts...)
		}}).Build()
	recorder := events.NewFakeRecorder(10)
	r := &RolloutReconciler{Client: c, Reader: c, Recorder: recorder, Clock: fakeClock, Namespace: operatorNamespace}

	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(product)})
	g.Expect(err).To(MatchError(ContainSubstring("etcdserver: request is too large")))
	g.Expect(errors.Is(err, reconcile.TerminalError(nil))).To(BeFalse(), "the API server may take it later: retried")
	got := &saasv1alpha1.SaaSProduct{}
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
	cond := apimeta.FindStatusCondition(got.Status.Conditions, saasv1alpha1.RolledOutCondition)
	g.Expect(cond).NotTo(BeNil())
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.RevisionNotStoredReason))
	g.Expect(cond.ObservedGeneration).To(Equal(int64(2)))
	g.Expect(cond.Message).To(MatchRegexp(`^The product's newest revision refused-revision-[0-9a-f]{10} is not stored, so no tenant is told to run it: ` +
		`failed to store product revision refused-revision-[0-9a-f]{10}: Internal error occurred: etcdserver: request is too large$`))
	g.Expect(recorder.Events).To(Receive(Equal("Warning RevisionNotStored " + cond.Message)))

	// Failing the same way again writes and tells nothing new.
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(product)})
	g.Expect(err).To(HaveOccurred())
	g.Expect(recorder.Events).NotTo(Receive())
}
