package controllers

import (
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// hpaV1Template is a HorizontalPodAutoscaler of the web Deployment in
// autoscaling/v1, a version kooper does not cache (its informer is v2):
// kooper reads it from the API server, and the apply memo vouches for it.
const hpaV1Template = `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .Release.Name }}-web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .Release.Name }}-web
  minReplicas: 1
  maxReplicas: 3
  targetCPUUtilizationPercentage: 80
`

// TestAChartObjectOfAnotherVersionDeletedByHandIsMadeAgainAtOnce: a chart's
// autoscaling/v1 HPA deleted by hand within the apply memo's TTL of
// kooper's write of it queued the tenant (the v2 informer saw the delete),
// but the pass took the memo's word that it was in step and did not make
// it again: it stayed gone until an unrelated event, maybe hours later.
func TestAChartObjectOfAnotherVersionDeletedByHandIsMadeAgainAtOnce(t *testing.T) {
	g := NewWithT(t)
	tgz := crmChartTgz(t, func(c *chart.Chart) {
		c.Templates = slices.DeleteFunc(c.Templates, func(f *chart.File) bool {
			return strings.HasPrefix(f.Name, "templates/") && strings.HasSuffix(f.Name, ".yaml") &&
				!strings.HasSuffix(f.Name, "configmap.yaml") && !strings.HasSuffix(f.Name, "extra.yaml")
		})
		c.Templates = append(c.Templates, &chart.File{Name: "templates/web.yaml", Data: []byte(hpaWebTemplate)},
			&chart.File{Name: "templates/hpa-v1.yaml", Data: []byte(hpaV1Template)})
	})
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: p.Name + "-chart"},
			Values: jsonValues(`{"autoscaling":{"enabled":false}}`)}
	})
	g.Expect(k8sClient.Create(testContext(t), chartSecretFor(product.Name+"-chart", tgz))).To(Succeed())
	resolveChart(t, product.Name, chartrender.ArchiveFromBytes(tgz).Digest())
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns, name := "tenant-"+tenant.Name, tenant.Spec.InstanceID+"-web"
	before := getObject(t, &autoscalingv1.HorizontalPodAutoscaler{}, ns, name)

	// Well within the memo's TTL of the write.
	g.Expect(k8sClient.Delete(testContext(t), before)).To(Succeed())
	g.Eventually(func() (types.UID, error) {
		now := &autoscalingv1.HorizontalPodAutoscaler{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, now)
		return now.UID, client.IgnoreNotFound(err)
	}).ShouldNot(Or(BeEmpty(), Equal(before.UID)), "the autoscaling/v1 HPA is made again")
}
