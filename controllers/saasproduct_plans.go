package controllers

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/metering"
	"github.com/kooper-io/kooper/internal/promquery"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/textcut"
)

// plansCondition checks that every plan can run its tenants: the API
// server accepts the resources, storage size and quota their objects are
// made of (refusedResources), each package plan's terms make a package
// quota (unreadablePackageTerms), an SSO gateway requests no more than
// the limits its tenant's LimitRange gives it (gatewayDefaultLimitOverruns;
// a chart's containers are checked from the chart's renders, by
// withChartDefaultLimits), each plan of a workload runs a replica,
// and each plan's quota holds its tenant at the peak of a rollout. kooper
// never changes the merchant's quota: a plan whose quota cannot hold
// replicas plus the rolling update's surge pod stalls every rollout of its
// tenants for ever (the surge pod is refused, and 25% of fewer than four
// replicas leaves none unavailable), so it is reported here, on the
// product, where the merchant looks.
func plansCondition(product *saasv1alpha1.SaaSProduct) metav1.Condition {
	cond := metav1.Condition{Type: saasv1alpha1.PlansValidCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.SucceededReason, Message: "Every plan's quota holds its tenants at the peak of a rollout"}
	if refused := refusedResources(product); len(refused) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.ResourcesRefusedReason
		cond.Message = textcut.Bytes(strings.Join(refused, "; ")+
			"; the API server would refuse these in every tenant's objects, and each tenant would stall (ObjectInvalid)", 32768)
		return cond
	}
	if unreadable := unreadablePackageTerms(product); len(unreadable) > 0 {
		them := "it"
		if len(unreadable) > 1 {
			them = "them"
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.PackageQuotaInvalidReason
		cond.Message = textcut.Bytes(strings.Join(unreadable, "; ")+"; a package bought on "+them+
			" would fund nothing (its tenant stalls with NoPackageTerms): give at most 14 whole digits, such as 99999999999999", 32768)
		return cond
	}
	switch {
	case product.Spec.Chart != nil && product.Spec.Workload == nil:
		// What a chart's tenant runs is known only once it renders: each
		// plan's quota holds the chart's objects, and a tenant whose pods
		// it refuses says so (Available).
		cond.Message = "Plans of a chart are not checked against their quotas: each quota bounds what the chart runs for a tenant"
		if ignored := chartPlansOfReplicas(product); len(ignored) > 0 {
			cond.Message = textcut.Bytes(cond.Message+"; plans[].replicas has no effect on a chart product, whose tenants run the replica "+
				"counts the chart's values set (spec.chart.values, plans[].values): "+strings.Join(ignored, ", "), 32768)
		}
		return cond
	case product.Spec.Workload == nil:
		cond.Message = "No plan runs a workload"
		return cond
	}
	if overruns := gatewayDefaultLimitOverruns(product); len(overruns) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.ResourcesRefusedReason
		cond.Message = textcut.Bytes(strings.Join(overruns, "; ")+gatewayDefaultLimitsRefused, 32768)
		return cond
	}
	if idle := plansOfNoReplicas(product); len(idle) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.NoReplicasReason
		cond.Message = textcut.Bytes(strings.Join(idle, "; ")+"; give it replicas: 1 or more", 32768)
		return cond
	}
	if unshared := replicasOnOneNodeVolume(product); len(unshared) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.VolumeNotSharedReason
		cond.Message = textcut.Bytes(strings.Join(unshared, "; ")+
			": a "+string(tenantobjects.AccessMode(product.Spec.Workload.Storage))+" volume attaches to one node, so the other replicas cannot start (Multi-Attach); "+
			"give these plans replicas: 1, or make the volume ReadWriteMany", 32768)
		return cond
	}
	var problems []string
	for i := range product.Spec.Plans {
		problems = append(problems, tenantobjects.QuotaShortfalls(product.Spec.Workload, &product.Spec.Plans[i])...)
	}
	if len(problems) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.QuotaTooSmallReason
		cond.Message = textcut.Bytes(strings.Join(problems, "; ")+"; raise the quota, or lower the replicas or resources", 32768)
	}
	return cond
}

// gatewayDefaultLimitsRefused ends a PlansValid message naming the SSO
// gateway's requests that the tenant's LimitRange leaves above their
// limits (gatewayDefaultLimitOverruns).
const gatewayDefaultLimitsRefused = "; the API server refuses a pod whose request is above its limit, so no pod of these tenants " +
	"would start and none would become Available: give the gateway a limit of its own, or a smaller request, or raise the app's limit"

