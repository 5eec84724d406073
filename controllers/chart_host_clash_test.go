package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// Tests of what the product controller finds in a chart's renders beyond
// refused objects: an Ingress route every tenant would claim, and plans
// that do not render for the example tenant.

// sharedIngressTemplate is an Ingress on kooper's host for the tenant
// (.Values.kooper.host), at / or, with shared.perTenantPath, at a path of
// the tenant's own.
const sharedIngressTemplate = `{{- if .Values.shared.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}-shared
spec:
  rules:
    - host: {{ .Values.kooper.host }}
      http:
        paths:
          - path: /{{ if .Values.shared.perTenantPath }}{{ .Values.kooper.instanceId }}{{ end }}
            pathType: Prefix
            backend:
              service:
                name: {{ .Release.Name }}-web
                port:
                  number: 80
{{- end }}
`

// brokenTemplate fails the render when .Values.broken is set, as a chart
// needing a value the merchant forgot does.
const brokenTemplate = `{{- if .Values.broken }}{{ fail "the chart needs licenceServer.url" }}{{ end }}`

// withTemplates adds templates, by file name, to the test chart.
func withTemplates(templates map[string]string) func(*chart.Chart) {
	return func(c *chart.Chart) {
		for name, data := range templates {
			c.Templates = append(c.Templates, &chart.File{Name: name, Data: []byte(data)})
		}
	}
}

// newEditedChartProduct creates a SaaS product whose tenants are the test
// chart as edit changes it, stored in a Secret of kooper's namespace, with
// plans basic and pro; change (if not nil) changes the product first.
func newEditedChartProduct(t *testing.T, edit func(*chart.Chart), change func(*saasv1alpha1.SaaSProduct)) (*saasv1alpha1.SaaSProduct, string) {
	t.Helper()
	tgz := crmChartTgz(t, edit)
	var secretName string
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		secretName = p.Name + "-chart"
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: secretName}}
		p.Spec.Plans = []saasv1alpha1.Plan{
			{SKUCode: "basic", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}},
			{SKUCode: "pro", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("30")}},
		}
		if change != nil {
			change(p)
		}
	})
	NewWithT(t).Expect(k8sClient.Create(testContext(t), chartSecretFor(secretName, tgz))).To(Succeed())
	return product, chartrender.ArchiveFromBytes(tgz).Digest()
}

// A chart product whose frontEndUrl puts every tenant on one host
// (accepted: the chart routes) and whose chart serves that host at / for
// every tenant would have ingress-nginx send buyers 2..N to buyer 1's
// tenant. It is refused before any tenant is provisioned, and its tenants
// stall as a workload product's do; a path of the tenant's own mends it.
func TestAChartIngressOnTheSharedHostAtOnePathStallsEveryTenantUntilThePathIsTheTenants(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product, digest := newEditedChartProduct(t, withTemplates(map[string]string{"templates/shared-ingress.yaml": sharedIngressTemplate}),
		func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://crm.example.com/{{.InstanceID}}"}
			p.Spec.Chart.Values = jsonValues(`{"shared":{"enabled":true}}`)
		})

	cond := expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionFalse, saasv1alpha1.IngressHostNotUniqueReason)
	g.Expect(cond.Message).To(ContainSubstring("(" + digest + ")"))
	g.Expect(cond.Message).To(ContainSubstring(`gives every tenant on plan basic the Ingress route host "crm.example.com" path "/"`))
	g.Expect(cond.Message).To(ContainSubstring("no tenant is provisioned until then"))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.IngressHostNotUniqueReason)
	got := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
	g.Expect(got.Status.Chart).To(BeNil(), "a chart no tenant could run apart is not recorded")

	tenant := newTenant(t, product, "basic", nil)
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.IngressHostNotUniqueReason))
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).
		To(ContainSubstring(`host "crm.example.com" path "/"`))
	g.Expect(stalled.Status.Namespace).To(BeEmpty(), "nothing is made for a tenant that would share its route")
	g.Expect(stalled.Status.FrontEndURL).To(BeEmpty())

	// The same host, at a path of each tenant's own: the tenant runs.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(`{"shared":{"enabled":true,"perTenantPath":true}}`)
	})
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	running := eventuallyTenant(t, tenant.Name, provisioned)
	ingress := getObject(t, &networkingv1.Ingress{}, running.Status.Namespace, tenant.Spec.InstanceID+"-shared")
	g.Expect(ingress.Spec.Rules).To(ConsistOf(HaveField("Host", "crm.example.com")))
	g.Expect(ingress.Spec.Rules[0].HTTP.Paths).To(ConsistOf(HaveField("Path", "/"+tenant.Spec.InstanceID)))
}

