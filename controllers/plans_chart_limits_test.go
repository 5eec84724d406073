package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// The merchant hears on the product, from its controller, of a chart whose
// web container requests more memory than the plan's limit and sets none,
// and hears no more once the plan's limit holds it.
func TestAChartProductsPlansValidNamesAContainerItsLimitRangeRefuses(t *testing.T) {
	g := NewWithT(t)
	q := resource.MustParse
	tgz := crmChartTgz(t, func(c *chart.Chart) {
		for _, f := range c.Templates {
			if f.Name == "templates/web.yaml" {
				f.Data = replaceOnce(t, f.Data, "          env:\n            - name: CRM_NAMESPACE",
					"          resources:\n            requests: {memory: 1Gi}\n          env:\n            - name: CRM_NAMESPACE")
			}
		}
	})
	var secretName string
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		secretName = p.Name + "-chart"
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: secretName}}
		p.Spec.Plans = []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Resources: &saasv1alpha1.ContainerResources{
			Limits: corev1.ResourceList{corev1.ResourceMemory: q("512Mi")}}}}
	})
	g.Expect(k8sClient.Create(testContext(t), chartSecretFor(secretName, tgz))).To(Succeed())

	cond := expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionFalse, saasv1alpha1.ResourcesRefusedReason)
	g.Expect(cond.Message).To(HavePrefix("plan basic: container web of the example tenant's Deployment i-example-web requests memory 1Gi " +
		"and sets no memory limit, so the tenant's LimitRange gives it the plan's resources.limits.memory 512Mi; the API server refuses"))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ResourcesRefusedReason)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[0].Resources.Limits[corev1.ResourceMemory] = q("2Gi")
	})
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}

// plansValidOf is PlansValid as the product controller's checkPlans step
// makes it for product, whose chart (if it has one) passed with renders,
// the example tenant's render of each plan.
func plansValidOf(t *testing.T, product *saasv1alpha1.SaaSProduct, renders []planRender) metav1.Condition {
	t.Helper()
	s := &productState{product: product}
	if product.Spec.Chart != nil {
		s.chart, s.planRenders = &saasv1alpha1.ResolvedChart{Digest: "sha256:example", Name: "crm", Version: "1.0.0"}, renders
	}
	(&SaaSProductReconciler{}).checkPlans(testContext(t), s)
	NewWithT(t).Expect(s.conds).To(HaveLen(1))
	return s.conds[0]
}

// rendered is obj, a Deployment, StatefulSet, Job or CronJob, as a chart
// render holds it.
func rendered(t *testing.T, obj runtime.Object, kind string) *unstructured.Unstructured {
	t.Helper()
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: content}
	u.SetAPIVersion(map[string]string{"Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}[kind])
	u.SetKind(kind)
	return u
}

// renderedDeployment is a chart's Deployment called name running
// containers.
func renderedDeployment(t *testing.T, name string, containers ...corev1.Container) *unstructured.Unstructured {
	t.Helper()
	return rendered(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: exampleNamespace},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}}}, "Deployment")
}