// chartDefaultLimitsRefused ends a PlansValid message naming the chart's
// containers whose requests the tenant's LimitRange leaves above their
// limits (chartDefaultLimitOverruns); storedChartDefaultLimits finds such
// a message by it.
const chartDefaultLimitsRefused = "; the API server refuses a pod whose request is above its limit, so the chart's pods named " +
	"would never start and their tenants never become Available: give each such container a limit of its own, or a smaller request, " +
	"or raise the plan's resources.limits"

// gatewayDefaultLimitOverruns names, for each plan of a workload product
// with an SSO gateway, each resource the gateway requests more of than
// the tenant's LimitRange gives it as its limit because it sets none of
// its own: the app's limit (tenantobjects.DefaultLimits). The plan's own
// check (refusedContainerResources) compares each container's requests
// with its own limits only. The app sets exactly the LimitRange's
// resources, so it is never given one. A package plan is left out: its
// tenants run nothing (docs/packages.md).
func gatewayDefaultLimitOverruns(product *saasv1alpha1.SaaSProduct) []string {
	gateway := tenantobjects.GatewayResources(product.Spec.Workload)
	if gateway == nil {
		return nil
	}
	requirements := corev1.ResourceRequirements{Requests: gateway.Requests, Limits: gateway.Limits}
	var problems []string
	for i := range product.Spec.Plans {
		plan := &product.Spec.Plans[i]
		if runsNothing(product, plan) {
			continue
		}
		field := "spec.workload.resources.limits"
		if plan.Resources != nil {
			field = "the plan's resources.limits"
		}
		for _, o := range tenantobjects.DefaultLimitOverruns(tenantobjects.DefaultLimits(product, plan), requirements) {
			problems = append(problems, fmt.Sprintf("plan %s: the SSO gateway container (spec.workload.sso.gateway.resources) %s",
				plan.SKUCode, defaultLimitOverrun(o, field)))
		}
	}
	return problems
}

// withChartDefaultLimits makes cond, PlansValid of a chart product as
// plansCondition makes it, False when the chart's example renders
// (s.planRenders) show what its tenants cannot run: a container requesting
// more than the limit the tenant's LimitRange gives it (ResourcesRefused,
// chartDefaultLimitOverruns: the API server refuses its pods, and the
// tenant never becomes Available), else an object-count quota of a plan
// below what the tenant's namespace holds (QuotaTooSmall,
// chartQuotaCountShortfalls). Another problem of the plans is told first:
// cond is left as it is when False.
func withChartDefaultLimits(cond *metav1.Condition, s *productState) {
	if s.product.Spec.Chart == nil || cond.Status != metav1.ConditionTrue {
		return
	}
	if applyChartCheck(cond, s, saasv1alpha1.ResourcesRefusedReason, chartDefaultLimitsRefused, chartDefaultLimitOverruns) {
		return
	}
	applyChartCheck(cond, s, saasv1alpha1.QuotaTooSmallReason, chartQuotaCountsTooSmall, chartQuotaCountShortfalls)
}

// chartQuotaCountsTooSmall ends a PlansValid message naming the
// object-count quotas of a chart's plans that cannot hold what their
// tenants' namespaces hold (chartQuotaCountShortfalls); storedChartProblem
// finds such a message by it.
const chartQuotaCountsTooSmall = "; the API server would refuse what kooper or the chart writes beyond the quota (403 exceeded quota), " +
	"and the tenants' provisioning, expiry notice or directory would stall: raise the quota"

// applyChartCheck makes cond False with reason when problems finds any in
// the chart's example renders, its message their list and ending, and
// reports whether it did. A chart not checked this time (s.chart nil)
// leaves what PlansValid said of the chart the tenants run
// (storedChartProblem, which finds it by reason and ending).
func applyChartCheck(cond *metav1.Condition, s *productState, reason, ending string,
	problems func(*saasv1alpha1.SaaSProduct, []planRender) []string) bool {
	text := storedChartProblem(s.product, reason, ending)
	if s.chart != nil {
		text = ""
		if found := problems(s.product, s.planRenders); len(found) > 0 {
			text = strings.Join(found, "; ") + ending
		}
	}
	if text == "" {
		return false
	}
	cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, reason, textcut.Bytes(text, 32768)
	return true
}

// chartQuotaCountShortfalls names, for each plan that rendered (renders,
// the example tenant's), each object-count quota too small for the
// namespaces of its tenants (tenantobjects.ChartQuotaCountShortfalls). A
// package plan is left out: its tenants have no namespace.
func chartQuotaCountShortfalls(product *saasv1alpha1.SaaSProduct, renders []planRender) []string {
	var problems []string
	for _, render := range renders {
		i := slices.IndexFunc(product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == render.skuCode })
		if i < 0 || runsNothing(product, &product.Spec.Plans[i]) {
			continue
		}
		problems = append(problems, tenantobjects.ChartQuotaCountShortfalls(product, &product.Spec.Plans[i], render.objects)...)
	}
	return problems
}

