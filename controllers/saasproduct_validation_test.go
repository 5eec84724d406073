package controllers

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Product mistakes the schema accepts and that were found only once a
// buyer had paid: each is reported on the product, naming the plan or
// field, before anything is sold.

// setPlanReplicas writes a plan's replicas with a JSON patch, as kubectl
// apply of the manifest would: Go cannot write replicas: 0 (omitempty,
// and the schema defaults an absent count to 1).
func setPlanReplicas(t *testing.T, name string, plan int, replicas int32) {
	t.Helper()
	patch := fmt.Appendf(nil, `[{"op":"replace","path":"/spec/plans/%d/replicas","value":%d}]`, plan, replicas)
	product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name}}
	NewWithT(t).Expect(k8sClient.Patch(testContext(t), product, client.RawPatch(types.JSONPatchType, patch))).To(Succeed())
	NewWithT(t).Expect(product.Spec.Plans[plan].Replicas).To(Equal(replicas), "stored as written")
}

// A plan of no replicas: kstatus finds a Deployment of 0 replicas current,
// so each tenant would be Ready, and the buyer given the URLs of nothing.
func TestAPlanOfNoReplicasIsNotValid(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	setPlanReplicas(t, product.Name, 1, 0)
	cond := expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionFalse, saasv1alpha1.NoReplicasReason)
	g.Expect(cond.Message).To(Equal("plan pro runs no replicas (replicas: 0): its tenants would be Ready with nothing serving their URLs; " +
		"give it replicas: 1 or more"))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.NoReplicasReason)

	setPlanReplicas(t, product.Name, 1, 2)
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}

// Resources, a storage size or a quota the API server refuses in a
// tenant's objects: every tenant of the plan would stall (ObjectInvalid).
// newTenantProduct's workload requests cpu 100m and memory 128Mi, limits
// memory 256Mi, and stores 1Gi; its pro plan requests cpu 500m.
func TestAWorkloadTheAPIServerWouldRefuseIsNotValid(t *testing.T) {
	cases := []struct {
		name   string
		change func(*saasv1alpha1.SaaSProduct)
		want   string
	}{
		{name: "a workload's request above its limit", change: func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Workload.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("512Mi")
		}, want: "spec.workload.resources: requests.memory 512Mi is above limits.memory 256Mi"},
		{name: "a plan's request above its limit", change: func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Plans[1].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
		}, want: "plan pro: resources: requests.cpu 500m is above limits.cpu 250m"},
		{name: "a volume of no size", change: func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Workload.Storage.Size = resource.MustParse("0")
		}, want: "spec.workload.storage.size 0: a volume must be larger than 0"},
		{name: "a quota name with a typo", change: func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Plans[0].Quota["request.cpu"] = resource.MustParse("1")
		}, want: "plan basic: quota request.cpu is not a quota name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProduct(t, tc.change)
			cond := expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionFalse, saasv1alpha1.ResourcesRefusedReason)
			g.Expect(cond.Message).To(HavePrefix(tc.want))
			g.Expect(cond.Message).To(HaveSuffix("; the API server would refuse these in every tenant's objects, " +
				"and each tenant would stall (ObjectInvalid)"))
			expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ResourcesRefusedReason)
		})
	}
}

// statusCapture records the status a reconciler would write instead of
// writing it: the manager's own reconciler, with its own monitoring
// namespace, reconciles the same product beside the test's.
type statusCapture struct {
	client.Client
	written chan []metav1.Condition
}

func (c *statusCapture) Status() client.SubResourceWriter {
	return capturedStatus{SubResourceWriter: c.Client.Status(), written: c.written}
}

type capturedStatus struct {
	client.SubResourceWriter
	written chan []metav1.Condition
}

func (s capturedStatus) Patch(_ context.Context, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
	s.written <- obj.(*saasv1alpha1.SaaSProduct).Status.Conditions
	return nil
}

