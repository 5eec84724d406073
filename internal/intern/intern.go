// Package intern shares the strings that repeat across the objects an
// informer caches, so that each is held once (issue 26: the controllers' and
// the receiver's memory at 10,000 tenants).
package intern

import (
	"unique"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

var stripManagedFields = cache.TransformStripManagedFields()

// CachedForm is the cache transform of both of kooper's processes: it
// drops managed fields (with server-side apply the larger part of each
// object, which kooper never reads), then shares repeated strings
// (Strings).
func CachedForm(obj any) (any, error) {
	obj, err := stripManagedFields(obj)
	if err != nil {
		return obj, err
	}
	return Strings(obj)
}

// Strings is a cache transform that makes the strings repeating across
// cached objects share one copy each: every object's namespace, label keys and values, and
// annotation keys, and a NetworkPolicy's label selectors (every tenant's
// policy selects the same ingress controller and DNS pods). A decoded
// object holds its own copy of each; at 10,000 tenants those copies were a
// large part of the controllers' heap (docs/benchmarks.md, issue 26).
// Annotation values are left as they are: kooper's are hashes and times,
// different on each object. It changes no value, only where the bytes
// live, and never fails.
func Strings(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		internMeta(o)
	}
	if policy, ok := obj.(*networkingv1.NetworkPolicy); ok {
		internNetworkPolicy(policy)
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
		o.SetLabels(internedMap(labels, true))
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

func internNetworkPolicy(p *networkingv1.NetworkPolicy) {
	internSelector(&p.Spec.PodSelector)
	for i := range p.Spec.Ingress {
		internPeers(p.Spec.Ingress[i].From)
	}
	for i := range p.Spec.Egress {
		internPeers(p.Spec.Egress[i].To)
	}
}

func internPeers(peers []networkingv1.NetworkPolicyPeer) {
	for i := range peers {
		internSelector(peers[i].PodSelector)
		internSelector(peers[i].NamespaceSelector)
	}
}

func internSelector(s *metav1.LabelSelector) {
	if s == nil {
		return
	}
	if len(s.MatchLabels) > 0 {
		s.MatchLabels = internedMap(s.MatchLabels, true)
	}
	for i := range s.MatchExpressions {
		e := &s.MatchExpressions[i]
		e.Key = intern(e.Key)
		for j := range e.Values {
			e.Values[j] = intern(e.Values[j])
		}
	}
}