// storedChartProblem is the text of the product's stored PlansValid of
// reason whose chart problem ends with ending (applyChartCheck), without the plan changes told after it, or "".
func storedChartProblem(product *saasv1alpha1.SaaSProduct, reason, ending string) string {
	was := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.PlansValidCondition)
	if was == nil || was.Reason != reason {
		return ""
	}
	text, _, _ := strings.Cut(was.Message, planChangesTold)
	if !strings.HasSuffix(text, ending) {
		return ""
	}
	return text
}

// chartDefaultLimitOverruns names, for each plan that rendered (renders,
// the example tenant's), each container of the chart's pod templates that
// requests more of a resource than the limit the tenant's LimitRange
// gives it because it sets none of its own: the plan's resources.limits
// (tenantobjects.DefaultLimits). Such a container is the chart's, and the
// chart may be fine on a plan without resources (no LimitRange), so it is
// found only from the renders. A package plan is left out: its tenants
// run nothing.
func chartDefaultLimitOverruns(product *saasv1alpha1.SaaSProduct, renders []planRender) []string {
	objectsOf := make(map[string][]*unstructured.Unstructured, len(renders))
	for _, render := range renders {
		objectsOf[render.skuCode] = render.objects
	}
	var problems []string
	for i := range product.Spec.Plans {
		plan := &product.Spec.Plans[i]
		defaults := tenantobjects.DefaultLimits(product, plan)
		if len(defaults) == 0 || runsNothing(product, plan) {
			continue
		}
		for _, obj := range objectsOf[plan.SKUCode] {
			pod, ok := renderedPodSpec(obj)
			if !ok {
				continue
			}
			// The LimitRanger admission gives init containers their
			// defaults as it does the others.
			for _, group := range []struct {
				which      string
				containers []corev1.Container
			}{{"init container", pod.InitContainers}, {"container", pod.Containers}} {
				for _, c := range group.containers {
					for _, o := range tenantobjects.DefaultLimitOverruns(defaults, c.Resources) {
						problems = append(problems, fmt.Sprintf("plan %s: %s %s of the example tenant's %s %s %s", plan.SKUCode, group.which, c.Name,
							obj.GetKind(), obj.GetName(), defaultLimitOverrun(o, "the plan's resources.limits")))
					}
				}
			}
		}
	}
	return problems
}

// defaultLimitOverrun tells o, a container's request above the limit its
// LimitRange gives it, whose limits are at field.
func defaultLimitOverrun(o tenantobjects.DefaultLimitOverrun, field string) string {
	return fmt.Sprintf("requests %s %s and sets no %s limit, so the tenant's LimitRange gives it %s.%s %s",
		o.Resource, o.Request.String(), o.Resource, field, o.Resource, o.DefaultLimit.String())
}