// A Prometheus meter of a product whose tenants no Prometheus may scrape
// (the controllers run without --monitoring-namespace): the query of what
// the app exposes finds nothing, billed as 0 every window. The product
// says so, and stays Ready: a query of series scraped elsewhere needs no
// scrape of tenant pods.
func TestAPrometheusMeterWithoutAMonitoringNamespaceIsReported(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{
			{Name: "hours", Source: saasv1alpha1.MeterTenantHours},
			{Name: "requests", Source: saasv1alpha1.MeterPrometheus, Query: `sum(increase(http_requests_total{namespace="{{.Namespace}}"}[{{.Window}}]))`},
		}}
	})
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	recorder := events.NewFakeRecorder(10)
	capture := &statusCapture{Client: k8sClient, written: make(chan []metav1.Condition, 1)}
	r := &SaaSProductReconciler{Client: capture, Reader: k8sClient, Recorder: recorder, SecretNamespace: operatorNamespace,
		Charts: &Charts{}, MonitoringNamespace: ptr.To("")}
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(product)})
	g.Expect(err).NotTo(HaveOccurred())

	var written []metav1.Condition
	g.Expect(capture.written).To(Receive(&written), "a status write")
	cond := apimeta.FindStatusCondition(written, saasv1alpha1.MetersValidCondition)
	g.Expect(cond).NotTo(BeNil())
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.NoMonitoringNamespaceReason))
	g.Expect(cond.Message).To(Equal("Meter requests reads Prometheus, but the controllers run without --monitoring-namespace " +
		"(the chart's tenantNetwork.monitoringNamespace): the tenants' NetworkPolicy admits no monitoring namespace, so no Prometheus " +
		"can scrape their pods, and a query of what they expose finds nothing, billed as 0 every window; set it to Prometheus's namespace, " +
		"unless the query reads only series scraped elsewhere (the kubelet's, kube-state-metrics')"))
	g.Expect(apimeta.IsStatusConditionTrue(written, saasv1alpha1.ReadyCondition)).To(BeTrue(), "not part of Ready")
	g.Expect(recorder.Events).To(Receive(HavePrefix("Warning NoMonitoringNamespace Meter requests reads Prometheus")))
}

// The names and sizes refusedResources refuses are those the API server
// refuses: each is tried on it (dry run) in the object a tenant gets.
func TestResourceNamesAndSizesAreJudgedAsTheAPIServerJudgesThem(t *testing.T) {
	ctx := testContext(t)
	meta := metav1.ObjectMeta{Namespace: operatorNamespace, GenerateName: "judged-"}
	accepted := func(obj client.Object) bool {
		err := k8sClient.Create(ctx, obj, client.DryRunAll)
		NewWithT(t).Expect(err == nil || apierrors.IsInvalid(err)).To(BeTrue(), "refused as invalid or accepted: %v", err)
		return err == nil
	}
	quotaNames := []corev1.ResourceName{"pods", "requests.cpu", "limits.memory", "cpu", "requests.storage", "persistentvolumeclaims",
		"services.loadbalancers", "hugepages-2Mi", "requests.hugepages-1Gi", "count/deployments.apps", "requests.nvidia.com/gpu",
		"gold.storageclass.storage.k8s.io/requests.storage", "request.cpu", "limit.memory", "cpus", "Pods", "storage", "requests.gpu",
		"limits.ephemeral-storage", "count/", "nvidia.com/gpu"}
	for _, name := range quotaNames {
		quota := &corev1.ResourceQuota{ObjectMeta: meta, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{name: resource.MustParse("1")}}}
		NewWithT(t).Expect(isQuotaName(name)).To(Equal(accepted(quota)), "quota name %s", name)
	}
	containerNames := []corev1.ResourceName{"cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "nvidia.com/gpu", "example.com/fpga",
		"cpus", "requests.cpu", "limits.memory", "storage", "pods", "requests.nvidia.com/gpu", "Memory"}
	for _, name := range containerNames {
		limits := &corev1.LimitRange{ObjectMeta: meta, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{name: resource.MustParse("1")}}}}}
		NewWithT(t).Expect(isContainerResourceName(name)).To(Equal(accepted(limits)), "container resource %s", name)
	}
	for _, requests := range []string{"2", "1", "500m"} {
		limits := &corev1.LimitRange{ObjectMeta: meta, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(requests)},
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}
		r := &saasv1alpha1.ContainerResources{Requests: limits.Spec.Limits[0].DefaultRequest, Limits: limits.Spec.Limits[0].Default}
		NewWithT(t).Expect(refusedContainerResources("r", r)).To(HaveLen(map[bool]int{true: 0, false: 1}[accepted(limits)]), "requests.cpu %s", requests)
	}
	for _, size := range []string{"0", "-1Gi", "1Gi"} {
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: meta, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
		product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{Workload: &saasv1alpha1.WorkloadTemplate{
			Storage: &saasv1alpha1.StorageTemplate{Size: resource.MustParse(size)}}}}
		NewWithT(t).Expect(refusedResources(product)).To(HaveLen(map[bool]int{true: 0, false: 1}[accepted(claim)]), "size %s", size)
	}
}

