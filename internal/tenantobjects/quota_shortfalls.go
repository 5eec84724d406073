package tenantobjects

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// podComputeQuotas are the quota names a pod must set a value for, or the
// API server refuses it (the ResourceQuota admission's required set).
var podComputeQuotas = map[corev1.ResourceName]bool{
	corev1.ResourceCPU: true, corev1.ResourceMemory: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true,
}

// QuotaShortfalls lists each quota of plan that cannot hold what a tenant
// needs at the peak of a rollout, in the order of the quota's names.
func QuotaShortfalls(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan) []string {
	strategy := DeploymentStrategy(w)
	surge := RolloutSurge(strategy, plan.Replicas)
	pods := plan.Replicas + surge
	if pods == 0 {
		return nil
	}
	peak := fmt.Sprintf("the %d pods of a rolling update (%d replicas and %d surge)", pods, plan.Replicas, surge)
	if surge == 0 {
		peak = fmt.Sprintf("the %d pods of a %s rollout (no surge)", pods, strategy.Type)
	}
	if w.Gateway() != nil {
		peak += ", each with its SSO gateway"
	}
	needs := planNeeds(w, plan, pods)
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(plan.Quota)) {
		hard, need := plan.Quota[name], needs[name]
		missing := containersSettingNone(w, plan, name)
		switch {
		case podComputeQuotas[name] && len(missing) > 0:
			who := "container " + missing[0] + " sets"
			if len(missing) > 1 {
				who = "containers " + strings.Join(missing, " and ") + " set"
			}
			problems = append(problems, fmt.Sprintf("plan %s: quota %s is set but %s none, so the API server refuses every pod", plan.SKUCode, name, who))
		case hard.Cmp(need) >= 0:
		case name == corev1.ResourcePods:
			problems = append(problems, fmt.Sprintf("plan %s: quota pods=%s cannot hold %s", plan.SKUCode, hard.String(), peak))
		case name == corev1.ResourcePersistentVolumeClaims || name == corev1.ResourceRequestsStorage:
			problems = append(problems, fmt.Sprintf("plan %s: quota %s=%s cannot hold the data volume's %s", plan.SKUCode, name, hard.String(), need.String()))
		default:
			problems = append(problems, fmt.Sprintf("plan %s: quota %s=%s cannot hold the %s of %s", plan.SKUCode, name, hard.String(), need.String(), peak))
		}
	}
	return problems
}

// planNeeds is what a tenant on plan holds with pods of its Deployment's
// pods running, per quota name: the pod count, their compute resources
// (a request left unset is the limit, as the API server defaults it), and
// its claim.
func planNeeds(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan, pods int32) corev1.ResourceList {
	needs := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(pods), resource.DecimalSI)}
	addComputeNeeds(needs, withGateway(appResources(w, plan), GatewayResources(w)), pods)
	if w.Storage != nil {
		needs[corev1.ResourcePersistentVolumeClaims] = *resource.NewQuantity(1, resource.DecimalSI)
		needs[corev1.ResourceRequestsStorage] = w.Storage.Size.DeepCopy()
	}
	return needs
}

// addComputeNeeds adds to needs what pods containers of resources hold,
// per quota name (requests.cpu, limits.memory, cpu, ...); nil adds nothing.
func addComputeNeeds(needs corev1.ResourceList, resources *saasv1alpha1.ContainerResources, pods int32) {
	if resources == nil {
		return
	}
	requests := effectiveRequests(resources)
	for name, q := range requests {
		needs[corev1.ResourceName("requests."+string(name))] = times(q, pods)
	}
	for name, q := range resources.Limits {
		needs[corev1.ResourceName("limits."+string(name))] = times(q, pods)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, set := requests[name]; set {
			needs[name] = times(q, pods)
		}
	}
}

// containersSettingNone names the containers of a tenant's pod (the app,
// and the SSO gateway when the product has one) that set nothing for the
// compute quota name: the ResourceQuota admission refuses a pod when any
// one container does, whatever the others set. When the app sets it, so
// does every container: kooper's LimitRange gives one that sets nothing
// the app's resources (tenantobjects' limitRange).
func containersSettingNone(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan, name corev1.ResourceName) []string {
	if setsQuota(appResources(w, plan), name) {
		return nil
	}
	missing := []string{AppName}
	if gw := GatewayResources(w); gw != nil && !setsQuota(gw, name) {
		missing = append(missing, GatewayContainerName)
	}
	return missing
}

// setsQuota reports whether a container of resources holds some of the
// compute quota name.
func setsQuota(resources *saasv1alpha1.ContainerResources, name corev1.ResourceName) bool {
	needs := corev1.ResourceList{}
	addComputeNeeds(needs, resources, 1)
	q := needs[name]
	return !q.IsZero()
}

// appResources are the app container's resources on plan: the plan's,
// else the workload's; nil when neither sets any.
func appResources(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan) *saasv1alpha1.ContainerResources {
	if plan.Resources != nil {
		return plan.Resources
	}
	return w.Resources
}

// effectiveRequests are r's requests, a request left unset being its
// limit, as the API server defaults a container's; r is not modified.
func effectiveRequests(r *saasv1alpha1.ContainerResources) corev1.ResourceList {
	requests := maps.Clone(r.Requests)
	if requests == nil {
		requests = corev1.ResourceList{}
	}
	for name, limit := range r.Limits {
		if _, set := requests[name]; !set {
			requests[name] = limit
		}
	}
	return requests
}

// withGateway is what one pod of the workload holds: the app's resources
// plus the SSO gateway's, if it has one (a request left unset is the
// limit, as for the app). Neither is modified.
func withGateway(app, gateway *saasv1alpha1.ContainerResources) *saasv1alpha1.ContainerResources {
	if gateway == nil {
		return app
	}
	sum := &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, r := range []*saasv1alpha1.ContainerResources{app, gateway} {
		if r == nil {
			continue
		}
		addTo(sum.Requests, effectiveRequests(r))
		addTo(sum.Limits, r.Limits)
	}
	return sum
}

// addTo adds each quantity of more to sum's.
func addTo(sum, more corev1.ResourceList) {
	for name, q := range more {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
}

// times is q added up n times (Quantity has no multiplication).
func times(q resource.Quantity, n int32) resource.Quantity {
	sum := resource.Quantity{Format: q.Format}
	for range n {
		sum.Add(q)
	}
	return sum
}