// podTemplatePaths are where the pod template's spec is in a chart's
// objects that make pods (chartrender.AllowedKinds); the LimitRanger
// admission judges those pods when they are made.
var podTemplatePaths = map[schema.GroupKind][]string{
	deploymentKind:  {"spec", "template", "spec"},
	statefulSetKind: {"spec", "template", "spec"},
	jobKind:         {"spec", "template", "spec"},
	cronJobKind:     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// renderedPodSpec is the spec of the pods obj, a chart's rendered object,
// makes, and whether it makes any. One that does not read as a pod spec
// is left to the API server, which refuses it when it is applied.
func renderedPodSpec(obj *unstructured.Unstructured) (corev1.PodSpec, bool) {
	var spec corev1.PodSpec
	path, ok := podTemplatePaths[obj.GroupVersionKind().GroupKind()]
	if !ok {
		return spec, false
	}
	fields, found, err := unstructured.NestedMap(obj.Object, path...)
	if err != nil || !found {
		return spec, false
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(fields, &spec); err != nil {
		return spec, false
	}
	return spec, true
}

// runsNothing reports whether the tenants of plan run nothing: a package
// plan of a product with spec.packages (docs/packages.md).
func runsNothing(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan) bool {
	return plan.Package != nil && product.Spec.Packages != nil
}

// chartPlansOfReplicas names each plan of a chart product that sets
// replicas, which only a workload's Deployment reads: the merchant may
// think it sizes the plan's tenants. It is not a failure, as the tenants
// run what the chart says; nor a schema rule, which would refuse products
// stored with it. Replicas 1, the schema's default, is left out: it is
// not told from a plan that leaves replicas out.
func chartPlansOfReplicas(product *saasv1alpha1.SaaSProduct) []string {
	var plans []string
	for _, p := range product.Spec.Plans {
		if p.Replicas != 1 {
			plans = append(plans, fmt.Sprintf("plan %s sets replicas: %d", p.SKUCode, p.Replicas))
		}
	}
	return plans
}

// plansOfNoReplicas names each plan of a workload product that runs no
// replicas (the schema allows replicas: 0): kstatus finds a Deployment of
// 0 replicas current, so each tenant would be Ready and its buyer handed
// URLs that serve nothing. A package plan is left out: a package's tenant
// runs nothing whatever its plan says (docs/packages.md).
func plansOfNoReplicas(product *saasv1alpha1.SaaSProduct) []string {
	var plans []string
	for _, p := range product.Spec.Plans {
		if p.Replicas == 0 && (p.Package == nil || product.Spec.Packages == nil) {
			plans = append(plans, fmt.Sprintf("plan %s runs no replicas (replicas: 0): its tenants would be Ready with nothing serving their URLs", p.SKUCode))
		}
	}
	return plans
}

// unreadablePackageTerms names each package plan of a product with
// spec.packages whose terms make no package quota, as the tenant
// controller makes it (metering.PackageQuota) for a linearValue of 1, the
// least a buyer can choose and all a fixed quota needs (a plan does not
// bound linearValue, so a larger one is not tried): a package bought on it
// would stall (NoPackageTerms) and fund nothing, and its buyer, whose
// pay-per-use tenant it should fund, would be frozen when the product says
// onExhausted: Freeze. The schema refuses such terms (at most 14 whole
// digits); a product stored before it did is reported here, with the
// field and the parser's reason.
func unreadablePackageTerms(product *saasv1alpha1.SaaSProduct) []string {
	if product.Spec.Packages == nil {
		return nil
	}
	var problems []string
	for _, p := range product.Spec.Plans {
		if p.Package == nil {
			continue
		}
		if _, err := metering.PackageQuota(p.Package, 1); err != nil {
			field := "package.quota"
			if p.Package.Quota == "" {
				field = "package.quotaPerLinearValue"
			}
			problems = append(problems, fmt.Sprintf("plan %s: %s %v", p.SKUCode, field, err))
		}
	}
	return problems
}

// replicasOnOneNodeVolume names each plan that runs more than one replica on
// a volume that is not ReadWriteMany. The schema refuses such a product
// since issue 28; one stored before is reported here, where the merchant
// looks, and its tenants keep running as they are.
func replicasOnOneNodeVolume(product *saasv1alpha1.SaaSProduct) []string {
	storage := product.Spec.Workload.Storage
	if storage == nil || tenantobjects.AccessMode(storage) == corev1.ReadWriteMany {
		return nil
	}
	var plans []string
	for _, p := range product.Spec.Plans {
		if p.Replicas > 1 {
			plans = append(plans, fmt.Sprintf("plan %s runs %d replicas", p.SKUCode, p.Replicas))
		}
	}
	return plans
}

// refusedResources lists what the schema accepts but the API server
// refuses in the objects of a product's tenants, for a workload or a chart
// product (a licence product makes none), naming the field: in the
// container resources of the workload, its SSO gateway and each plan (the
// Deployment's containers, and the LimitRange a chart's tenant gets), a
// name that is no container resource, a negative quantity, a request above
// its limit; a storage size that is not above zero (the claim); in each
// plan's quota, a name that is no quota name or a negative quantity (the
// ResourceQuota). Each would stall every tenant on it with ObjectInvalid.
// It does not check that an extended resource's request equals its limit,
// nor that a count quota is a whole number.
func refusedResources(product *saasv1alpha1.SaaSProduct) []string {
	w := product.Spec.Workload
	if w == nil && product.Spec.Chart == nil {
		return nil
	}
	var problems []string
	if w != nil {
		problems = append(problems, refusedContainerResources("spec.workload.resources", w.Resources)...)
		if gw := w.Gateway(); gw != nil {
			problems = append(problems, refusedContainerResources("spec.workload.sso.gateway.resources", gw.Resources)...)
		}
		if s := w.Storage; s != nil && s.Size.Sign() <= 0 {
			problems = append(problems, fmt.Sprintf("spec.workload.storage.size %s: a volume must be larger than 0", s.Size.String()))
		}
	}
	for _, p := range product.Spec.Plans {
		problems = append(problems, refusedContainerResources("plan "+p.SKUCode+": resources", p.Resources)...)
		for _, name := range slices.Sorted(maps.Keys(p.Quota)) {
			switch hard := p.Quota[name]; {
			case !isQuotaName(name):
				problems = append(problems, fmt.Sprintf("plan %s: quota %s is not a quota name (pods, requests.cpu, limits.memory, "+
					"requests.storage, count/<resource>.<group>, ...)", p.SKUCode, name))
			case hard.Sign() < 0:
				problems = append(problems, fmt.Sprintf("plan %s: quota %s %s is negative", p.SKUCode, name, hard.String()))
			}
		}
	}
	return problems
}

// refusedContainerResources lists what the API server refuses in r, the
// resources of a container at field: names that are no container
// resource, negative quantities, requests above their limits. None for a
// nil r.
func refusedContainerResources(field string, r *saasv1alpha1.ContainerResources) []string {
	if r == nil {
		return nil
	}
	var problems []string
	names := slices.Sorted(maps.Keys(r.Requests))
	for _, name := range slices.Sorted(maps.Keys(r.Limits)) {
		if _, both := r.Requests[name]; !both {
			names = append(names, name)
		}
	}
	for _, name := range names {
		request, hasRequest := r.Requests[name]
		limit, hasLimit := r.Limits[name]
		switch {
		case !isContainerResourceName(name):
			problems = append(problems, fmt.Sprintf("%s: %s is not a container resource (cpu, memory, ephemeral-storage, "+
				"hugepages-<size>, or an extended resource such as nvidia.com/gpu)", field, name))
		case negative(request, hasRequest) || negative(limit, hasLimit):
			problems = append(problems, fmt.Sprintf("%s: %s is negative", field, name))
		case hasRequest && hasLimit && request.Cmp(limit) > 0:
			problems = append(problems, fmt.Sprintf("%s: requests.%s %s is above limits.%s %s", field, name, request.String(), name, limit.String()))
		}
	}
	return problems
}

func negative(q resource.Quantity, set bool) bool { return set && q.Sign() < 0 }

// standardQuotaNames are the ResourceQuota names without a '/' that the API
// server accepts besides hugepages-<size> and requests.hugepages-<size>
// (standardQuotaResources of k8s.io/kubernetes' core helper, which kooper
// does not depend on).
var standardQuotaNames = map[corev1.ResourceName]bool{
	corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceEphemeralStorage: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true, corev1.ResourceRequestsStorage: true,
	corev1.ResourceRequestsEphemeralStorage: true, corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true,
	corev1.ResourceLimitsEphemeralStorage: true, corev1.ResourcePods: true, corev1.ResourceQuotas: true,
	corev1.ResourceServices: true, corev1.ResourceReplicationControllers: true, corev1.ResourceSecrets: true,
	corev1.ResourcePersistentVolumeClaims: true, corev1.ResourceConfigMaps: true,
	corev1.ResourceServicesNodePorts: true, corev1.ResourceServicesLoadBalancers: true,
}

// isQuotaName reports whether the API server accepts name as a key of a
// ResourceQuota's hard limits (ValidateResourceQuotaResourceName): a
// qualified name that is, without a '/', a standard quota name or a huge
// pages one, and, with one, anything qualified, such as
// count/deployments.apps, requests.nvidia.com/gpu or
// gold.storageclass.storage.k8s.io/requests.storage.
func isQuotaName(name corev1.ResourceName) bool {
	s := string(name)
	if len(validation.IsQualifiedName(s)) > 0 {
		return false
	}
	return strings.Contains(s, "/") || standardQuotaNames[name] ||
		strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) || strings.HasPrefix(s, corev1.ResourceRequestsHugePagesPrefix)
}

// isContainerResourceName reports whether the API server accepts name in
// a container's requests or limits (ValidateContainerResourceName): cpu,
// memory, ephemeral-storage or hugepages-<size>, or an extended resource:
// a qualified name with a domain, not starting with requests. (a quota's
// name), such as nvidia.com/gpu.
func isContainerResourceName(name corev1.ResourceName) bool {
	s := string(name)
	if len(validation.IsQualifiedName(s)) > 0 {
		return false
	}
	if !strings.Contains(s, "/") {
		return name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage ||
			strings.HasPrefix(s, corev1.ResourceHugePagesPrefix)
	}
	return !strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) && len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}