// What plansCondition refuses, and what it lets be, on products built in
// Go: each case says which.
func TestPlansConditionRefusesWhatTenantsCannotRun(t *testing.T) {
	q := resource.MustParse
	workload := func(change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
			Workload: &saasv1alpha1.WorkloadTemplate{Resources: &saasv1alpha1.ContainerResources{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}, Limits: corev1.ResourceList{corev1.ResourceCPU: q("1")}}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}}}}
		change(p)
		return p
	}
	chart := func(change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
		return workload(func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Workload, p.Spec.Chart = nil, &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}}
			change(p)
		})
	}
	cases := []struct {
		name       string
		product    *saasv1alpha1.SaaSProduct
		wantReason string
		want       string
	}{
		{name: "a plan of one replica", product: workload(func(*saasv1alpha1.SaaSProduct) {}), wantReason: saasv1alpha1.SucceededReason},
		{name: "a plan of no replicas", wantReason: saasv1alpha1.NoReplicasReason, want: "plan basic runs no replicas",
			product: workload(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Replicas = 0 })},
		{name: "a package plan of no replicas: a package runs nothing", wantReason: saasv1alpha1.SucceededReason,
			product: workload(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "100h", Package: &saasv1alpha1.PackageTerms{Quota: "100"}})
			})},
		{name: "a chart's plan replicas are not its tenants'", wantReason: saasv1alpha1.SucceededReason,
			product: chart(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Replicas = 0 })},
		{name: "a licence product's plans make no objects", wantReason: saasv1alpha1.SucceededReason,
			product: chart(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Chart = nil
				p.Spec.Plans[0].Quota = corev1.ResourceList{"request.cpu": q("1")}
			})},
		{name: "a chart's quota with a typo", wantReason: saasv1alpha1.ResourcesRefusedReason, want: "plan basic: quota request.cpu is not a quota name",
			product: chart(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Quota = corev1.ResourceList{"request.cpu": q("1")} })},
		{name: "a chart's plan request above its limit (its LimitRange)", wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "plan basic: resources: requests.memory 1Gi is above limits.memory 512Mi",
			product: chart(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Plans[0].Resources = &saasv1alpha1.ContainerResources{
					Requests: corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}, Limits: corev1.ResourceList{corev1.ResourceMemory: q("512Mi")}}
			})},
		{name: "quotas the API server knows", wantReason: saasv1alpha1.SucceededReason,
			product: workload(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Plans[0].Quota = corev1.ResourceList{"count/deployments.apps": q("2"), "requests.nvidia.com/gpu": q("1"),
					"gold.storageclass.storage.k8s.io/requests.storage": q("10Gi"), corev1.ResourcePods: q("2")}
			})},
		{name: "a negative quota", wantReason: saasv1alpha1.ResourcesRefusedReason, want: "plan basic: quota pods -1 is negative",
			product: workload(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Plans[0].Quota = corev1.ResourceList{corev1.ResourcePods: q("-1")}
			})},
		{name: "a container resource with a typo", wantReason: saasv1alpha1.ResourcesRefusedReason,
			want:    "spec.workload.resources: cpus is not a container resource",
			product: workload(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Resources.Limits["cpus"] = q("1") })},
		{name: "the SSO gateway's request above its limit", wantReason: saasv1alpha1.ResourcesRefusedReason,
			want: "spec.workload.sso.gateway.resources: requests.memory 128Mi is above limits.memory 64Mi",
			product: workload(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{Resources: &saasv1alpha1.ContainerResources{
					Requests: corev1.ResourceList{corev1.ResourceMemory: q("128Mi")}, Limits: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}}}}
			})},
		{name: "a request left to its limit", wantReason: saasv1alpha1.SucceededReason,
			product: workload(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Resources.Limits[corev1.ResourceMemory] = q("64Mi") })},
		{name: "a negative storage size", wantReason: saasv1alpha1.ResourcesRefusedReason, want: "spec.workload.storage.size -1Gi",
			product: workload(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: q("-1Gi"), AccessMode: corev1.ReadWriteMany}
			})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cond := plansCondition(tc.product)
			g.Expect(cond.Reason).To(Equal(tc.wantReason), cond.Message)
			g.Expect(cond.Status).To(Equal(map[bool]metav1.ConditionStatus{true: metav1.ConditionTrue, false: metav1.ConditionFalse}[tc.want == ""]))
			g.Expect(cond.Message).To(HavePrefix(tc.want))
		})
	}
}

