package tenantobjects

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// DefaultLimits are the limits the LimitRange of a tenant of product on
// plan gives a container of the tenant's namespace that sets none of its
// own (limitRange's default limits, read from the object itself so that
// the two cannot drift apart); empty when it gives none.
func DefaultLimits(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan) corev1.ResourceList {
	d := &Desired{Tenant: &saasv1alpha1.SaaSTenant{}, Product: product, Plan: plan}
	return d.limitRange().Spec.Limits[0].Default
}

// DefaultLimitOverrun is a resource a container requests but sets no limit
// of, whose default limit (DefaultLimits) is below the request: the
// LimitRanger admission gives the container that limit, and the API server
// then refuses the pod, as a request may not be above its limit.
type DefaultLimitOverrun struct {
	// Resource is the resource's name, such as memory.
	Resource corev1.ResourceName
	// Request is what the container requests of it.
	Request resource.Quantity
	// DefaultLimit is the limit the LimitRange gives the container.
	DefaultLimit resource.Quantity
}

// DefaultLimitOverruns lists, in the order of the resources' names, each
// resource of defaults (default limits, such as DefaultLimits) that a
// container of resources r requests more of than its default without
// setting a limit of its own. A container that sets its own limit keeps
// it, and one that sets no request gets its limit or the default request
// (which the plan's own check keeps at most the limit): neither is
// listed.
func DefaultLimitOverruns(defaults corev1.ResourceList, r corev1.ResourceRequirements) []DefaultLimitOverrun {
	var overruns []DefaultLimitOverrun
	for _, name := range slices.Sorted(maps.Keys(defaults)) {
		if _, limited := r.Limits[name]; limited {
			continue
		}
		request, requested := r.Requests[name]
		if limit := defaults[name]; requested && request.Cmp(limit) > 0 {
			overruns = append(overruns, DefaultLimitOverrun{Resource: name, Request: request.DeepCopy(), DefaultLimit: limit.DeepCopy()})
		}
	}
	return overruns
}