// prometheusMeters are the names of product's Prometheus meters.
func prometheusMeters(product *saasv1alpha1.SaaSProduct) []string {
	var names []string
	if m := product.Spec.Metering; m != nil {
		for _, meter := range m.Meters {
			if meter.Source == saasv1alpha1.MeterPrometheus {
				names = append(names, meter.Name)
			}
		}
	}
	return names
}

// meterProblem is why a product's meter bills wrongly: reason is a
// MetersValid reason, message names the meter and says why.
type meterProblem struct {
	reason, message string
}

// meterReasonRank orders a product's meter problems, worst first: a buyer
// billed what every tenant used, then usage billed as 0, then a query
// that may find nothing to read (unless it reads series scraped
// elsewhere).
var meterReasonRank = map[string]int{
	saasv1alpha1.QueryNotPerTenantReason:     0,
	saasv1alpha1.MeterMeasuresNothingReason:  1,
	saasv1alpha1.NoMonitoringNamespaceReason: 2,
}

// metersCondition says whether every meter of product measures each
// tenant's own usage (MetersValid), as the controllers run with
// monitoringNamespace ("" when none). Nil when product has no meters.
// When False, its message names every meter that bills wrongly and why
// (at most 32768 bytes), and its reason is the worst of them
// (meterReasonRank).
func metersCondition(product *saasv1alpha1.SaaSProduct, monitoringNamespace string) *metav1.Condition {
	if product.Spec.Metering == nil || len(product.Spec.Metering.Meters) == 0 {
		return nil
	}
	var problems []meterProblem
	for _, meter := range product.Spec.Metering.Meters {
		p := builtinMeterProblem(product, meter)
		if meter.Source == saasv1alpha1.MeterPrometheus {
			p = queryProblem(product, meter)
		}
		if p != nil {
			problems = append(problems, *p)
		}
	}
	scrape, scrapable := scrapeProblem(product, monitoringNamespace)
	if scrape != nil {
		problems = append(problems, *scrape)
	}
	cond := &metav1.Condition{Type: saasv1alpha1.MetersValidCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.SucceededReason, Message: "Every meter measures each tenant's own usage"}
	if len(problems) == 0 {
		if scrapable != "" {
			cond.Message += "; " + scrapable
		}
		return cond
	}
	slices.SortStableFunc(problems, func(a, b meterProblem) int { return meterReasonRank[a.reason] - meterReasonRank[b.reason] })
	messages := make([]string, len(problems))
	for i, p := range problems {
		messages[i] = p.message
	}
	message := strings.Join(messages, "; ")
	cond.Status, cond.Reason = metav1.ConditionFalse, problems[0].reason
	cond.Message = textcut.Bytes(strings.ToUpper(message[:1])+message[1:], 32768)
	return cond
}