// requesting is a container called name of these requests and limits.
func requesting(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example.com/crm:1.0",
		Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

// A container that requests a resource and sets no limit of it gets the
// limit of its tenant's LimitRange (the plan's resources.limits, or the
// app's for the SSO gateway); when that is below the request, the API
// server refuses every pod of it, and the tenant never becomes Available.
// PlansValid names each such container, on the product, before any tenant
// runs it: the plan, the chart's object and container, the request and the
// default limit. A container that sets its own limit, or requests no more
// than the default, is not named.
func TestPlansValidNamesRequestsAboveTheirDefaultLimit(t *testing.T) {
	q := resource.MustParse
	memory := func(v string) corev1.ResourceList { return corev1.ResourceList{corev1.ResourceMemory: q(v)} }
	planResources := &saasv1alpha1.ContainerResources{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("512Mi")}}
	chart := func(change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
			Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Resources: planResources.DeepCopy()}}}}
		if change != nil {
			change(p)
		}
		return p
	}
	workload := func(gateway *saasv1alpha1.ContainerResources, change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
			Workload: &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/crm:1.0",
				Resources: &saasv1alpha1.ContainerResources{Requests: memory("32Mi"), Limits: memory("64Mi")},
				SSO:       &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{Resources: gateway}}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}}}}
		if change != nil {
			change(p)
		}
		return p
	}
	web := func(requests, limits corev1.ResourceList) []planRender {
		return []planRender{{skuCode: "basic", objects: []*unstructured.Unstructured{
			renderedDeployment(t, "i-example-web", requesting("web", requests, limits))}}}
	}
	cronJob := rendered(t, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "i-example-report", Namespace: exampleNamespace},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				InitContainers: []corev1.Container{requesting("migrate", corev1.ResourceList{corev1.ResourceCPU: q("2")}, nil)},
				Containers:     []corev1.Container{requesting("report", nil, nil)}}}}}}}, "CronJob")
	const refusedPods = "; the API server refuses a pod whose request is above its limit"

	cases := []struct {
		name       string
		product    *saasv1alpha1.SaaSProduct
		renders    []planRender
		wantReason string
		want       string // the message's start; "": PlansValid is True
	}{
		{name: "a chart's container requests more memory than the plan's limit and sets none",
			product: chart(nil), renders: web(memory("1Gi"), nil), wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "plan basic: container web of the example tenant's Deployment i-example-web requests memory 1Gi and sets no memory limit, " +
				"so the tenant's LimitRange gives it the plan's resources.limits.memory 512Mi" + refusedPods},
		{name: "a chart's container that sets its own limit", product: chart(nil), renders: web(memory("1Gi"), memory("2Gi")),
			wantReason: saasv1alpha1.SucceededReason},
		{name: "a chart's container that requests the default limit", product: chart(nil), renders: web(memory("512Mi"), nil),
			wantReason: saasv1alpha1.SucceededReason},
		{name: "a chart's container that sets only a limit, its request", product: chart(nil), renders: web(nil, memory("256Mi")),
			wantReason: saasv1alpha1.SucceededReason},
		{name: "a chart's plan without resources makes no LimitRange",
			product: chart(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Resources = nil }), renders: web(memory("1Gi"), nil),
			wantReason: saasv1alpha1.SucceededReason},
		{name: "a chart's plan that limits no memory", renders: web(memory("1Gi"), nil), wantReason: saasv1alpha1.SucceededReason,
			product: chart(func(p *saasv1alpha1.SaaSProduct) { delete(p.Spec.Plans[0].Resources.Limits, corev1.ResourceMemory) })},
		{name: "a CronJob's init container of the chart", product: chart(nil),
			renders:    []planRender{{skuCode: "basic", objects: []*unstructured.Unstructured{cronJob}}},
			wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "plan basic: init container migrate of the example tenant's CronJob i-example-report requests cpu 2 and sets no cpu limit, " +
				"so the tenant's LimitRange gives it the plan's resources.limits.cpu 1" + refusedPods},
		{name: "each plan is judged by its own limits",
			product: chart(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pro", Replicas: 1, Resources: &saasv1alpha1.ContainerResources{
					Limits: memory("2Gi")}})
			}),
			renders: append(web(memory("1Gi"), nil), planRender{skuCode: "pro", objects: []*unstructured.Unstructured{
				renderedDeployment(t, "i-example-web", requesting("web", memory("1Gi"), nil))}}),
			wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "plan basic: container web of the example tenant's Deployment i-example-web requests memory 1Gi and sets no memory limit, " +
				"so the tenant's LimitRange gives it the plan's resources.limits.memory 512Mi" + refusedPods},
		{name: "a plan's own request above its limit is told first",
			product: chart(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Plans[0].Resources.Requests[corev1.ResourceMemory] = q("1Gi")
			}),
			renders: web(memory("1Gi"), nil), wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "plan basic: resources: requests.memory 1Gi is above limits.memory 512Mi"},
		{name: "the SSO gateway requests more memory than the app's limit and sets none",
			product: workload(&saasv1alpha1.ContainerResources{Requests: memory("128Mi")}, nil), wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "plan basic: the SSO gateway container (spec.workload.sso.gateway.resources) requests memory 128Mi and sets no memory limit, " +
				"so the tenant's LimitRange gives it spec.workload.resources.limits.memory 64Mi" + refusedPods},
		{name: "the SSO gateway under the plan's resources",
			product: workload(&saasv1alpha1.ContainerResources{Requests: memory("128Mi")}, func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Plans[0].Resources = &saasv1alpha1.ContainerResources{Limits: memory("96Mi")}
			}), wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "plan basic: the SSO gateway container (spec.workload.sso.gateway.resources) requests memory 128Mi and sets no memory limit, " +
				"so the tenant's LimitRange gives it the plan's resources.limits.memory 96Mi"},
		{name: "the SSO gateway with a limit of its own",
			product:    workload(&saasv1alpha1.ContainerResources{Requests: memory("128Mi"), Limits: memory("256Mi")}, nil),
			wantReason: saasv1alpha1.SucceededReason},
		{name: "the SSO gateway's defaults", product: workload(nil, nil), wantReason: saasv1alpha1.SucceededReason},
		{name: "a package plan runs nothing",
			product: workload(&saasv1alpha1.ContainerResources{Requests: memory("128Mi")}, func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				p.Spec.Plans[0].Package = &saasv1alpha1.PackageTerms{Quota: "100"}
			}), wantReason: saasv1alpha1.SucceededReason},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cond := plansValidOf(t, tc.product, tc.renders)
			g.Expect(cond.Reason).To(Equal(tc.wantReason), cond.Message)
			g.Expect(cond.Status).To(Equal(map[bool]metav1.ConditionStatus{true: metav1.ConditionTrue, false: metav1.ConditionFalse}[tc.want == ""]))
			g.Expect(cond.Message).To(HavePrefix(tc.want))
		})
	}
}

