package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// TestATenantOrLicenceFailingThroughALongOutageIsRetriedWithinAMinuteOfItsEnd:
// controller-runtime's own rate limiter doubles a failing object's wait from
// 5 ms up to 1000 s, so an object that failed through an outage of half an
// hour or more (the marketplace's licence upload or usage push, a chart
// registry, an admission webhook) was retried up to 16m40s after the
// dependency came back. The tenant, licence and metering controllers' rate
// limiter keeps the fast first retries (a write conflict) and caps the wait
// at retryMaxDelay.
func TestATenantOrLicenceFailingThroughALongOutageIsRetriedWithinAMinuteOfItsEnd(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{1, 5 * time.Millisecond},
		{2, 10 * time.Millisecond},
		{10, 5 * time.Millisecond << 9},  // 2.56 s
		{14, 5 * time.Millisecond << 13}, // 40.96 s
		{15, time.Minute},                // 81.92 s, past the cap
		{30, time.Minute},
		{1000, time.Minute},
	} {
		limiter := newRetryRateLimiter()
		item := reconcile.Request{NamespacedName: client.ObjectKey{Name: "i-failing"}}
		var wait time.Duration
		for range tc.failures {
			wait = limiter.When(item)
		}
		if wait != tc.want {
			t.Errorf("after %d failures the wait is %s; want %s", tc.failures, wait, tc.want)
		}
		limiter.Forget(item) // the pass succeeded
		if wait := limiter.When(item); wait != 5*time.Millisecond {
			t.Errorf("after %d failures and a success the next failure waits %s; want 5ms", tc.failures, wait)
		}
	}
}

// queuedByChildUpdate is what the tenant controller's watch of its
// children queues, with each priority, for an update of a tenant's object
// from before to after, the tenants read from the manager's cache as the
// controller reads them.
func queuedByChildUpdate(before, after client.Object) map[string]int {
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	tenantOfChildEvents(managerCache).Update(context.Background(), event.UpdateEvent{ObjectOld: before, ObjectNew: after}, q)
	return queued(q)
}

// podsBack is the update of a tenant's Deployment (as the API server holds
// it) whose pod comes back: before it, none available, as while a pod
// restarts or a node is down; after it, rolled out.
func podsBack(t *testing.T, tenant string) (before, after *appsv1.Deployment) {
	t.Helper()
	d := getObject(t, &appsv1.Deployment{}, "tenant-"+tenant, tenantobjects.AppName)
	before, after = d.DeepCopy(), d.DeepCopy()
	before.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1}
	rolledOut(after)
	after.ResourceVersion = d.ResourceVersion + "0" // a later write
	return before, after
}

// losePods reports a tenant's Deployment with no pod available, as
// kube-controller-manager does when a node or the whole cluster's tenant
// pods go down.
func losePods(t *testing.T, tenant string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		d := getObject(t, &appsv1.Deployment{}, "tenant-"+tenant, tenantobjects.AppName)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1}
		return k8sClient.Status().Update(testContext(t), d)
	}).Should(Succeed())
}

// TestPodsComingBackInATenantOnceReadyKeepTheOrdinaryPriority: a workload
// that becomes current again (a pod restarted, a node back) put its tenant
// ahead of new purchases whatever the tenant, so after an outage of many
// tenants' pods every established tenant jumped ahead of the purchases
// waiting for their first Ready. Only a tenant never Ready yet (a new
// purchase coming up) moves ahead now; one that was Ready, even if its
// pods' loss made it not Ready since, keeps the ordinary priority, as
// docs/architecture.md says.
func TestPodsComingBackInATenantOnceReadyKeepTheOrdinaryPriority(t *testing.T) {
	product := newTenantProduct(t, nil)
	ready := readyTenant(t, product, "basic")
	wasReady := readyTenant(t, product, "basic")
	losePods(t, wasReady.Name)
	eventuallyTenant(t, wasReady.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.IsStatusConditionFalse(tn.Status.Conditions, saasv1alpha1.ReadyCondition)).To(BeTrue(), "Ready after its pods were lost")
		g.Expect(tn.Status.FirstReadyTime).NotTo(BeNil())
	})
	bought := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, bought.Name, provisioned)

	for _, tc := range []struct {
		name, tenant string
		want         int
	}{
		{"a new purchase's first pod up", bought.Name, WorkloadCurrentPriority},
		{"a Ready tenant's pod restarted", ready.Name, ordinaryPriority},
		{"a tenant once Ready, its pods back after an outage", wasReady.Name, ordinaryPriority},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, after := podsBack(t, tc.tenant)
			// Eventually: the manager's cache may not hold the tenant's last status yet.
			NewWithT(t).Eventually(func() map[string]int { return queuedByChildUpdate(before, after) }).
				Should(Equal(map[string]int{tc.tenant: tc.want}))
		})
	}
}