// queryProblem renders a Prometheus meter's query for the sample tenants
// as the metering controller renders it for each tenant and window
// (MeteringReconciler.measure): a query that does not render fails every
// window of every tenant, and one that renders the same for both bills
// each buyer what all tenants used together. Nil when neither.
func queryProblem(product *saasv1alpha1.SaaSProduct, meter saasv1alpha1.Meter) *meterProblem {
	render := func(id string) (string, error) {
		return promquery.Render(meter.Query, promquery.Data{
			Namespace: tenantobjects.NamespaceName(product, id), InstanceID: id, Window: promquery.Duration(time.Hour)})
	}
	var rendered [len(sampleInstanceIDs)]string
	for i, id := range sampleInstanceIDs {
		query, err := render(id)
		if err != nil {
			return &meterProblem{reason: saasv1alpha1.MeterMeasuresNothingReason, message: fmt.Sprintf(
				"meter %s: its query does not render (%v), so no usage of any tenant is pushed", meter.Name, err)}
		}
		rendered[i] = query
	}
	if rendered[0] == rendered[1] {
		return &meterProblem{reason: saasv1alpha1.QueryNotPerTenantReason, message: fmt.Sprintf(
			"meter %s: its query is the same for every tenant, so each buyer would be billed what all tenants used together; "+
				`select the tenant's series with {{.Namespace}} or {{.InstanceID}}, as in {namespace="{{.Namespace}}"}, or use TenantHours for a flat rate`,
			meter.Name)}
	}
	// Two samples differ in every digit: a query of part of the ID (a
	// slice, a regular expression on a prefix) tells them apart, and still
	// bills tenants whose IDs agree on that part together. As the URL
	// check does (checkURLTemplates), every digit must change the query.
	ignored := digitsLeftOut(rendered[0], func(id string) (string, bool) {
		query, err := render(id)
		return query, err == nil
	}, func(a, b string) bool { return a == b })
	if len(ignored) == 0 {
		return nil
	}
	return &meterProblem{reason: saasv1alpha1.QueryNotPerTenantReason, message: fmt.Sprintf(
		"meter %s: its query leaves out %s of the instance ID, so tenants whose IDs agree on the others would each be billed what they used together; "+
			`select the tenant's series with the whole {{.Namespace}} or {{.InstanceID}}, as in {namespace="{{.Namespace}}"}`,
		meter.Name, ignoredDigits(ignored))}
}