// A chart not checked on this pass (its fetch failed) leaves what
// PlansValid said of its containers, as it does the plan changes told
// after it: the tenants still run that chart.
func TestAChartNotCheckedKeepsItsRequestsAboveTheirDefaultLimit(t *testing.T) {
	g := NewWithT(t)
	q := resource.MustParse
	product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
		Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}},
		Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Resources: &saasv1alpha1.ContainerResources{
			Limits: corev1.ResourceList{corev1.ResourceMemory: q("512Mi")}}}}}}
	checked := plansValidOf(t, product, []planRender{{skuCode: "basic", objects: []*unstructured.Unstructured{
		renderedDeployment(t, "i-example-web", requesting("web", corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}, nil))}}})
	g.Expect(checked.Reason).To(Equal(saasv1alpha1.ResourcesRefusedReason), checked.Message)
	stored := checked
	stored.Message += planChangesTold + "plans basic and pro render StatefulSet/i-example-redis spec.volumeClaimTemplates differently"
	product.Status.Conditions = []metav1.Condition{stored}
	product.Status.RefusedPlanChanges = []saasv1alpha1.PlanPair{{SKUCodes: []string{"basic", "pro"}}}

	s := &productState{product: product}
	(&SaaSProductReconciler{}).checkPlans(testContext(t), s)
	g.Expect(s.conds).To(HaveLen(1))
	g.Expect(s.conds[0].Reason).To(Equal(saasv1alpha1.ResourcesRefusedReason))
	g.Expect(s.conds[0].Message).To(Equal(stored.Message), "the containers, then the plan changes, as they were")
}

// What PlansValid names is what the API server refuses: a pod of each
// container is created (dry run) in a namespace holding the LimitRange
// kooper gives a chart tenant on the plan (tenantobjects' Objects), and
// PlansValid of a chart whose render runs that container is False exactly
// when the pod is refused.
func TestPlansValidNamesWhatTheLimitRangeMakesTheAPIServerRefuse(t *testing.T) {
	ctx := testContext(t)
	g := NewWithT(t)
	q := resource.MustParse
	product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "crm"}, Spec: saasv1alpha1.SaaSProductSpec{
		NamespacePrefix: "tenant",
		Chart:           &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}},
		Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Resources: &saasv1alpha1.ContainerResources{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("512Mi")}}}}}}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "default-limits-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(testContext(t), ns) })
	// envtest runs no controller-manager to make it, and the ServiceAccount
	// admission refuses a pod without it.
	g.Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "default"}})).To(Succeed())
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-example"},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-example", ProductName: product.Name}}
	d := &tenantobjects.Desired{Tenant: tenant, Product: product, Plan: &product.Spec.Plans[0], Namespace: ns.Name}
	present, _ := d.Objects()
	var limits *corev1.LimitRange
	for _, obj := range present {
		if lr, ok := obj.(*corev1.LimitRange); ok {
			limits = lr.DeepCopy()
		}
	}
	g.Expect(limits).NotTo(BeNil(), "a chart tenant on a plan with resources gets a LimitRange")
	g.Expect(k8sClient.Create(ctx, limits)).To(Succeed())
	admit := func(c corev1.Container) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, GenerateName: "pod-"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
		return k8sClient.Create(ctx, pod, client.DryRunAll)
	}
	// The admission has the LimitRange once a container that sets nothing
	// gets its defaults.
	g.Eventually(func() (corev1.ResourceList, error) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, GenerateName: "pod-"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{requesting("bare", nil, nil)}}}
		err := k8sClient.Create(ctx, pod, client.DryRunAll)
		return pod.Spec.Containers[0].Resources.Limits, err
	}).ShouldNot(BeEmpty())

	list := func(cpu, memory string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = q(cpu)
		}
		if memory != "" {
			l[corev1.ResourceMemory] = q(memory)
		}
		return l
	}
	for i, c := range []corev1.Container{
		requesting("nothing", nil, nil),
		requesting("memory-above", list("", "1Gi"), nil),
		requesting("memory-at", list("", "512Mi"), nil),
		requesting("memory-under", list("", "256Mi"), nil),
		requesting("memory-own-limit", list("", "1Gi"), list("", "2Gi")),
		requesting("cpu-above", list("2", ""), nil),
		requesting("cpu-above-own-limit", list("2", ""), list("4", "")),
		requesting("limit-only-under-default-request", nil, list("50m", "64Mi")),
		requesting("both-above", list("1500m", "768Mi"), nil),
	} {
		t.Run(c.Name, func(t *testing.T) {
			g := NewWithT(t)
			err := admit(c)
			g.Expect(err == nil || apierrors.IsInvalid(err)).To(BeTrue(), "refused as invalid or accepted: %v", err)
			cond := plansValidOf(t, product, []planRender{{skuCode: "basic", objects: []*unstructured.Unstructured{
				renderedDeployment(t, fmt.Sprintf("i-example-%d", i), c)}}})
			g.Expect(cond.Status == metav1.ConditionTrue).To(Equal(err == nil), "PlansValid %s (%s); the API server: %v", cond.Status, cond.Message, err)
		})
	}
}