// MetersValid judges each meter as the metering controller would bill
// it: a built-in meter by what it reads of an active tenant of each plan,
// a Prometheus query by its render for two tenants, and whether a
// Prometheus may scrape the tenants' pods at all. Each case says why.
func TestMetersValidSaysWhichMetersBillWrongly(t *testing.T) {
	q := resource.MustParse
	metered := func(change func(*saasv1alpha1.SaaSProduct), meters ...saasv1alpha1.Meter) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{NamespacePrefix: "crm",
			Workload: &saasv1alpha1.WorkloadTemplate{
				Resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")}},
				Storage:   &saasv1alpha1.StorageTemplate{Size: q("1Gi")}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}, {SKUCode: "pro", Replicas: 2,
				Resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m")}}}},
			Metering: &saasv1alpha1.MeteringSpec{Meters: meters}}}
		if change != nil {
			change(p)
		}
		return p
	}
	meter := func(name string, source saasv1alpha1.MeterSource) saasv1alpha1.Meter {
		return saasv1alpha1.Meter{Name: name, Source: source}
	}
	query := func(name, text string) saasv1alpha1.Meter {
		return saasv1alpha1.Meter{Name: name, Source: saasv1alpha1.MeterPrometheus, Query: text}
	}
	chart := func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload, p.Spec.Chart = nil, &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}}
	}
	licence := func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload = nil }
	perNamespace := `sum(increase(http_requests_total{namespace="{{.Namespace}}"}[{{.Window}}]))`
	allTenants := `sum(increase(http_requests_total[{{.Window}}]))`
	const chartNothing = " bills 0 every hour for every tenant: kooper reads replicas, requests and storage only of spec.workload, " +
		"and this product's tenants run a chart; use TenantHours, or a Prometheus meter of what they run"
	cases := []struct {
		name       string
		product    *saasv1alpha1.SaaSProduct
		monitoring string // the controllers' --monitoring-namespace
		wantReason string // "": no condition
		want       string // the message's start
	}{
		{name: "no metering", product: metered(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Metering = nil })},
		{name: "every built-in meter of a workload that declares what each reads", wantReason: saasv1alpha1.SucceededReason,
			product: metered(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[1].Resources = nil },
				meter("h", saasv1alpha1.MeterTenantHours), meter("r", saasv1alpha1.MeterReplicaHours), meter("c", saasv1alpha1.MeterCPUCoreHours),
				meter("m", saasv1alpha1.MeterMemoryGiBHours), meter("s", saasv1alpha1.MeterStorageGiBHours)),
			want: "Every meter measures each tenant's own usage"},
		{name: "tenant hours of a chart product", wantReason: saasv1alpha1.SucceededReason,
			product: metered(chart, meter("h", saasv1alpha1.MeterTenantHours)), want: "Every meter measures each tenant's own usage"},
		{name: "replica hours of a chart product", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(chart, meter("r", saasv1alpha1.MeterReplicaHours)), want: "Meter r (ReplicaHours)" + chartNothing},
		{name: "CPU hours of a chart product", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(chart, meter("c", saasv1alpha1.MeterCPUCoreHours)), want: "Meter c (CPUCoreHours)" + chartNothing},
		{name: "memory hours of a chart product", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(chart, meter("m", saasv1alpha1.MeterMemoryGiBHours)), want: "Meter m (MemoryGiBHours)" + chartNothing},
		{name: "storage hours of a chart product", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(chart, meter("s", saasv1alpha1.MeterStorageGiBHours)), want: "Meter s (StorageGiBHours)" + chartNothing},
		{name: "storage hours of a licence product", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(licence, meter("s", saasv1alpha1.MeterStorageGiBHours)),
			want:    "Meter s (StorageGiBHours) bills 0 every hour for every tenant: kooper reads replicas, requests and storage only of spec.workload, and this product's tenants run nothing kooper provisions"},
		{name: "CPU hours of a workload and plans that request no cpu", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Resources, p.Spec.Plans[1].Resources = nil, nil },
				meter("c", saasv1alpha1.MeterCPUCoreHours)),
			want: "Meter c (CPUCoreHours) bills 0 every hour for every tenant: no requests.cpu in spec.workload.resources or the plan's resources"},
		{name: "memory hours of a plan whose resources request cpu only", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(nil, meter("m", saasv1alpha1.MeterMemoryGiBHours)),
			want:    "Meter m (MemoryGiBHours) bills 0 every hour for the tenants of plan pro: no requests.memory in the plan's resources, which replace spec.workload.resources"},
		{name: "CPU hours of plans that request none, each for its own reason", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Workload.Resources = nil
				p.Spec.Plans[1].Resources.Requests = nil
				p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "max", Replicas: 1, Resources: &saasv1alpha1.ContainerResources{}},
					saasv1alpha1.Plan{SKUCode: "ok", Replicas: 1, Resources: &saasv1alpha1.ContainerResources{
						Requests: corev1.ResourceList{corev1.ResourceCPU: q("1")}}})
			}, meter("c", saasv1alpha1.MeterCPUCoreHours)),
			want: "Meter c (CPUCoreHours) bills 0 every hour for the tenants of plan basic: no requests.cpu in spec.workload.resources or the plan's resources; " +
				"for the tenants of plans pro, max: no requests.cpu in the plan's resources, which replace spec.workload.resources"},
		{name: "storage hours of a workload without storage", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Storage = nil }, meter("s", saasv1alpha1.MeterStorageGiBHours)),
			want:    "Meter s (StorageGiBHours) bills 0 every hour for every tenant: spec.workload has no storage"},
		{name: "replica hours of a plan of no replicas", wantReason: saasv1alpha1.MeterMeasuresNothingReason,
			product: metered(func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Replicas = 0 }, meter("r", saasv1alpha1.MeterReplicaHours)),
			want:    "Meter r (ReplicaHours) bills 0 every hour for the tenants of plan basic: they run no replicas (replicas: 0)"},
		{name: "a package plan funds another tenant and is not metered itself", wantReason: saasv1alpha1.SucceededReason,
			product: metered(func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "100h", Package: &saasv1alpha1.PackageTerms{Quota: "100"}})
			}, meter("r", saasv1alpha1.MeterReplicaHours)),
			want: "Every meter measures each tenant's own usage"},
		{name: "a query of every tenant's requests together", wantReason: saasv1alpha1.QueryNotPerTenantReason, monitoring: "monitoring",
			product: metered(nil, query("q", allTenants)),
			want: "Meter q: its query is the same for every tenant, so each buyer would be billed what all tenants used together; " +
				`select the tenant's series with {{.Namespace}} or {{.InstanceID}}, as in {namespace="{{.Namespace}}"}, or use TenantHours for a flat rate`},
		{name: "a query of a constant", wantReason: saasv1alpha1.QueryNotPerTenantReason, monitoring: "monitoring",
			product: metered(nil, query("q", "vector(1)")), want: "Meter q: its query is the same for every tenant"},
		{name: "a query of the tenant's instance", wantReason: saasv1alpha1.SucceededReason, monitoring: "monitoring",
			product: metered(nil, query("q", `sum(increase(app_calls_total{instance_id="{{.InstanceID}}"}[{{.Window}}]))`)),
			want:    "Every meter measures each tenant's own usage; meter q reads Prometheus"},
		{name: "a query of the tenant's namespace", wantReason: saasv1alpha1.SucceededReason, monitoring: "monitoring",
			product: metered(nil, query("q", perNamespace)),
			want: "Every meter measures each tenant's own usage; meter q reads Prometheus, and the tenants' NetworkPolicy admits namespace monitoring, " +
				"where Prometheus may scrape their pods"},
		{name: "a query that does not render", wantReason: saasv1alpha1.MeterMeasuresNothingReason, monitoring: "monitoring",
			product: metered(nil, query("q", `sum(up{tenant="{{.Tenant}}"})`)),
			want:    "Meter q: its query does not render (bad query template: "},
		{name: "a licence product's query needs no scrape of tenant pods", wantReason: saasv1alpha1.SucceededReason,
			product: metered(licence, query("q", perNamespace)), want: "Every meter measures each tenant's own usage"},
		{name: "Prometheus meters with no monitoring namespace", wantReason: saasv1alpha1.NoMonitoringNamespaceReason,
			product: metered(nil, query("m0", perNamespace), meter("m1", saasv1alpha1.MeterReplicaHours), query("m2", perNamespace)),
			want:    "Meters m0, m2 read Prometheus, but the controllers run without --monitoring-namespace"},
		{name: "a chart's tenants run pods too", wantReason: saasv1alpha1.NoMonitoringNamespaceReason,
			product: metered(chart, query("m0", perNamespace)), want: "Meter m0 reads Prometheus, but the controllers run without --monitoring-namespace"},
		{name: "the worst problem gives the reason, and every one is named", wantReason: saasv1alpha1.QueryNotPerTenantReason,
			product: metered(chart, meter("r", saasv1alpha1.MeterReplicaHours), query("q", allTenants)),
			want:    "Meter q: its query is the same for every tenant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cond := metersCondition(tc.product, tc.monitoring)
			if tc.wantReason == "" {
				g.Expect(cond).To(BeNil())
				return
			}
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Type).To(Equal(saasv1alpha1.MetersValidCondition))
			g.Expect(cond.Reason).To(Equal(tc.wantReason), cond.Message)
			g.Expect(cond.Status).To(Equal(map[bool]metav1.ConditionStatus{true: metav1.ConditionTrue, false: metav1.ConditionFalse}[tc.wantReason == saasv1alpha1.SucceededReason]))
			g.Expect(cond.Message).To(HavePrefix(tc.want))
		})
	}
	worst := metersCondition(cases[len(cases)-1].product, "")
	NewWithT(t).Expect(worst.Message).To(MatchRegexp(`^Meter q: its query is the same .*; meter r \(ReplicaHours\) bills 0 .*; meter q reads Prometheus, but `))
}