// builtinMeterProblem says for which tenants a built-in meter bills 0
// every hour: an active tenant of each metered plan is measured over an
// hour and rounded as the metering controller measures and rounds it
// (metering.ObservedSegment, BuiltinUsage and Round), so what it bills and
// what is checked cannot drift apart. Nil when the meter bills something
// on every metered plan.
func builtinMeterProblem(product *saasv1alpha1.SaaSProduct, meter saasv1alpha1.Meter) *meterProblem {
	plans := meteredPlans(product)
	var idle []*saasv1alpha1.Plan
	var idleHours []float64 // what each idle plan's hour measures before rounding
	for _, plan := range plans {
		// measureWindow pushes nothing for a window whose rounded units are
		// 0: an hour of 0.25 at 0 decimals bills as little as an hour of 0.
		hour := hourOfActiveTenant(product, plan, meter.Source)
		if metering.Round(hour, meter.GetDecimals(), meter.Rounding) <= 0 {
			idle = append(idle, plan)
			idleHours = append(idleHours, hour)
		}
	}
	if len(idle) == 0 {
		return nil
	}
	head := fmt.Sprintf("meter %s (%s) bills 0 every hour for ", meter.Name, meter.Source)
	if product.Spec.Workload == nil {
		runs := "run nothing kooper provisions"
		if product.Spec.Chart != nil {
			runs = "run a chart"
		}
		return &meterProblem{reason: saasv1alpha1.MeterMeasuresNothingReason, message: head + "every tenant: kooper reads replicas, " +
			"requests and storage only of spec.workload, and this product's tenants " + runs + "; use TenantHours, or a Prometheus meter of what they run"}
	}
	var whys []string
	byWhy := map[string][]string{}
	for i, plan := range idle {
		why := whyIdle(product, plan, meter.Source)
		if idleHours[i] > 0 {
			why = whyRoundedAway(idleHours[i], meter)
		}
		if _, seen := byWhy[why]; !seen {
			whys = append(whys, why)
		}
		byWhy[why] = append(byWhy[why], plan.SKUCode)
	}
	parts := make([]string, len(whys))
	for i, why := range whys {
		who := "every tenant"
		if skus := byWhy[why]; len(skus) < len(plans) {
			who = "the tenants of plan " + strings.Join(skus, ", ")
			if len(skus) > 1 {
				who = "the tenants of plans " + strings.Join(skus, ", ")
			}
		}
		parts[i] = who + ": " + why
	}
	return &meterProblem{reason: saasv1alpha1.MeterMeasuresNothingReason, message: head + strings.Join(parts, "; for ")}
}

// meteredPlans are the plans whose tenants are metered: all but the
// package plans of a product with spec.packages, whose tenants run nothing
// and fund another's usage (docs/packages.md).
func meteredPlans(product *saasv1alpha1.SaaSProduct) []*saasv1alpha1.Plan {
	var plans []*saasv1alpha1.Plan
	for i, p := range product.Spec.Plans {
		if p.Package == nil || product.Spec.Packages == nil {
			plans = append(plans, &product.Spec.Plans[i])
		}
	}
	return plans
}

// hourOfActiveTenant is what a built-in meter of source measures of an
// active tenant of plan over one hour, in the meter's unit.
func hourOfActiveTenant(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan, source saasv1alpha1.MeterSource) float64 {
	tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateActive},
		Status: saasv1alpha1.SaaSTenantStatus{SKUCode: plan.SKUCode}}
	seg := metering.ObservedSegment(tenant, product)
	start := time.Unix(0, 0)
	seg.Start = metav1.NewTime(start)
	return metering.BuiltinUsage(source, []saasv1alpha1.UsageSegment{seg}, metering.Window{Start: start, End: start.Add(time.Hour)})
}

// whyIdle says why a built-in meter of source measures nothing of plan's
// tenants on a product with a workload (hourOfActiveTenant is 0).
func whyIdle(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan, source saasv1alpha1.MeterSource) string {
	switch {
	case source == saasv1alpha1.MeterStorageGiBHours && product.Spec.Workload.Storage == nil:
		return "spec.workload has no storage"
	case source == saasv1alpha1.MeterStorageGiBHours:
		return "spec.workload.storage.size is 0"
	case plan.Replicas == 0:
		return "they run no replicas (replicas: 0)"
	}
	name := "requests.cpu"
	if source == saasv1alpha1.MeterMemoryGiBHours {
		name = "requests.memory"
	}
	if plan.Resources != nil {
		return "no " + name + " in the plan's resources, which replace spec.workload.resources"
	}
	return "no " + name + " in spec.workload.resources or the plan's resources"
}

