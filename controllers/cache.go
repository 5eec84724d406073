package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/intern"
)

// CacheOptions limits the manager's informers to what kooper reads: the
// Secrets and ConfigMaps of its own namespace (products' keys, TLS, image
// pull; the products ConfigMap) but directory shards, and of the tenant
// objects, Secrets included, only those labelled as kooper's. Tenant
// ConfigMaps are not cached: a tenant's configuration files may be large,
// and are read only when applied. Managed fields are dropped from cached objects: with server-side
// apply they are the larger part of each object, and kooper never reads them; and the strings
// and values that repeat from object to object (a tenant's labels, a plan's limits, say) share one
// copy (intern.CachedForm).
func CacheOptions(operatorNamespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, child := range TenantChildTypes() {
		// ByObject is keyed by pointer: one entry per kind, set here.
		children := cache.ByObject{Label: managed}
		if _, ok := child.(*corev1.ResourceQuota); ok {
			children.Transform = withoutQuotaUsage
		}
		byObject[child] = children
	}
	// Joint-operation directory shards (megabytes for a large enterprise)
	// are left out of both kinds and read directly, only when a sync
	// arrives: Secrets now, in kooper's namespace when it is also the
	// directory namespace; ConfigMaps as earlier versions stored them, until
	// the directory controller has moved them.
	notShards, _ := labels.Parse("!" + saasv1alpha1.DirectoryLabel) // a constant, valid selector
	// Secrets: kooper's namespace (products' keys, TLS and image-pull
	// sources, licence keys, the credentials key and earlier kooper's
	// credentials copies), and in every other
	// namespace those kooper made (a tenant's credentials, the copies of
	// the TLS and image-pull Secrets, a chart's Secrets): watched, so a copy
	// edited or deleted by hand is put back at once, and read without a
	// request. Delivered directory shards are left out of both.
	tenantSecrets, _ := labels.Parse(saasv1alpha1.ManagedByLabel + "=" + saasv1alpha1.ManagedByValue + ",!" + saasv1alpha1.DirectoryLabel)
	byObject[&corev1.Secret{}] = cache.ByObject{Namespaces: map[string]cache.Config{
		operatorNamespace:   {LabelSelector: notShards},
		cache.AllNamespaces: {LabelSelector: tenantSecrets},
	}}
	// The products ConfigMap, the tombstone shards and the ConfigMaps that
	// products' configuration files come from are read through the cache.
	// Tenants' own ConfigMaps (kooper-config) are not cached: only tenants
	// with configuration files have one, read when it is applied.
	byObject[&corev1.ConfigMap{}] = cache.ByObject{Namespaces: map[string]cache.Config{operatorNamespace: {}}, Label: notShards}
	// Product revisions (docs/rollout.md): kooper's own, in its namespace.
	byObject[&appsv1.ControllerRevision{}] = cache.ByObject{Namespaces: map[string]cache.Config{operatorNamespace: {}}, Label: managed}
	return cache.Options{ByObject: byObject, DefaultTransform: intern.CachedForm}
}

// withoutQuotaUsage keeps an object in its cached form (intern.CachedForm), and drops a ResourceQuota's status:
// what the quota controller counts as used of each limit, a quantity per
// resource, rewritten as pods come and go. kooper reads only what it
// applied, the spec; the status was about 1.4 KiB of each tenant's
// footprint in the controllers' heap (docs/benchmarks.md).
func withoutQuotaUsage(obj any) (any, error) {
	obj, err := intern.CachedForm(obj)
	if quota, ok := obj.(*corev1.ResourceQuota); ok {
		quota.Status = corev1.ResourceQuotaStatus{}
	}
	return obj, err
}
