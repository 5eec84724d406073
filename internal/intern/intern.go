// Package intern shares the strings and values that repeat across the
// objects an informer caches, so that each is held once (issue 26: the
// controllers' and the receiver's memory at 10,000 tenants). The objects it
// has shared must never be changed in place: the caches' readers get copies.
package intern

import (
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

var stripManagedFields = cache.TransformStripManagedFields()

// CachedForm is the cache transform of both of kooper's processes: it
// drops managed fields (with server-side apply the larger part of each
// object, which kooper never reads), then shares repeated strings and
// values (Shared).
func CachedForm(obj any) (any, error) {
	obj, err := stripManagedFields(obj)
	if err != nil {
		return obj, err
	}
	return Shared(obj)
}

// Shared is a cache transform that makes what repeats across cached
// objects share one copy: every object's namespace, label keys and values
// and annotation keys (interned strings), and, as one shared copy of equal
// content (see table), each object's labels (a tenant's objects all carry
// the same), a NetworkPolicy's selectors and ports (every tenant's policy
// selects the same ingress controller and DNS pods), a LimitRange's items,
// a ResourceQuota's limits and a pod template's container resources (the
// same for every tenant of a plan), and of a SaaSTenant the plan applied,
// the lifecycle policy and the strings a product, plan or condition repeats
// (shareTenant). A decoded object holds its own copy of
// each; at 10,000 tenants those copies were a large part of the
// controllers' heap (docs/benchmarks.md, issue 26). Annotation values are
// left as they are: kooper's are hashes and times, different on each
// object. It changes no value, only where the bytes live, and never fails.
func Shared(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		internMeta(o)
	}
	switch o := obj.(type) {
	case *networkingv1.NetworkPolicy:
		shareNetworkPolicy(o)
	case *corev1.LimitRange:
		o.Spec.Limits = sharedLimits(&o.Spec)
	case *corev1.ResourceQuota:
		o.Spec.Hard = sharedResourceList(o.Spec.Hard)
	case *appsv1.Deployment:
		sharePodTemplate(&o.Spec.Template)
	case *appsv1.StatefulSet:
		sharePodTemplate(&o.Spec.Template)
	case *saasv1alpha1.SaaSTenant:
		shareTenant(o)
	}
	return obj, nil
}

func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

func internMeta(o metav1.Object) {
	o.SetNamespace(intern(o.GetNamespace()))
	if labels := o.GetLabels(); len(labels) > 0 {
		o.SetLabels(sharedStringMap(labels))
	}
	if annotations := o.GetAnnotations(); len(annotations) > 0 {
		o.SetAnnotations(internedMap(annotations, false))
	}
}

// internedMap is m with its keys interned, and its values too when values
// is true.
func internedMap(m map[string]string, values bool) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if values {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
}

func shareNetworkPolicy(p *networkingv1.NetworkPolicy) {
	internedSelector(&p.Spec.PodSelector)
	for i := range p.Spec.Ingress {
		sharePeers(p.Spec.Ingress[i].From)
		p.Spec.Ingress[i].Ports = sharedPorts(p.Spec.Ingress[i].Ports)
	}
	for i := range p.Spec.Egress {
		sharePeers(p.Spec.Egress[i].To)
		p.Spec.Egress[i].Ports = sharedPorts(p.Spec.Egress[i].Ports)
	}
}

func sharePeers(peers []networkingv1.NetworkPolicyPeer) {
	for i := range peers {
		peers[i].PodSelector = sharedSelector(peers[i].PodSelector)
		peers[i].NamespaceSelector = sharedSelector(peers[i].NamespaceSelector)
	}
}

// internedSelector is s with its labels shared and its expressions'
// strings interned, changed in place.
func internedSelector(s *metav1.LabelSelector) *metav1.LabelSelector {
	s.MatchLabels = sharedStringMap(s.MatchLabels)
	for i := range s.MatchExpressions {
		e := &s.MatchExpressions[i]
		e.Key = intern(e.Key)
		for j := range e.Values {
			e.Values[j] = intern(e.Values[j])
		}
	}
	return s
}

func sharePodTemplate(t *corev1.PodTemplateSpec) {
	for _, containers := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for i := range containers {
			r := &containers[i].Resources
			r.Requests, r.Limits = sharedResourceList(r.Requests), sharedResourceList(r.Limits)
		}
	}
}
