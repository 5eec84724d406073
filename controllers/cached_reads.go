package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// productTenantsReader reads every tenant of a product without copying one:
// a List through the cache, even without deep copies, copies each tenant
// into the list's items (728 bytes each: 7.3 MB at 10,000 tenants), where
// the informer's store hands out the cached objects themselves. The
// rollout's step read them so once a second while any tenant of the product
// changed: 28% of all the controllers allocated in a whole make bench
// (docs/benchmarks.md, 2026-12-05 evening).
//
// The objects are the cache's own: callers read them and never modify them.
type productTenantsReader struct {
	// consistent lists with controller-runtime's read-your-writes: a List of
	// it waits until the cache holds this process's own writes to tenants.
	consistent client.Reader
	// informers is the manager's cache, whose informers' stores are read;
	// nil (a reconciler built by hand in a test) lists through consistent.
	informers cache.Cache
}

// now returns the tenants of product once the cache shows this process's
// writes to tenants, so that a decision on them (a rollout's wave) is not
// made on a copy older than the last one it wrote. The wait is a List of
// at most one tenant; without informers, cached's List waits itself.
func (r productTenantsReader) now(ctx context.Context, product string) ([]*saasv1alpha1.SaaSTenant, error) {
	if r.informers != nil {
		one := &saasv1alpha1.SaaSTenantList{}
		if err := r.consistent.List(ctx, one, client.MatchingFields{productNameIndex: product}, client.Limit(1), client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
	}
	return r.cached(ctx, product)
}

// cached returns the tenants of product as the cache holds them, without
// waiting for it to show this process's writes: for an event handler,
// which must not block its informer, and maps a product to names that each
// reconcile reads again.
func (r productTenantsReader) cached(ctx context.Context, product string) ([]*saasv1alpha1.SaaSTenant, error) {
	if r.informers == nil {
		list := &saasv1alpha1.SaaSTenantList{}
		if err := r.consistent.List(ctx, list, client.MatchingFields{productNameIndex: product}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		return tenantPointers(list.Items), nil
	}
	all, err := cachedTenants(ctx, r.informers)
	if err != nil {
		return nil, err
	}
	// The store is scanned, not its index by product: the index's keys are
	// controller-runtime's internal format. Each tenant is a pointer here,
	// so the scan of 10,000 costs a slice of pointers, not their copies.
	tenants := all[:0]
	for _, t := range all {
		if t.Spec.ProductName == product {
			tenants = append(tenants, t)
		}
	}
	return tenants, nil
}

// requests maps product to a request for each of its tenants that keep
// reports true of, from the cache as it is (cached), for an event
// handler: a failed read is logged and maps to none.
func (r productTenantsReader) requests(ctx context.Context, product client.Object, keep func(*saasv1alpha1.SaaSTenant) bool) []reconcile.Request {
	tenants, err := r.cached(ctx, product.GetName())
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the tenants of a product", "SaaSProduct", product.GetName())
		return nil
	}
	requests := make([]reconcile.Request, 0, len(tenants))
	for _, t := range tenants {
		if keep(t) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Name: t.Name}})
		}
	}
	return requests
}

// tenantPointers points at each of items.
func tenantPointers(items []saasv1alpha1.SaaSTenant) []*saasv1alpha1.SaaSTenant {
	out := make([]*saasv1alpha1.SaaSTenant, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
