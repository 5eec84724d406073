package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/apply"
	"github.com/kooper-io/kooper/internal/intern"
)

// tenantConfigMapDeletions watches the deletion of the ConfigMaps kooper
// made in tenants' namespaces (kooper-config, a chart's ConfigMaps,
// kooper-notice), which the manager's cache leaves out (CacheOptions: their
// data may be large, and is read only when applied): one deleted by hand
// queues its tenant, which makes it again at once, rather than at the next
// event of another of its objects (or the informers' resync, hours later),
// while a pod that restarts meanwhile cannot mount it.
//
// It keeps only the objects' metadata, in their cached form (managed
// fields dropped, strings shared: intern.CachedForm), in a cache of its
// own: the manager's holds the ConfigMaps of kooper's namespace whole, and
// one cache configures one kind once. Only deletions pass: an edit of a
// ConfigMap's data changes no metadata kooper keeps, and a pass for every
// write of kooper's own would cost a new tenant passes.
func (r *SaaSTenantReconciler) tenantConfigMapDeletions(mgr ctrl.Manager) (source.Source, error) {
	managed := labels.SelectorFromSet(labels.Set{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue})
	configMaps := configMapMetadata()
	c, err := cache.New(mgr.GetConfig(), cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		ByObject:         map[client.Object]cache.ByObject{configMaps: {Label: managed}},
		DefaultTransform: intern.CachedForm})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return source.Kind(c, configMaps, configMapDeleted(&r.written)), nil
}

// configMapMetadata is a ConfigMap's metadata, as a metadata-only
// informer holds it.
func configMapMetadata() *metav1.PartialObjectMetadata {
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	return obj
}

// configMapDeleted queues the tenant of a deleted ConfigMap (tenantOfChild)
// and makes the apply memo forget it: kooper's last write of it, if recent,
// would otherwise vouch that it is in step. Creates, updates and generic
// events do nothing.
func configMapDeleted(memo *apply.Memo) handler.TypedEventHandler[*metav1.PartialObjectMetadata, reconcile.Request] {
	return handler.TypedFuncs[*metav1.PartialObjectMetadata, reconcile.Request]{
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*metav1.PartialObjectMetadata], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			requests := tenantOfChild(ctx, e.Object)
			if len(requests) == 0 {
				return
			}
			memo.Forget(schema.GroupKind{Kind: "ConfigMap"}, client.ObjectKeyFromObject(e.Object))
			for _, req := range requests {
				q.Add(req)
			}
		},
	}
}
