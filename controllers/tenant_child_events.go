package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/apply"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// WorkloadCurrentPriority is the tenant queue's priority (controller-runtime's
// priority queue; an ordinary event's is 0) of a tenant never Ready yet, a
// new purchase, one of whose workloads just became current: the tenant may
// now be Available, and Ready. Under a burst of purchases the pass that
// writes a new tenant's Ready would otherwise wait behind the first passes
// of every tenant bought after it: the first buyer would wait for the last.
// A tenant that was Ready once keeps the ordinary priority when a workload
// of its becomes current again (a pod restarted, a node back, an upgrade
// rolled out): after an outage of many tenants' pods, every established
// tenant would otherwise go ahead of the purchases waiting for their first
// Ready. The place lasts one pass.
const WorkloadCurrentPriority = 10

// ordinaryPriority is the priority queue's own for an event, and the one a
// tenant's requeues go back to.
const ordinaryPriority = 0

// tenantOfChildEvents maps the events of a tenant's objects to the tenant,
// as tenantOfChild does, and queues the tenant at WorkloadCurrentPriority
// when an update makes one of its workloads current and the tenant, read
// from tenants (the manager's cache), was never Ready.
func tenantOfChildEvents(tenants client.Reader) handler.EventHandler {
	return childEvents{EventHandler: handler.EnqueueRequestsFromMapFunc(tenantOfChild), tenants: tenants}
}

// tenantOfChildEventsForgetting is tenantOfChildEvents for the watch of
// the objects of kind, whose deletions also make written (the apply memo)
// forget them. A chart may render a kind in a version kooper does not
// cache (an autoscaling/v1 HPA beside the v2 informer): it is applied
// uncached, and the memo, keyed by group and kind, not version, vouches
// for kooper's write of it for a while. Its deletion by hand is seen in
// the cached version and queues the tenant; were the memo left as it is,
// that pass would take the object for in step and not make it again.
func tenantOfChildEventsForgetting(tenants client.Reader, kind schema.GroupKind, written *apply.Memo) handler.EventHandler {
	return childEvents{EventHandler: handler.EnqueueRequestsFromMapFunc(tenantOfChild), tenants: tenants, kind: kind, written: written}
}

// childEvents is tenantOfChildEvents' handler: the mapped handler's, but
// for an update that makes a new purchase's workload current, and a
// deletion, which written forgets when set.
type childEvents struct {
	handler.EventHandler
	tenants client.Reader
	kind    schema.GroupKind
	written *apply.Memo
}

// Delete implements handler.EventHandler. The memo forgets the object
// before its tenant is queued, so the pass cannot find it vouched for.
func (h childEvents) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if h.written != nil && e.Object != nil {
		h.written.Forget(h.kind, client.ObjectKeyFromObject(e.Object))
	}
	h.EventHandler.Delete(ctx, e, q)
}

// Update implements handler.EventHandler.
func (h childEvents) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request])
	tenant := tenantOfChild(ctx, e.ObjectNew) // at most one
	if !ok || len(tenant) != 1 || !becameCurrent(e.ObjectOld, e.ObjectNew) || !h.neverReady(ctx, tenant[0].NamespacedName) {
		h.EventHandler.Update(ctx, e, q)
		return
	}
	priority := WorkloadCurrentPriority
	pq.AddWithOpts(priorityqueue.AddOpts{Priority: &priority}, tenant...)
}

// neverReady reports whether the tenant was never Ready: it has no
// status.firstReadyTime (recordFirstReady) and its Ready is not True. A
// tenant that cannot be read (deleted, or not cached yet) counts as never
// Ready: moving it ahead costs one pass.
func (h childEvents) neverReady(ctx context.Context, key client.ObjectKey) bool {
	t := &saasv1alpha1.SaaSTenant{}
	if err := h.tenants.Get(ctx, key, t); err != nil {
		return true
	}
	return t.Status.FirstReadyTime == nil && !apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition)
}

// unchangedInCache reports whether an update changed nothing of a tenant's
// object as kooper caches it but its resourceVersion. The cache drops what
// kooper never reads (managed fields, and the status other controllers
// keep rewriting: withoutUnreadStatus), so a pass for such an update
// would read what the last one read.
// The quota controller recounts a new tenant's usage about three times as
// its pods, Services and Secrets appear: without this, each could queue
// another pass of the tenant (docs/benchmarks.md). A resync (the same
// resourceVersion) is not such an update: it passes as ever.
func unchangedInCache(before, after client.Object) bool {
	if before.GetResourceVersion() == after.GetResourceVersion() {
		return false
	}
	b, ok := before.DeepCopyObject().(client.Object) // a copy: the cache's objects are shared
	if !ok {
		return false
	}
	b.SetResourceVersion(after.GetResourceVersion())
	return apiequality.Semantic.DeepEqual(b, after)
}

// changedInCache passes every event but an update that changed nothing
// kooper caches (unchangedInCache), for the watches of a tenant's objects
// and those that map one object to many: a product's TLS Secret, say, to
// each of its tenants.
var changedInCache = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return !unchangedInCache(e.ObjectOld, e.ObjectNew)
}}

// becameCurrent reports whether an update moved a workload (a Deployment,
// StatefulSet or Job) from not current to current, as kstatus judges it,
// which is how the tenant's Available judges it. A claim is left out: it
// binds before the pod that mounts it can start, so its tenant is never
// Available by then. Other kinds, and objects kstatus cannot read, never
// become current here. The new object is judged first: most updates of a
// rollout leave it not current, and the old one need not be converted.
func becameCurrent(before, after client.Object) bool {
	gvk, ok := workloadKind(after)
	return ok && tenantobjects.Current(after, gvk) && !tenantobjects.Current(before, gvk)
}

// workloadKind is the kind of a workload whose rollout a tenant waits for.
// kstatus needs it to apply that kind's rules (replicas updated, ready and
// available; a Job complete), and objects from the cache carry no kind of
// their own.
func workloadKind(obj client.Object) (schema.GroupVersionKind, bool) {
	switch obj.(type) {
	case *appsv1.Deployment:
		return appsv1.SchemeGroupVersion.WithKind("Deployment"), true
	case *appsv1.StatefulSet:
		return appsv1.SchemeGroupVersion.WithKind("StatefulSet"), true
	case *batchv1.Job:
		return batchv1.SchemeGroupVersion.WithKind("Job"), true
	}
	return schema.GroupVersionKind{}, false
}
