package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// Tests of a chart whose workload a HorizontalPodAutoscaler of the same
// render scales: kooper leaves the count to it.

// hpaWebTemplate is the web Deployment of the HPA test chart, with the
// count rendered whenever web.replicas is set, and, when
// autoscaling.enabled, an HPA that scales it: the pattern most charts
// follow, except that such charts leave the count out when the HPA is on,
// and this one leaves that to the values.
const hpaWebTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  {{- with .Values.web.replicas }}
  replicas: {{ . }}
  {{- end }}
  selector:
    matchLabels:
      app.kubernetes.io/component: web
  template:
    metadata:
      labels:
        app.kubernetes.io/component: web
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
{{- if .Values.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .Release.Name }}-web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .Release.Name }}-web
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 80
{{- end }}
`

// newHPAChartTenant creates a product whose chart is the test chart with
// its workloads replaced by hpaWebTemplate (so only the web Deployment
// needs a status to be current), with values as the product's, resolves
// it, and waits until a tenant of plan basic is provisioned.
func newHPAChartTenant(t *testing.T, values string) (*saasv1alpha1.SaaSProduct, *saasv1alpha1.SaaSTenant) {
	t.Helper()
	tgz := crmChartTgz(t, func(c *chart.Chart) {
		c.Templates = slices.DeleteFunc(c.Templates, func(f *chart.File) bool {
			return strings.HasPrefix(f.Name, "templates/") && strings.HasSuffix(f.Name, ".yaml") &&
				!strings.HasSuffix(f.Name, "configmap.yaml") && !strings.HasSuffix(f.Name, "extra.yaml")
		})
		c.Templates = append(c.Templates, &chart.File{Name: "templates/web.yaml", Data: []byte(hpaWebTemplate)})
	})
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: p.Name + "-chart"}, Values: jsonValues(values)}
	})
	NewWithT(t).Expect(k8sClient.Create(testContext(t), chartSecretFor(product.Name+"-chart", tgz))).To(Succeed())
	resolveChart(t, product.Name, chartrender.ArchiveFromBytes(tgz).Digest())
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	return product, tenant
}

// scaleAsAnHPA sets a Deployment's count through its scale subresource,
// as the HorizontalPodAutoscaler controller does.
func scaleAsAnHPA(t *testing.T, namespace, name string, replicas int32) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)))
	NewWithT(t).Expect(k8sClient.SubResource("scale").Patch(testContext(t), d, patch,
		client.FieldOwner("kube-controller-manager"))).To(Succeed())
}

// A chart that renders a Deployment's count and an HPA that scales it:
// were kooper to apply the count, it would put it back on every pass
// while the HPA set its own every 15 s, and the pods would flap for ever.
// kooper leaves the count to the HPA, and a freeze still stops the pods
// and an unfreeze brings back the count the HPA had set.
func TestAChartWorkloadAnHPAScalesKeepsTheHPAsCount(t *testing.T) {
	g := NewWithT(t)
	_, tenant := newHPAChartTenant(t, `{"web":{"replicas":2},"autoscaling":{"enabled":true}}`)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	getObject(t, &autoscalingv2.HorizontalPodAutoscaler{}, ns, id+"-web")
	writeStatus(t, &appsv1.Deployment{}, ns, id+"-web", rolledOut)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	scaleAsAnHPA(t, ns, id+"-web", 5)
	// A pass has seen the new count: the Deployment's new generation is not
	// rolled out yet, and Available says so.
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.AvailableCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Message).To(ContainSubstring("Deployment/" + id + "-web"))
	})
	g.Consistently(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).WithTimeout(3*time.Second).
		Should(Equal(int32(5)), "the HPA's count, not the render's 2")

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.FrozenReplicas).To(ConsistOf(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: id + "-web", Replicas: 5}))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(0)))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(5)), "the count the HPA had set")
	unfrozen := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil())
	})
	g.Expect(unfrozen.Status.FrozenReplicas).To(BeEmpty())
	g.Consistently(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).WithTimeout(2 * time.Second).Should(Equal(int32(5)))
}

// A chart whose values turn an HPA on hands it the count kooper applied
// until then: server-side apply deletes a field its one owner stops
// applying, and the API server defaults a Deployment's count to 1, so
// without a hand-over the pods would drop to one until the HPA's next
// sync. Both ways a chart does it: leaving the count out, or still
// rendering it beside the HPA.
func TestAChartThatTurnsAnHPAOnKeepsTheRunningCount(t *testing.T) {
	for name, values := range map[string]string{
		"count left out":       `{"web":{"replicas":null},"autoscaling":{"enabled":true}}`,
		"count still rendered": `{"web":{"replicas":3},"autoscaling":{"enabled":true}}`,
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			product, tenant := newHPAChartTenant(t, `{"web":{"replicas":3},"autoscaling":{"enabled":false}}`)
			id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
			g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(3)))

			changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = jsonValues(values) })
			// The pass that applies the HPA applied the Deployment before it
			// (Helm's install order).
			getObject(t, &autoscalingv2.HorizontalPodAutoscaler{}, ns, id+"-web")
			g.Consistently(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).WithTimeout(2 * time.Second).Should(Equal(int32(3)))
			// The count is the HPA's now: kooper does not put it back. A pass
			// has seen the new count once Available finds it rolled out.
			scaleAsAnHPA(t, ns, id+"-web", 4)
			writeStatus(t, &appsv1.Deployment{}, ns, id+"-web", rolledOut)
			eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
			g.Consistently(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).WithTimeout(2 * time.Second).Should(Equal(int32(4)))
		})
	}
}
