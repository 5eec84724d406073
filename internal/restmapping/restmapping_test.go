package restmapping

import (
	"testing"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// countingMapper counts the RESTMapping calls that reach it.
type countingMapper struct {
	apimeta.RESTMapper
	calls int
}

func (c *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*apimeta.RESTMapping, error) {
	c.calls++
	return c.RESTMapper.RESTMapping(gk, versions...)
}

func TestBuiltInMappingsAreAskedOnce(t *testing.T) {
	g := NewWithT(t)
	secret := schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	tenant := schema.GroupVersionKind{Group: "saas.kooper.io", Version: "v1alpha1", Kind: "SaaSTenant"}
	rm := apimeta.NewDefaultRESTMapper([]schema.GroupVersion{secret.GroupVersion(), tenant.GroupVersion()})
	rm.Add(secret, apimeta.RESTScopeNamespace)
	rm.Add(tenant, apimeta.RESTScopeRoot)
	counted := &countingMapper{RESTMapper: rm}
	m := Memoize(counted)

	for range 3 {
		mapping, err := m.RESTMapping(secret.GroupKind())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(mapping.Resource).To(Equal(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}))
		g.Expect(mapping.Scope.Name()).To(Equal(apimeta.RESTScopeNameNamespace))
		mapping.Resource.Resource = "changed by a caller"
	}
	g.Expect(counted.calls).To(Equal(1), "a built-in kind's mapping is remembered")

	for range 2 {
		mapping, err := m.RESTMapping(tenant.GroupKind(), "v1alpha1")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(mapping.Scope.Name()).To(Equal(apimeta.RESTScopeNameRoot))
	}
	g.Expect(counted.calls).To(Equal(3), "a custom resource's mapping is asked each time")

	_, err := m.RESTMapping(schema.GroupKind{Kind: "NoSuchKind"})
	g.Expect(apimeta.IsNoMatchError(err)).To(BeTrue())
	_, _ = m.RESTMapping(schema.GroupKind{Kind: "NoSuchKind"})
	g.Expect(counted.calls).To(Equal(5), "a failed lookup is not remembered")
}
