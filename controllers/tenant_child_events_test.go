package controllers

import (
	"context"
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/intern"
)

// tenantLabels are the labels that make an object a tenant's child.
func tenantLabels(id string) map[string]string {
	return map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel: id}
}

// rollingOut is a tenant's Deployment whose pod is not available yet;
// rolledOutCopy the same Deployment once it is (rolledOut), as
// kube-controller-manager reports it.
func rollingOut(id string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "t-" + id, Labels: tenantLabels(id), Generation: 1, ResourceVersion: "1"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1},
	}
}

func rolledOutCopy(id string) *appsv1.Deployment {
	d := rollingOut(id)
	d.ResourceVersion = "2"
	rolledOut(d)
	return d
}

// queued takes every tenant from q, in the order the controller would,
// with its priority.
func queued(q priorityqueue.PriorityQueue[reconcile.Request]) map[string]int {
	out := map[string]int{}
	for q.Len() > 0 {
		item, priority, _ := q.GetWithPriority()
		out[item.Name] = priority
		q.Done(item)
	}
	return out
}

// queuedByUpdate is what the tenant controller's watch of its children
// (its predicate, changedInCache, then its handler) queues for an update
// from before to after, with each priority. TestCachedQuotasHoldNoUsage
// checks the watch as the manager wires it.
func queuedByUpdate(before, after client.Object) map[string]int {
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	e := event.UpdateEvent{ObjectOld: before, ObjectNew: after}
	if changedInCache.Update(e) {
		tenantOfChildEvents(managerCache).Update(context.Background(), e, q)
	}
	return queued(q)
}

// A burst of purchases queues every new tenant's first pass; the pass that
// writes an earlier tenant's Ready once its workload is rolled out goes
// ahead of them, or the first buyer waits for the last.
func TestATenantWhoseWorkloadRolledOutIsQueuedAheadOfNewPurchases(t *testing.T) {
	ctx := context.Background()
	h := tenantOfChildEvents(managerCache)
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()

	// Two new tenants, queued in the order they were bought.
	q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: "bought-second"}})
	q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: "bought-third"}})
	// The first tenant's Deployment rolls out.
	h.Update(ctx, event.UpdateEvent{ObjectOld: rollingOut("bought-first"), ObjectNew: rolledOutCopy("bought-first")}, q)

	item, priority, _ := q.GetWithPriority()
	if item.Name != "bought-first" || priority != WorkloadCurrentPriority {
		t.Fatalf("first out of the queue: %s at priority %d; want bought-first at %d", item.Name, priority, WorkloadCurrentPriority)
	}
	q.Done(item)
	if got := queued(q); got["bought-second"] != 0 || got["bought-third"] != 0 || len(got) != 2 {
		t.Fatalf("the rest of the queue: %v; want the two new tenants at priority 0", got)
	}
}

// Only the update that makes a workload current moves its tenant ahead:
// churn in a tenant already running (a pod restarting, a scale) does not,
// so established tenants cannot hold new purchases back; objects that are
// not a tenant's queue nothing.
func TestOnlyAWorkloadBecomingCurrentMovesItsTenantAhead(t *testing.T) {
	completedJob := func(id string, done bool) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: "t-" + id, Labels: tenantLabels(id)}}
		if done {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
			j.Status.Succeeded = 1
		}
		return j
	}
	scaled := rolledOutCopy("running")
	scaled.Spec.Replicas = ptr.To[int32](2)
	rolledOut(scaled)
	scaled.ResourceVersion = "3"
	foreign := rolledOutCopy("x")
	foreign.Labels = nil
	foreignBefore := rollingOut("x")
	foreignBefore.Labels = nil
	// later is the same object a write later.
	later := func(d *appsv1.Deployment) *appsv1.Deployment {
		d.ResourceVersion = "3"
		return d
	}
	progressed := later(rollingOut("b"))
	progressed.Status.UnavailableReplicas = 1

	for _, tc := range []struct {
		name          string
		before, after client.Object
		want          map[string]int
	}{
		{"a Deployment rolled out", rollingOut("a"), rolledOutCopy("a"), map[string]int{"a": WorkloadCurrentPriority}},
		{"a Job completed", completedJob("j", false), completedJob("j", true), map[string]int{"j": WorkloadCurrentPriority}},
		{"a Deployment still rolling out", rollingOut("b"), progressed, map[string]int{"b": 0}},
		{"a running Deployment scaled", rolledOutCopy("running"), scaled, map[string]int{"running": 0}},
		{"a Deployment losing its pods", rolledOutCopy("failing"), later(rollingOut("failing")), map[string]int{"failing": 0}},
		{"a claim bound (its pod has still to start)", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: tenantLabels("c"), ResourceVersion: "1"},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: tenantLabels("c"), ResourceVersion: "2"},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}, map[string]int{"c": 0}},
		{"a Service (no rollout)", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: tenantLabels("s"), ResourceVersion: "1"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: tenantLabels("s"), ResourceVersion: "2"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}}, map[string]int{"s": 0}},
		{"not a tenant's", foreignBefore, foreign, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := queuedByUpdate(tc.before, tc.after); !maps.Equal(got, tc.want) {
				t.Fatalf("queued %v; want %v", got, tc.want)
			}
		})
	}
}