// A Warning Event is emitted once for each problem MetersValid reports:
// when it turns False, and when it reports something else while False.
func TestAMeterWarningIsEmittedOnceForEachProblem(t *testing.T) {
	condition := func(status metav1.ConditionStatus, reason, message string) *metav1.Condition {
		return &metav1.Condition{Type: saasv1alpha1.MetersValidCondition, Status: status, Reason: reason, Message: message}
	}
	notPerTenant := condition(metav1.ConditionFalse, saasv1alpha1.QueryNotPerTenantReason, "Meter q: its query is the same for every tenant")
	cases := []struct {
		name     string
		was, now *metav1.Condition
		warned   bool
	}{
		{name: "first said False", now: notPerTenant, warned: true},
		{name: "turned False", was: condition(metav1.ConditionTrue, saasv1alpha1.SucceededReason, "Every meter"), now: notPerTenant, warned: true},
		{name: "still the same problem", was: notPerTenant, now: notPerTenant},
		{name: "another problem", was: notPerTenant, warned: true,
			now: condition(metav1.ConditionFalse, saasv1alpha1.MeterMeasuresNothingReason, "Meter r (ReplicaHours) bills 0 every hour")},
		{name: "another meter with the same problem", was: notPerTenant, warned: true,
			now: condition(metav1.ConditionFalse, saasv1alpha1.QueryNotPerTenantReason, "Meter q: its query is the same; meter p: its query is the same")},
		{name: "turned True", was: notPerTenant, now: condition(metav1.ConditionTrue, saasv1alpha1.SucceededReason, "Every meter")},
		{name: "no longer said", was: notPerTenant},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recorder := events.NewFakeRecorder(10)
			r := &SaaSProductReconciler{Recorder: recorder, MonitoringNamespace: ptr.To("monitoring")}
			product := &saasv1alpha1.SaaSProduct{}
			if tc.now != nil {
				product.Status.Conditions = []metav1.Condition{*tc.now}
			}
			r.warnMeters(product, tc.was)
			if !tc.warned {
				NewWithT(t).Expect(recorder.Events).NotTo(Receive())
				return
			}
			NewWithT(t).Expect(recorder.Events).To(Receive(Equal("Warning " + tc.now.Reason + " " + tc.now.Message)))
		})
	}
}
