package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// chartExtras are templates the tenant tests add to the test chart: a
// CronJob and a PersistentVolumeClaim, each behind a value a plan can turn
// off.
var chartExtras = map[string]string{
	"templates/report-cronjob.yaml": `{{- if .Values.report.enabled }}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ .Release.Name }}-report
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: report
              image: {{ .Values.image }}
{{- end }}
`,
	"templates/files-pvc.yaml": `{{- if .Values.files.enabled }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}-files
spec:
  accessModes: ["ReadWriteOnce"]
  resources:
    requests:
      storage: 1Gi
{{- end }}
`,
}

// packageTestChart packages the test chart, with chartExtras, as the .tgz
// helm package writes.
func packageTestChart(t *testing.T) []byte {
	t.Helper()
	return crmChartTgz(t, func(c *chart.Chart) {
		for name, data := range chartExtras {
			c.Templates = append(c.Templates, &chart.File{Name: name, Data: []byte(data)})
		}
	})
}

// jsonValues wraps chart values written as JSON.
func jsonValues(raw string) *apiextensionsv1.JSON {
	return &apiextensionsv1.JSON{Raw: []byte(raw)}
}

// newChartProduct creates a product whose tenants are the test chart,
// stored in a Secret in kooper's namespace. Plan basic runs everything
// once; plan pro runs three web replicas and turns the report CronJob and
// the files PVC off. Its chart is not resolved yet: see resolveChart.
func newChartProduct(t *testing.T, change func(*saasv1alpha1.SaaSProduct)) (*saasv1alpha1.SaaSProduct, string) {
	t.Helper()
	tgz := packageTestChart(t)
	var secretName string
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		secretName = p.Name + "-chart"
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{
			SecretRef: &saasv1alpha1.ChartSecretRef{Name: secretName},
			Values:    jsonValues(`{"report":{"enabled":true},"files":{"enabled":true}}`),
		}
		p.Spec.Plans = []saasv1alpha1.Plan{
			{SKUCode: "basic", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}},
			{SKUCode: "pro", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("30")},
				Values: jsonValues(`{"web":{"replicas":3},"report":{"enabled":false},"files":{"enabled":false}}`)},
		}
		if change != nil {
			change(p)
		}
	})
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: secretName},
		Data:       map[string][]byte{"chart.tgz": tgz},
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), secret)).To(Succeed())
	return product, chartrender.ArchiveFromBytes(tgz).Digest()
}

// resolveChart records digest as the product's resolved chart, as the
// product controller does.
func resolveChart(t *testing.T, name, digest string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		product := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, product); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(product.DeepCopy(), client.MergeFromWithOptimisticLock{})
		product.Status.Chart = &saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"}
		return k8sClient.Status().Patch(testContext(t), product, patch)
	}).Should(Succeed())
}

// newChartTenant creates a chart product with its chart resolved and a
// tenant of it on sku, and waits until the tenant is provisioned.
func newChartTenant(t *testing.T, sku string, change func(*saasv1alpha1.SaaSProduct)) (*saasv1alpha1.SaaSProduct, *saasv1alpha1.SaaSTenant) {
	t.Helper()
	product, digest := newChartProduct(t, change)
	resolveChart(t, product.Name, digest)
	tenant := newTenant(t, product, sku, nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	return product, tenant
}
