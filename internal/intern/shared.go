package intern

import (
	"hash/maphash"
	"maps"
	"reflect"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sharePeriod is how long a shared value stays in its table after its last
// use, at least: a value unused for two periods is dropped at the table's
// next use, so what a table keeps alive past the objects that used it is
// bounded, with no reference counting.
const sharePeriod = 10 * time.Minute

// table holds one copy of each value seen recently, by a hash of its
// content (holding the content itself as the key cost more than the
// sharing saved on labels). A hit is checked to be equal before it is
// shared, so a collision only misses a sharing. Values handed out are
// shared by every cached object that uses them, so they must never be
// changed: cached objects are read-only (controller-runtime copies an
// object before handing it to a caller).
type table[V any] struct {
	mu        sync.Mutex
	seed      maphash.Seed
	equal     func(a, b V) bool
	current   map[uint64]V
	previous  map[uint64]V
	swappedAt time.Time
	now       func() time.Time
}

// newTable is a table whose values are compared with reflect.DeepEqual.
func newTable[V any]() *table[V] {
	return newTableEqual(func(a, b V) bool { return reflect.DeepEqual(a, b) })
}

// newTableEqual is a table whose values are compared with equal, which
// must hold only for values that are the same to reflect.DeepEqual: a
// shared value replaces the object's own, so only its memory may differ.
func newTableEqual[V any](equal func(a, b V) bool) *table[V] {
	return &table[V]{seed: maphash.MakeSeed(), equal: equal, current: map[uint64]V{}, now: time.Now}
}

// share returns the held copy equal to v, whose content key is key, or
// else the value made by newValue (v itself, or a copy of it in a more
// compact form), which it then holds.
func (t *table[V]) share(key string, v V, newValue func() V) V {
	return t.shareHashed(maphash.String(t.seed, key), v, newValue)
}

// shareHashed is share with the content's hash, h, made with t.seed.
func (t *table[V]) shareHashed(h uint64, v V, newValue func() V) V {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := t.now(); now.Sub(t.swappedAt) >= sharePeriod {
		t.previous, t.current, t.swappedAt = t.current, make(map[uint64]V, len(t.current)), now
	}
	if held, ok := t.current[h]; ok {
		if t.equal(held, v) {
			return held
		}
		return v // a collision: this one stays unshared
	}
	held, ok := t.previous[h]
	if !ok || !t.equal(held, v) {
		held = newValue()
	}
	t.current[h] = held
	return held
}

// len is how many values the table holds, for tests.
func (t *table[V]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.current)
	for h := range t.previous {
		if _, ok := t.current[h]; !ok {
			n++
		}
	}
	return n
}

var (
	stringMaps    = newTableEqual(maps.Equal[map[string]string])
	selectors     = newTable[*metav1.LabelSelector]()
	policyPorts   = newTable[[]networkingv1.NetworkPolicyPort]()
	limitItems    = newTable[[]corev1.LimitRangeItem]()
	resourceLists = newTable[corev1.ResourceList]()
)

// protoKey is the protobuf encoding of v as a key: Kubernetes' generated
// encoders write map entries in key order, so equal values give equal keys.
func protoKey(v interface{ Marshal() ([]byte, error) }) (string, bool) {
	data, err := v.Marshal()
	return string(data), err == nil
}

// sharedStringMap is m, its keys and values interned, as the one copy of a
// map with the same entries: a tenant's objects all carry the same labels.
func sharedStringMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	return stringMaps.shareHashed(stringMapHash(stringMaps.seed, m), m, func() map[string]string { return internedMap(m, true) })
}

// stringMapHash is a hash of m's entries that does not depend on the
// order a map is ranged in: the sum of each entry's hash. Sums of
// different maps may collide; the table then compares the maps themselves.
func stringMapHash(seed maphash.Seed, m map[string]string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var sum uint64
	for k, v := range m {
		h.Reset()
		h.WriteString(k)
		h.WriteByte(0)
		h.WriteString(v)
		sum += h.Sum64()
	}
	return sum
}

// sharedSelector is s, its strings interned, as the one copy of an equal
// selector (a policy's peers select the same DNS and ingress pods in
// every tenant).
func sharedSelector(s *metav1.LabelSelector) *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	key, ok := protoKey(s)
	if !ok {
		return s
	}
	return selectors.share(key, s, func() *metav1.LabelSelector { return internedSelector(s) })
}

// sharedPorts is ports as the one copy of an equal list.
func sharedPorts(ports []networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyPort {
	if len(ports) == 0 {
		return ports
	}
	var b strings.Builder
	for i := range ports {
		key, ok := protoKey(&ports[i])
		if !ok {
			return ports
		}
		b.WriteString(key)
		b.WriteByte(0)
	}
	return policyPorts.share(b.String(), ports, func() []networkingv1.NetworkPolicyPort { return ports })
}

// sharedLimits is a LimitRange's items as the one copy of equal items: a
// plan's tenants have the same defaults.
func sharedLimits(spec *corev1.LimitRangeSpec) []corev1.LimitRangeItem {
	key, ok := protoKey(spec)
	if !ok {
		return spec.Limits
	}
	return limitItems.share(key, spec.Limits, func() []corev1.LimitRangeItem { return spec.Limits })
}

// sharedResourceList is l as the one copy of an equal list: a plan's
// tenants have the same quota and container resources.
func sharedResourceList(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return l
	}
	spec := corev1.ResourceQuotaSpec{Hard: l}
	key, ok := protoKey(&spec)
	if !ok {
		return l
	}
	return resourceLists.share(key, l, func() corev1.ResourceList { return l })
}