// The quota controller recounts a new tenant's usage as its pods,
// Services and Secrets appear, and an autoscaler's controller rewrites its
// metrics as the load moves. kooper caches neither (withoutUnreadStatus),
// so these updates queue no pass; a change kooper caches, a resync, and a
// change of a Deployment's status still do.
func TestAnUpdateKooperCachesNothingOfQueuesNoPass(t *testing.T) {
	quota := func(rv, usedPods string) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: "t-q", Labels: tenantLabels("q"), ResourceVersion: rv,
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Subresource: "status"}}},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}},
			Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")},
				Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(usedPods)}},
		}
	}
	// cached is obj as kooper's cache holds it: its transform's output.
	cached := func(obj client.Object) client.Object {
		out, err := withoutUnreadStatus(obj)
		if err != nil {
			t.Fatal(err)
		}
		return out.(client.Object)
	}
	relabelled := quota("3", "2")
	relabelled.Labels = maps.Clone(relabelled.Labels)
	relabelled.Labels["edited"] = "by-hand"
	autoscaler := func(rv string, utilization int32) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "t-h", Labels: tenantLabels("h"), ResourceVersion: rv, Generation: 1},
			Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{ObservedGeneration: ptr.To[int64](1), CurrentReplicas: 2,
				CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
					Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(utilization)}}}}},
		}
	}
	rolling, rolled := rollingOut("d"), rollingOut("d")
	rolled.ResourceVersion = "2"
	rolled.Status.ReadyReplicas = 1

	for _, tc := range []struct {
		name          string
		before, after client.Object
		want          map[string]int
	}{
		{"a quota's usage recounted", cached(quota("1", "0")), cached(quota("2", "2")), map[string]int{}},
		{"an autoscaler's load moved", cached(autoscaler("1", 40)), cached(autoscaler("2", 65)), map[string]int{}},
		{"a quota's labels edited", cached(quota("2", "2")), cached(relabelled), map[string]int{"q": 0}},
		{"a quota resynced (queued behind events, as controller-runtime does)", cached(quota("2", "2")), cached(quota("2", "2")), map[string]int{"q": handler.LowPriority}},
		{"a Deployment's status moved", rolling, rolled, map[string]int{"d": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := queuedByUpdate(tc.before, tc.after); !maps.Equal(got, tc.want) {
				t.Fatalf("queued %v; want %v", got, tc.want)
			}
		})
	}
}

// The place a rollout bought a tenant lasts one pass: the requeues the
// pass asks for (the expiry timer, a retry) go back to the ordinary
// priority, so tenants running for months do not all sit ahead of new
// purchases whenever their timers fire.
func TestATenantsRequeuesGoBackToTheOrdinaryPriority(t *testing.T) {
	r := &SaaSTenantReconciler{Client: k8sClient}
	result, err := r.Reconcile(testContext(t), reconcile.Request{NamespacedName: client.ObjectKey{Name: "no-such-tenant"}})
	if err != nil {
		t.Fatal(err)
	}
	if result.Priority == nil || *result.Priority != ordinaryPriority {
		t.Fatalf("the result's priority is %v; want %d", result.Priority, ordinaryPriority)
	}
}

// A product's TLS Secret maps to every tenant of the product. Another
// manager taking a share of it (a server-side apply of the same content)
// changes only its managed fields, which kooper does not cache: the
// predicate of the Secret and ConfigMap watches (changedInCache) lets it
// through to no tenant. A renewed certificate still passes.
func TestChangedInCacheSkipsANewOwnerAlone(t *testing.T) {
	secret := func(rv, manager, cert string) client.Object {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "kooper-system", ResourceVersion: rv,
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationApply}}},
			Data: map[string][]byte{corev1.TLSCertKey: []byte(cert)}}
		out, err := intern.CachedForm(s)
		if err != nil {
			t.Fatal(err)
		}
		return out.(client.Object)
	}
	if changedInCache.Update(event.UpdateEvent{ObjectOld: secret("1", "cert-manager", "a"), ObjectNew: secret("2", "argocd", "a")}) {
		t.Fatal("a change of owners alone passed")
	}
	if !changedInCache.Update(event.UpdateEvent{ObjectOld: secret("2", "cert-manager", "a"), ObjectNew: secret("3", "cert-manager", "b")}) {
		t.Fatal("a renewed certificate did not pass")
	}
}
