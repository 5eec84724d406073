package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/informer"
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
// copy (intern.CachedForm). Only the kinds cached in kooper's namespace
// alone, ConfigMaps and ControllerRevisions (which the rollout lists there),
// are indexed by namespace (informer.IndexedWhereNamespaced): the kinds cached
// across tenants' namespaces, or cluster-scoped, are read by name or listed
// across namespaces, and the index cost each of their objects about 300 bytes.
func CacheOptions(operatorNamespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, child := range TenantChildTypes() {
		// ByObject is keyed by pointer: one entry per kind, set here.
		byObject[child] = cache.ByObject{Label: managed, Transform: withoutUnreadStatus}
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
	// request. Directory shards, stored or delivered, are left out of both;
	// a directory's kooper-sso and kooper-directory (tenant.json), a few
	// KiB each, are cached in tenants' namespaces: watched, so one deleted
	// by hand is delivered again at once.
	tenantSecrets, _ := labels.Parse(saasv1alpha1.ManagedByLabel + "=" + saasv1alpha1.ManagedByValue + ",!" + saasv1alpha1.DirectoryPartLabel)
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
	return cache.Options{ByObject: byObject, DefaultTransform: intern.CachedForm,
		NewInformer: informer.IndexedWhereNamespaced(byObject)}
}

// withoutUnreadStatus keeps a tenant's object in its cached form
// (intern.CachedForm), less the status its controller keeps rewriting that
// kooper never reads. kstatus, which judges a chart's objects for the
// tenant's Available, reads of these kinds at most an observedGeneration
// (and a Reconciling or Stalled condition, which none of them sets):
//   - a ResourceQuota's usage, recounted as pods come and go (about 1.4 KiB
//     of each tenant's footprint in the controllers' heap);
//   - a HorizontalPodAutoscaler's metrics and replica counts, rewritten as
//     often as every 15 s while its load moves;
//   - a PodDisruptionBudget's healthy and allowed counts, recounted on
//     every pod change;
//   - a CronJob's last and active runs, rewritten on every schedule;
//   - an Ingress's load-balancer addresses, which its ingress controller
//     writes (kooper's URLs come from the product, not from these).
//
// With them gone, an update that changed only them is one kooper skips
// (unchangedInCache): it would queue a pass of the tenant that reads what
// the last pass read.
func withoutUnreadStatus(obj any) (any, error) {
	obj, err := intern.CachedForm(obj)
	switch o := obj.(type) {
	case *corev1.ResourceQuota:
		o.Status = corev1.ResourceQuotaStatus{}
	case *autoscalingv2.HorizontalPodAutoscaler:
		o.Status = autoscalingv2.HorizontalPodAutoscalerStatus{ObservedGeneration: o.Status.ObservedGeneration}
	case *policyv1.PodDisruptionBudget:
		o.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: o.Status.ObservedGeneration}
	case *batchv1.CronJob:
		o.Status = batchv1.CronJobStatus{}
	case *networkingv1.Ingress:
		o.Status = networkingv1.IngressStatus{}
	}
	return obj, err
}