// A route fixed in one plan's values (here an extra Ingress on a host of
// its own) is the same for every tenant on that plan: the product names
// the plan, and its running tenants stall rather than apply it, until the
// plan no longer has it.
func TestAChartIngressWhoseHostAPlanFixesStallsRunningTenantsUntilItGoes(t *testing.T) {
	g := NewWithT(t)
	product, _ := newEditedChartProduct(t, nil, nil)
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)

	fixed := `{"extraObjects":[{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"portal"},
	  "spec":{"rules":[{"host":"portal.example.com","http":{"paths":[{"path":"/app","pathType":"Prefix",
	  "backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}}]}`
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[1].Values = jsonValues(fixed) })
	cond := expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionFalse, saasv1alpha1.IngressHostNotUniqueReason)
	g.Expect(cond.Message).To(ContainSubstring(`gives every tenant on plan pro the Ingress route host "portal.example.com" path "/app" (Ingress portal)`))
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.IngressHostNotUniqueReason))

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[1].Values = nil })
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		g.Expect(apimeta.IsStatusConditionTrue(tn.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeFalse())
	})
}

// A plan that does not render for the example tenant leaves ChartReady
// True (the tenants report what only they can: ChartRenderFailed), but
// the merchant hears of it on the product before a buyer does: the
// message names the plan and why, and one Warning Event says so for each
// change of what fails.
func TestAChartPlanThatDoesNotRenderForTheExampleTenantIsNamedAndWarnedOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product, digest := newEditedChartProduct(t, withTemplates(map[string]string{"templates/broken.yaml": brokenTemplate}),
		func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[1].Values = jsonValues(`{"broken":true}`) })

	cond := expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	g.Expect(cond.Message).To(HavePrefix("Chart crm 1.2.0 (" + digest + ") from Secret "))
	g.Expect(cond.Message).To(ContainSubstring("; plan pro does not render for the example tenant: "))
	g.Expect(cond.Message).To(ContainSubstring("the chart needs licenceServer.url"))
	g.Expect(cond.Message).NotTo(ContainSubstring("plan basic"))
	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
	expectEventSaying(t, product.Name, saasv1alpha1.ChartRenderFailedReason, "plan pro does not render for the example tenant")

	// A change that leaves the failure as it was warns no more.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[0].Quota = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("11")}
	})
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	warnings := func() ([]eventsv1.Event, error) {
		list := &eventsv1.EventList{}
		err := k8sClient.List(ctx, list)
		var out []eventsv1.Event
		for _, e := range list.Items {
			if e.Regarding.Name == product.Name && e.Reason == saasv1alpha1.ChartRenderFailedReason {
				out = append(out, e)
			}
		}
		return out, err
	}
	g.Consistently(warnings).WithTimeout(3*time.Second).Should(ConsistOf(SatisfyAll(
		HaveField("Type", corev1.EventTypeWarning), HaveField("Series", BeNil()))), "one Warning, not repeated")

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[1].Values = nil })
	g.Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
		c := apimeta.FindStatusCondition(got.Status.Conditions, saasv1alpha1.ChartReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Message).NotTo(ContainSubstring("does not render"))
	}).Should(Succeed())
}
