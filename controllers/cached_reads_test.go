package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The rollout decides on every tenant of a product, read from the cache
// without a copy of each (issue 26: a List copied every tenant once a
// second): the product's tenants alone, and, for a decision, once the cache
// shows this process's own last write to one of them (read-your-writes).
func TestAProductsTenantsAreReadFromTheCacheWithOurOwnWrites(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	consistent, err := client.New(testEnv.Config, client.Options{Scheme: testEnv.Scheme,
		Cache: &client.CacheOptions{Reader: managerCache, EnableReadYourWritesConsistency: ptr.To(true)}})
	g.Expect(err).NotTo(HaveOccurred())
	product, other := newTenantProduct(t, nil), newTenantProduct(t, nil)
	first, second := newTenant(t, product, "basic", nil), newTenant(t, product, "basic", nil)
	newTenant(t, other, "basic", nil)
	names := func(tenants []*saasv1alpha1.SaaSTenant, err error) []string {
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, t := range tenants {
			out = append(out, t.Name)
		}
		return out
	}
	fromCache := productTenantsReader{consistent: consistent, informers: managerCache}
	g.Eventually(func() []string { return names(fromCache.cached(ctx, product.Name)) }).Should(ConsistOf(first.Name, second.Name))

	const written = "test.kooper.io/written"
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"`+written+`":"yes"}}}`))
	g.Expect(consistent.Patch(ctx, &saasv1alpha1.SaaSTenant{ObjectMeta: first.ObjectMeta}, patch)).To(Succeed())
	tenants, err := fromCache.now(ctx, product.Name)
	g.Expect(names(tenants, err)).To(ConsistOf(first.Name, second.Name))
	for _, tenant := range tenants {
		if tenant.Name == first.Name {
			g.Expect(tenant.Annotations).To(HaveKeyWithValue(written, "yes"), "the write just made, without waiting")
		}
	}

	listed := productTenantsReader{consistent: consistent}
	g.Expect(names(listed.now(ctx, product.Name))).To(ConsistOf(first.Name, second.Name))
	g.Expect(names(listed.cached(ctx, product.Name))).To(ConsistOf(first.Name, second.Name))
}
