package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	utilstrings "k8s.io/utils/strings"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// plansCondition checks that every plan can run its tenants: the API
// server accepts the resources, storage size and quota their objects are
// made of (refusedResources), each plan of a workload runs a replica, and
// each plan's quota holds its tenant at the peak of a rollout. kooper
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
		cond.Message = utilstrings.ShortenString(strings.Join(refused, "; ")+
			"; the API server would refuse these in every tenant's objects, and each tenant would stall (ObjectInvalid)", 32768)
		return cond
	}
	switch {
	case product.Spec.Chart != nil && product.Spec.Workload == nil:
		// What a chart's tenant runs is known only once it renders: each
		// plan's quota holds the chart's objects, and a tenant whose pods
		// it refuses says so (Available).
		cond.Message = "Plans of a chart are not checked against their quotas: each quota bounds what the chart runs for a tenant"
		return cond
	case product.Spec.Workload == nil:
		cond.Message = "No plan runs a workload"
		return cond
	}
	if idle := plansOfNoReplicas(product); len(idle) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.NoReplicasReason
		cond.Message = utilstrings.ShortenString(strings.Join(idle, "; ")+"; give it replicas: 1 or more", 32768)
		return cond
	}
	if unshared := replicasOnOneNodeVolume(product); len(unshared) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.VolumeNotSharedReason
		cond.Message = utilstrings.ShortenString(strings.Join(unshared, "; ")+
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
		cond.Message = utilstrings.ShortenString(strings.Join(problems, "; ")+"; raise the quota, or lower the replicas or resources", 32768)
	}
	return cond
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

// scrapableCondition says whether a Prometheus may scrape the pods of
// product's tenants for its Prometheus meters: whether their NetworkPolicy
// admits a monitoring namespace (tenantobjects' networkPolicy), as the
// controllers run with monitoringNamespace. Nil when there is nothing to
// say: product has no Prometheus meter, or its tenants run no pods.
func scrapableCondition(product *saasv1alpha1.SaaSProduct, monitoringNamespace string) *metav1.Condition {
	meters := prometheusMeters(product)
	if len(meters) == 0 || (product.Spec.Workload == nil && product.Spec.Chart == nil) {
		return nil
	}
	which := "Meter " + meters[0] + " reads"
	if len(meters) > 1 {
		which = "Meters " + strings.Join(meters, ", ") + " read"
	}
	if monitoringNamespace == "" {
		return &metav1.Condition{Type: saasv1alpha1.TenantsScrapableCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.NoMonitoringNamespaceReason,
			Message: which + " Prometheus, but the controllers run without --monitoring-namespace (the chart's tenantNetwork.monitoringNamespace): " +
				"the tenants' NetworkPolicy admits no monitoring namespace, so no Prometheus can scrape their pods, and a query of what they " +
				"expose finds nothing, billed as 0 every window; set it to Prometheus's namespace, unless the query reads only series " +
				"scraped elsewhere (the kubelet's, kube-state-metrics')"}
	}
	return &metav1.Condition{Type: saasv1alpha1.TenantsScrapableCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.SucceededReason,
		Message: which + " Prometheus; the tenants' NetworkPolicy admits namespace " + monitoringNamespace + ", where Prometheus may scrape their pods"}
}

// checkScrapable says whether the product's Prometheus meters can read its
// tenants' pods (TenantsScrapable), when the monitoring namespace is
// known; a product with nothing to say loses the condition.
func (r *SaaSProductReconciler) checkScrapable(_ context.Context, s *productState) outcome {
	if r.MonitoringNamespace == nil {
		return proceed()
	}
	s.scrapableWas = apimeta.FindStatusCondition(s.product.Status.Conditions, saasv1alpha1.TenantsScrapableCondition).DeepCopy()
	if cond := scrapableCondition(s.product, *r.MonitoringNamespace); cond != nil {
		s.conds = append(s.conds, *cond)
	} else {
		s.drop = append(s.drop, saasv1alpha1.TenantsScrapableCondition)
	}
	return proceed()
}

// warnNotScrapable emits a Warning Event when TenantsScrapable turned
// False (checkScrapable ran): the condition is not part of Ready, whose
// Events would not say it. Once, on the transition.
func (r *SaaSProductReconciler) warnNotScrapable(product *saasv1alpha1.SaaSProduct, was *metav1.Condition) {
	now := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.TenantsScrapableCondition)
	if r.MonitoringNamespace == nil || now == nil || now.Status != metav1.ConditionFalse || (was != nil && was.Status == metav1.ConditionFalse) {
		return
	}
	r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, now.Reason, "CheckProduct", "%s", now.Message)
}