// whyRoundedAway says why a built-in meter bills 0 for the hour of an
// active tenant that measures hour (> 0): Round makes it 0 at the meter's
// decimals and rounding. It names what would bill it: the fewest decimals
// that do, and rounding Up.
func whyRoundedAway(hour float64, meter saasv1alpha1.Meter) string {
	decimals := min(max(meter.GetDecimals(), 0), 4) // as Round clamps them
	rounding := cmp.Or(meter.Rounding, saasv1alpha1.RoundHalfUp)
	var fixes []string
	for d := decimals + 1; d <= 4; d++ {
		if metering.Round(hour, d, meter.Rounding) > 0 {
			fixes = append(fixes, fmt.Sprintf("decimals to %d or more", d))
			break
		}
	}
	if rounding != saasv1alpha1.RoundUp && metering.Round(hour, decimals, saasv1alpha1.RoundUp) > 0 {
		fixes = append(fixes, "rounding to Up")
	}
	fix := "no decimals or rounding bills so little"
	if len(fixes) > 0 {
		fix = "set " + strings.Join(fixes, ", or ")
	}
	return fmt.Sprintf("an active tenant's hour measures %.6g, which rounds to 0 at %d decimals with rounding %s; %s",
		hour, decimals, rounding, fix)
}

// scrapeProblem says whether a Prometheus may scrape the pods of
// product's tenants for its Prometheus meters: whether their NetworkPolicy
// admits a monitoring namespace (tenantobjects' networkPolicy), as the
// controllers run with monitoringNamespace. It returns the problem when
// none is admitted, else a sentence saying which is ("" when product has
// no Prometheus meter or its tenants run no pods).
func scrapeProblem(product *saasv1alpha1.SaaSProduct, monitoringNamespace string) (*meterProblem, string) {
	meters := prometheusMeters(product)
	if len(meters) == 0 || (product.Spec.Workload == nil && product.Spec.Chart == nil) {
		return nil, ""
	}
	which := "meter " + meters[0] + " reads"
	if len(meters) > 1 {
		which = "meters " + strings.Join(meters, ", ") + " read"
	}
	if monitoringNamespace != "" {
		return nil, which + " Prometheus, and the tenants' NetworkPolicy admits namespace " + monitoringNamespace + ", where Prometheus may scrape their pods"
	}
	return &meterProblem{reason: saasv1alpha1.NoMonitoringNamespaceReason, message: which + " Prometheus, but the controllers run without " +
		"--monitoring-namespace (the chart's tenantNetwork.monitoringNamespace): the tenants' NetworkPolicy admits no monitoring namespace, " +
		"so no Prometheus can scrape their pods, and a query of what they expose finds nothing, billed as 0 every window; set it to " +
		"Prometheus's namespace, unless the query reads only series scraped elsewhere (the kubelet's, kube-state-metrics')"}, ""
}

// checkMeters says whether every meter of the product measures each
// tenant's own usage (MetersValid), when the monitoring namespace is
// known; a product without meters loses the condition.
func (r *SaaSProductReconciler) checkMeters(_ context.Context, s *productState) outcome {
	if r.MonitoringNamespace == nil {
		return proceed()
	}
	s.metersWas = apimeta.FindStatusCondition(s.product.Status.Conditions, saasv1alpha1.MetersValidCondition).DeepCopy()
	if cond := metersCondition(s.product, *r.MonitoringNamespace); cond != nil {
		s.conds = append(s.conds, *cond)
	} else {
		s.drop = append(s.drop, saasv1alpha1.MetersValidCondition)
	}
	return proceed()
}

// warnMeters emits a Warning Event when MetersValid turned False, or
// says something else while False (checkMeters ran): the condition is not
// part of Ready, whose Events would not say it, and the tenants' Metered
// stays True. Once per change.
func (r *SaaSProductReconciler) warnMeters(product *saasv1alpha1.SaaSProduct, was *metav1.Condition) {
	now := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.MetersValidCondition)
	if r.MonitoringNamespace == nil || now == nil || now.Status != metav1.ConditionFalse {
		return
	}
	if was != nil && was.Status == metav1.ConditionFalse && was.Reason == now.Reason && was.Message == now.Message {
		return
	}
	r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, now.Reason, "CheckProduct", "%s", now.Message)
}
