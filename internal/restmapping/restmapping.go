// Package restmapping remembers the REST mappings of Kubernetes' built-in
// kinds, which never change while a process runs.
//
// controller-runtime's cache asks its REST mapper, on every Get of a kind
// cached per namespace (kooper's Secrets and ConfigMaps), whether the kind
// is namespaced; the dynamic mapper answers each time through a
// PriorityRESTMapper, about 18 µs and a few allocations a call. That was
// 0.9 s of the controllers' 20.7 s of CPU in the first 15 s of a restart
// over 10,000 tenants (docs/benchmarks.md).
package restmapping

import (
	"net/http"
	"strings"
	"sync"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Provider is a manager's MapperProvider (ctrl.Options.MapperProvider):
// controller-runtime's dynamic REST mapper, with Memoize's memory.
func Provider(cfg *rest.Config, httpClient *http.Client) (apimeta.RESTMapper, error) {
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	return Memoize(mapper), nil
}

// Memoize returns mapper, remembering each RESTMapping it answers for a
// kind of a built-in API group (client-go's scheme): their resources and
// scopes are fixed by the API server's build. Kinds of other groups (custom
// resources, whose definitions may come and go) are asked of mapper every
// time, as are failed lookups.
func Memoize(mapper apimeta.RESTMapper) apimeta.RESTMapper {
	return &memo{RESTMapper: mapper}
}

type memo struct {
	apimeta.RESTMapper
	mappings sync.Map // key: group, kind and versions → apimeta.RESTMapping
}

// RESTMapping implements apimeta.RESTMapper. Each caller gets its own copy of
// the remembered mapping.
func (m *memo) RESTMapping(gk schema.GroupKind, versions ...string) (*apimeta.RESTMapping, error) {
	if !clientgoscheme.Scheme.IsGroupRegistered(gk.Group) {
		return m.RESTMapper.RESTMapping(gk, versions...)
	}
	key := gk.Group + "/" + gk.Kind + "/" + strings.Join(versions, ",")
	if known, ok := m.mappings.Load(key); ok {
		mapping := known.(apimeta.RESTMapping)
		return &mapping, nil
	}
	mapping, err := m.RESTMapper.RESTMapping(gk, versions...)
	if err != nil {
		return nil, err
	}
	m.mappings.Store(key, *mapping)
	return mapping, nil
}
