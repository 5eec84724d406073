package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/credentials"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/testenv"
)

// Tests of DESIGN.md rule 10: stopping service never depends on
// configuration. Each starts from an input that left a tenant serving, or a
// licence valid, before: its plan, product, order or a Secret missing. Then
// the deletion of a tenant by hand, which used to take its data at once.

// readyTenant buys sku and waits until the tenant serves.
func readyTenant(t *testing.T, product *saasv1alpha1.SaaSProduct, sku string) *saasv1alpha1.SaaSTenant {
	t.Helper()
	tenant := newTenant(t, product, sku, nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	markAvailable(t, "tenant-"+tenant.Name)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	return tenant
}

// removePlan takes a plan out of the product, as a merchant editing it would.
func removePlan(t *testing.T, product *saasv1alpha1.SaaSProduct, sku string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		p := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), p); err != nil {
			return err
		}
		p.Spec.Plans = slices.DeleteFunc(p.Spec.Plans, func(plan saasv1alpha1.Plan) bool { return plan.SKUCode == sku })
		return k8sClient.Update(testContext(t), p)
	}).Should(Succeed())
}

// deleteForGood deletes obj and strips whatever finalizers hold it: a
// product deleted before kooper protected products in use, or whose
// finalizer someone removed by hand.
func deleteForGood(t *testing.T, obj client.Object) {
	t.Helper()
	g := NewWithT(t)
	g.Expect(client.IgnoreNotFound(k8sClient.Delete(testContext(t), obj))).To(Succeed())
	g.Eventually(func() bool {
		err := k8sClient.Patch(testContext(t), obj, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
		return apierrors.IsNotFound(err)
	}).Should(BeTrue())
}

// isGone reports whether obj no longer exists.
func isGone(t *testing.T, obj client.Object) func() bool {
	return func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object)))
	}
}

func setState(t *testing.T, name string, state saasv1alpha1.SubscriptionState) {
	t.Helper()
	updateTenant(t, name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = state })
}

// workloadRemoved checks that a release took the Deployment, Service and Ingress.
func workloadRemoved(t *testing.T, ns string) {
	t.Helper()
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}} {
		NewWithT(t).Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, obj))
		}).Should(BeTrue(), "%T must go", obj)
	}
}

func TestFreezeWorksWhenThePlanIsGone(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := readyTenant(t, product, "pro")
	ns := "tenant-" + tenant.Name
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(3)))
	removePlan(t, product, "pro")
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))

	answer := callback(t, product, fmt.Sprintf(`{"activity":"updateInstanceStatus","instanceId":%q,"status":"FREEZE"}`, tenant.Name))
	g.Expect(answer.Code).To(Equal("000000"), answer.Msg)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.FrozenReplicas).To(ConsistOf(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: tenantobjects.AppName, Replicas: 3}))
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
}

// An UNFREEZE whose tenant cannot be provisioned (its plan is gone) leaves
// the workload at zero, stalled: the tenant is meant to serve and does not.
// Before, Frozen=True (FrozenByMarketplace) stayed, so kubectl showed it
// frozen and kooper_tenants_not_ready_over_15m left it out (the alert
// never fired). Now Frozen goes with the decision and the tenant counts.
func TestAnUnfreezeThatCannotBeAppliedIsNotShownFrozen(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := readyTenant(t, product, "pro")
	ns := "tenant-" + tenant.Name
	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	removePlan(t, product, "pro")

	setState(t, tenant.Name, saasv1alpha1.StateActive)
	stalled := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason)(g, tn)
		g.Expect(tn.Status.ObservedGeneration).To(Equal(tn.Generation))
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil(), "unfrozen: no longer meant to be frozen")
	})
	g.Expect(deploymentReplicas(t, ns)()).To(Equal(int32(0)), "not provisioned again: the plan is gone")
	g.Expect(notReadySince(stalled, fakeClock.Now().Add(time.Hour))).To(BeNumerically(">", 0), "counted by the not-ready alert")
}

// expiringTenant is a provisioned tenant of plan pro (3 replicas) whose
// expireTime is a day after the suite's clock, with an hour's grace.
func expiringTenant(t *testing.T) (*saasv1alpha1.SaaSProduct, *saasv1alpha1.SaaSTenant, metav1.Time) {
	t.Helper()
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Expiry.GraceSeconds = ptr.To[int32](3600) })
	expiry := metav1.NewTime(fakeClock.Now().Add(24 * time.Hour).UTC().Truncate(time.Second))
	tenant := newTenant(t, product, "pro", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &expiry })
	eventuallyTenant(t, tenant.Name, provisioned)
	NewWithT(t).Eventually(deploymentReplicas(t, "tenant-"+tenant.Name)).Should(Equal(int32(3)))
	return product, tenant, expiry
}

func TestTheExpirySafetyNetWorksWhenThePlanIsGone(t *testing.T) {
	g := NewWithT(t)
	restoreClockAfter(t)
	product, tenant, expiry := expiringTenant(t)
	ns := "tenant-" + tenant.Name
	removePlan(t, product, "pro")
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))

	fakeClock.SetTime(expiry.Add(2 * time.Hour))
	poke(t, tenant)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByExpiryReason))
	hasCondition(saasv1alpha1.ExpiredCondition, metav1.ConditionTrue, saasv1alpha1.ExpiredReason)(g, frozen)
}

// TestTheExpirySafetyNetFreezesOnlyOnTheStoredTenant: a renewal moved the
// tenant's expiry, and the cache has not delivered it yet. The safety net,
// which would scale a paying buyer's workload to zero on kooper's own word,
// decides on the tenant as the API server holds it: nothing is frozen, and
// the pass runs again once the cache caught up.
func TestTheExpirySafetyNetFreezesOnlyOnTheStoredTenant(t *testing.T) {
	g := NewWithT(t)
	_, tenant, expiry := expiringTenant(t)
	stale := eventuallyTenant(t, tenant.Name, func(Gomega, *saasv1alpha1.SaaSTenant) {})
	renewed := metav1.NewTime(expiry.Add(365 * 24 * time.Hour))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &renewed })

	writes := &workloadWrites{Client: testenv.CacheBehind{Client: k8sClient, Old: stale}}
	r := tenantReconcilerLikeSetup(t, writes)
	r.Clock = clocktesting.NewFakeClock(expiry.Add(2 * time.Hour)) // past the expiry the cache shows, and its grace
	result, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(stale)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.RequeueAfter).To(Equal(conflictRequeueDelay), "again once the cache caught up")
	g.Expect(writes.names).To(BeEmpty(), "the renewed buyer's workload was not scaled to zero, not even for a moment")
}

// workloadWrites records the tenant workloads written through it.
type workloadWrites struct {
	client.Client
	names []string
}

func (c *workloadWrites) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if obj.GetNamespace() != "" && obj.GetName() == tenantobjects.AppName {
		c.names = append(c.names, obj.GetNamespace()+"/"+obj.GetName())
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func TestFreezeWorksWhenTheCopiedTLSSecretIsGone(t *testing.T) {
	g := NewWithT(t)
	tls := copyableTLSSecret()
	g.Expect(k8sClient.Create(testContext(t), tls)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Ingress.TLSSecretName = tls.Name })
	tenant := readyTenant(t, product, "basic")
	ns := "tenant-" + tenant.Name
	getObject(t, &corev1.Secret{}, ns, tenantobjects.TLSSecretName)

	g.Expect(k8sClient.Delete(testContext(t), tls)).To(Succeed())
	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
}

func TestReleaseWorksWhenThePlanIsGone(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](10) })
	tenant := readyTenant(t, product, "pro")
	ns := "tenant-" + tenant.Name
	removePlan(t, product, "pro")
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))

	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	released := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Expect(released.Status.RetainUntil.Time).To(BeTemporally("~", fakeClock.Now().Add(10*24*time.Hour), time.Minute))
	hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadRemovedReason)(g, released)
	workloadRemoved(t, ns)
	g.Expect(getObject(t, &corev1.Namespace{}, "", ns).Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
}

func TestReleaseWorksWhenTheOrderNeverResolved(t *testing.T) {
	product := newTenantProduct(t, nil)
	orderID := fmt.Sprintf("CS%dNEVER", tenantSeq.Add(1)) // Query Order never knows it
	id := fmt.Sprintf("i-%d", tenantSeq.Add(1))
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec:       saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: product.Name, OrderID: orderID, OrderLineID: orderID + "-000001"},
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), tenant)).To(Succeed())
	eventuallyTenant(t, id, hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason))

	setState(t, id, saasv1alpha1.StateReleased)
	eventuallyTenant(t, id, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.DataDeletedReason))
}

func TestReleaseWorksWhenTheProductIsGone(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](7) })
	tenant := readyTenant(t, product, "basic")
	ns := "tenant-" + tenant.Name
	deleteForGood(t, product)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))

	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	released := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Expect(released.Status.RetainUntil.Time).To(BeTemporally("~", fakeClock.Now().Add(7*24*time.Hour), time.Minute),
		"the retention the tenant recorded applies")
	workloadRemoved(t, ns)
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
}

func TestDeletingATenantByHandKeepsItsDataEvenUnderDelete(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.RetentionPolicy = saasv1alpha1.DeleteData
		p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](7)
	})
	tenant := readyTenant(t, product, "basic")
	ns := "tenant-" + tenant.Name

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	g.Eventually(isGone(t, tenant)).Should(BeTrue())
	namespace := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(namespace.DeletionTimestamp).To(BeNil(), "a deletion by hand must not take the data at once")
	g.Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	deleteAfter, err := time.Parse(time.RFC3339, namespace.Annotations[saasv1alpha1.DeleteAfterAnnotation])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(deleteAfter).To(BeTemporally("~", fakeClock.Now().Add(7*24*time.Hour), time.Minute))
	workloadRemoved(t, ns)
}

func TestDeletingATenantByHandDeletesItsDataWhenTheProductSaysSo(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.OnHandDeletion = saasv1alpha1.HandDeletionDelete
	})
	tenant := readyTenant(t, product, "basic")

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	g.Eventually(isGone(t, tenant)).Should(BeTrue())
	g.Eventually(func() *metav1.Time {
		return getObject(t, &corev1.Namespace{}, "", "tenant-"+tenant.Name).DeletionTimestamp
	}).ShouldNot(BeNil())
	expectMarkedForDeletion(t, "tenant-"+tenant.Name)
}

func TestHandDeletionRetention(t *testing.T) {
	days := ptr.To[int32](7)
	for _, tc := range []struct {
		name        string
		mode        saasv1alpha1.RequestMode
		annotations map[string]string
		policy      saasv1alpha1.ReleasePolicy
		want        retention
	}{
		{"Retain keeps the data for the retention days", saasv1alpha1.ModeProduction, nil,
			saasv1alpha1.ReleasePolicy{RetentionPolicy: saasv1alpha1.DeleteData, RetentionDays: days, OnHandDeletion: saasv1alpha1.HandDeletionRetain}, retention{days: 7}},
		{"a policy recorded without days keeps the schema's 15", saasv1alpha1.ModeProduction, nil,
			saasv1alpha1.ReleasePolicy{RetentionPolicy: saasv1alpha1.RetainData}, retention{days: 15}},
		{"Delete deletes it at once", saasv1alpha1.ModeProduction, nil,
			saasv1alpha1.ReleasePolicy{RetentionPolicy: saasv1alpha1.RetainData, RetentionDays: days, OnHandDeletion: saasv1alpha1.HandDeletionDelete}, retention{deleteNow: true}},
		{"the debug TTL's own deletion deletes it at once", saasv1alpha1.ModeDebug, map[string]string{saasv1alpha1.DebugTTLExpiredAnnotation: "2026-01-01T00:00:00Z"},
			saasv1alpha1.ReleasePolicy{RetentionPolicy: saasv1alpha1.RetainData, RetentionDays: days, OnHandDeletion: saasv1alpha1.HandDeletionRetain}, retention{deleteNow: true}},
		// The mark on a production tenant came from a copied manifest or a
		// kubectl annotate: a buyer's data is kept as for any hand deletion.
		{"the debug TTL's mark on a production tenant keeps its data", saasv1alpha1.ModeProduction, map[string]string{saasv1alpha1.DebugTTLExpiredAnnotation: "2026-01-01T00:00:00Z"},
			saasv1alpha1.ReleasePolicy{RetentionPolicy: saasv1alpha1.RetainData, RetentionDays: days, OnHandDeletion: saasv1alpha1.HandDeletionRetain}, retention{days: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}, Spec: saasv1alpha1.SaaSTenantSpec{Mode: tc.mode}}
			NewWithT(t).Expect(handDeletionRetention(tenant, tc.policy)).To(Equal(tc.want))
		})
	}
}

// Only kooper's own deletion of a debug tenant, when its TTL passes, takes
// the data (TestDebugTenantsGoAfterTheirTTL); a deletion by hand does not.
func TestADebugTenantDeletedByHandKeepsItsData(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Debug = &saasv1alpha1.DebugPolicy{TTLSeconds: ptr.To[int32](3600), SKUCode: "basic"}
	})
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.Mode = saasv1alpha1.ModeDebug })
	eventuallyTenant(t, tenant.Name, provisioned)

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	g.Eventually(isGone(t, tenant)).Should(BeTrue())
	namespace := getObject(t, &corev1.Namespace{}, "", "tenant-"+tenant.Name)
	g.Expect(namespace.DeletionTimestamp).To(BeNil())
	g.Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
}

func TestAFrozenOrReleasedLicenceIsRevokedWithoutItsProduct(t *testing.T) {
	for _, tc := range []struct {
		state     saasv1alpha1.SubscriptionState
		condition string
	}{
		{saasv1alpha1.StateFrozen, saasv1alpha1.FrozenCondition},
		{saasv1alpha1.StateReleased, saasv1alpha1.ReleasedCondition},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			product, _ := newLicenseProduct(t, true)
			l := newLicense(t, product, "basic")
			eventuallyLicense(t, l.Name, licenseReady)
			deleteForGood(t, product)
			eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))

			updateLicense(t, l.Name, func(l *saasv1alpha1.License) { l.Spec.State = tc.state })
			revoked := eventuallyLicense(t, l.Name, licenseHas(tc.condition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))
			licenseHas(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.RevokedReason)(NewWithT(t), revoked)
		})
	}
}

// The namespace, and a chart tenant's inventory, are written to the stored
// status in one write before anything is created, against the version read:
// teardown and pruning, which work from that record alone, then find
// whatever a reconcile stopped half-way leaves behind.
func TestTheNamespaceAndInventoryAreRecordedBeforeProvisioning(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tenant := newStalledTenant(t)
	r := &SaaSTenantReconciler{Client: k8sClient, Clock: clock.RealClock{}}

	stale := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), stale)).To(Succeed())
	var recorded *saasv1alpha1.SaaSTenant
	inventory := []saasv1alpha1.InventoryEntry{{Group: "apps", Kind: "Deployment", Name: "web"}}
	g.Eventually(func() error {
		recorded = &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), recorded); err != nil {
			return err
		}
		return r.recordBeforeApply(ctx, reconcileStateOf(recorded), "tenant-recorded", inventory)
	}).Should(Succeed())
	g.Expect(recorded.Status.Namespace).To(Equal("tenant-recorded"))
	g.Expect(recorded.Status.Inventory).To(Equal(inventory))

	stored := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
	g.Expect(stored.Status.Namespace).To(Equal("tenant-recorded"))
	g.Expect(stored.Status.Inventory).To(Equal(inventory))
	g.Expect(stored.ResourceVersion).To(Equal(recorded.ResourceVersion), "the tenant takes the version it wrote")
	g.Expect(r.recordBeforeApply(ctx, reconcileStateOf(recorded), "tenant-recorded", nil)).To(Succeed(), "nothing new: no write")
	g.Expect(recorded.ResourceVersion).To(Equal(stored.ResourceVersion))

	err := r.recordBeforeApply(ctx, reconcileStateOf(stale), "tenant-from-a-stale-read", nil)
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "want a Conflict, got %v", err)
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
	g.Expect(stored.Status.Namespace).To(Equal("tenant-recorded"))
}

// A tenant's password is derived from the credentials key, which the
// receiver caches: no copy of the credentials is made in kooper's
// namespace (one create per tenant fewer), and status names the key.
func TestATenantsPasswordIsDerivedFromTheCredentialsKey(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := readyTenant(t, product, "basic")
	keySecret := getObject(t, &corev1.Secret{}, operatorNamespace, saasv1alpha1.CredentialsKeySecretName)
	g.Expect(keySecret.Labels).To(HaveKeyWithValue(saasv1alpha1.KeysLabel, "true"), "the receiver caches it")
	key, err := credentials.NewKey(keySecret.Data[saasv1alpha1.CredentialsKeySecretKey])
	g.Expect(err).NotTo(HaveOccurred())
	password, err := key.Password(tenant.Spec.InstanceID)
	g.Expect(err).NotTo(HaveOccurred())

	original := getObject(t, &corev1.Secret{}, "tenant-"+tenant.Name, tenantobjects.CredentialsSecretName)
	g.Expect(string(original.Data[saasv1alpha1.CredentialsPasswordKey])).To(Equal(password))
	g.Expect(string(original.Data[saasv1alpha1.CredentialsUsernameKey])).To(Equal(credentials.Username))
	g.Expect(getObject(t, &saasv1alpha1.SaaSTenant{}, "", tenant.Name).Status.CredentialsKeyID).To(Equal(key.ID()))
	err = k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: saasv1alpha1.CredentialsCopyName(tenant.Name)}, &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no copy: %v", err)

	// The receiver, from the key the controllers made, gives the buyer the
	// password the tenant's Secret holds.
	var app *koogallery.AppInfo
	g.Eventually(func() *koogallery.AppInfo { app = queriedAppInfo(t, product, tenant.Name); return app }).ShouldNot(BeNil())
	g.Expect(koogallery.Decrypt(completeKeys[saasv1alpha1.BasicKeySecretKey], koogallery.EncryptAES256, app.Password)).To(Equal(password))
}

// A tenant an earlier kooper provisioned keeps the password it drew at
// random, and a copy of it for the receiver until release: found before
// status names the Secret (an upgrade while its status write waited for
// Ready), and restored from the copy once it does.
func TestAnEarlierTenantsCopiedCredentialsStayUntilRelease(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	d := bareTenantNamespace(t, "i-copied")
	id, tenant, ns := d.Tenant.Name, d.Tenant, d.Namespace
	drawn := map[string][]byte{saasv1alpha1.CredentialsUsernameKey: []byte("admin"), saasv1alpha1.CredentialsPasswordKey: []byte("drawn-at-random")}
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: d.Meta(tenantobjects.CredentialsSecretName), Data: drawn})).To(Succeed())
	r := &SaaSTenantReconciler{Client: cachedClient, Reader: k8sClient, Options: TenantOptions{SecretNamespace: operatorNamespace}}

	g.Expect(r.ensureCredentials(ctx, d)).To(Succeed())
	copied := getObject(t, &corev1.Secret{}, operatorNamespace, saasv1alpha1.CredentialsCopyName(id))
	g.Expect(copied.Data).To(Equal(drawn))
	g.Expect(copied.Labels).To(HaveKeyWithValue(saasv1alpha1.CredentialsCopyLabel, id))
	g.Expect(tenant.Status.CredentialsKeyID).To(BeEmpty(), "its password is not derived")

	tenant.Status.CredentialsSecretName = tenantobjects.CredentialsSecretName
	g.Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: d.Meta(tenantobjects.CredentialsSecretName)})).To(Succeed())
	// Each pass, as the deletion would trigger them, until the cache has
	// seen the deletion.
	g.Eventually(func() (map[string][]byte, error) {
		return secretData(t, ns, tenantobjects.CredentialsSecretName)(), r.ensureCredentials(ctx, d)
	}).Should(Equal(drawn), "restored from the copy")

	g.Expect(r.removeCredentialsCopy(ctx, tenant)).To(Succeed())
	g.Eventually(isGone(t, copied)).Should(BeTrue())
}

// reconcileStateOf is the state a reconcile of t starts with.
func reconcileStateOf(t *saasv1alpha1.SaaSTenant) *tenantState {
	return &tenantState{tenant: t, stored: t.DeepCopy()}
}

// The credentials key's Secret is made once, labelled as keys (the
// receiver caches it); made again, it is read, not replaced. Gone while a
// tenant's status names a key, it is not made again: that tenant's buyer
// would be given a password that does not open the tenant. New tenants
// wait for it; a provisioned one goes on without it.
func TestTheCredentialsKeyIsMadeOnceAndNeverReplaced(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	fresh := func() string {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kooper-key-%d", tenantSeq.Add(1))}}
		g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		return ns.Name
	}
	made := &SaaSTenantReconciler{Client: cachedClient, Reader: k8sClient, Options: TenantOptions{SecretNamespace: fresh()}}
	ref := client.ObjectKey{Namespace: made.Options.SecretNamespace, Name: saasv1alpha1.CredentialsKeySecretName}
	first, err := made.createCredentialsKey(ctx, ref)
	g.Expect(err).NotTo(HaveOccurred())
	again, err := made.createCredentialsKey(ctx, ref)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.ID()).To(Equal(first.ID()), "the key made first stays")
	stored := getObject(t, &corev1.Secret{}, ref.Namespace, ref.Name)
	g.Expect(stored.Labels).To(HaveKeyWithValue(saasv1alpha1.KeysLabel, "true"))
	g.Expect(stored.Data[saasv1alpha1.CredentialsKeySecretKey]).To(HaveLen(credentials.KeySize))

	// A tenant whose status names a key, and a namespace without the key.
	named := newTenant(t, newTenantProduct(t, nil), "basic", nil)
	eventuallyTenant(t, named.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.CredentialsKeyID).NotTo(BeEmpty())
	})
	lost := &SaaSTenantReconciler{Client: cachedClient, Reader: k8sClient, Options: TenantOptions{SecretNamespace: fresh()}}
	_, err = lost.credentialsKey(ctx)
	g.Expect(err).To(MatchError(ContainSubstring("restore it from a backup")))
	g.Expect(lost.ensureCredentials(ctx, bareTenantNamespace(t, "i-keyless"))).To(MatchError(ContainSubstring("restore it from a backup")),
		"a new tenant is not provisioned with another key")
	recorded := getObject(t, &saasv1alpha1.SaaSTenant{}, "", named.Name)
	g.Eventually(func() error { // once the cache holds its Secret
		return lost.ensureCredentials(ctx, &tenantobjects.Desired{Tenant: recorded, Namespace: recorded.Status.Namespace})
	}).Should(Succeed(), "a tenant whose Secret is there needs no key: a lost key stops no freeze")
	err = k8sClient.Get(ctx, client.ObjectKey{Namespace: lost.Options.SecretNamespace, Name: saasv1alpha1.CredentialsKeySecretName}, &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no key is made: %v", err)
}

// The workers that miss the credentials key at once (the first tenants of
// an installation, bought together) share one look at the API server and
// one create: each of eight used to list every tenant, and seven had their
// create refused and read the key back (docs/benchmarks.md, 2026-12-03).
func TestWorkersMissingTheCredentialsKeyShareOneLookAndOneCreate(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kooper-key-%d", tenantSeq.Add(1))}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())

	var gets, lists, creates atomic.Int32
	direct, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: k8sClient.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	reader := interceptor.NewClient(direct, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gets.Add(1)
			return c.Get(ctx, key, obj, opts...)
		},
		// As in a new installation: no tenant's status names a key yet.
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			lists.Add(1)
			return nil
		},
	})
	// A cache that shows the key only 300 ms after its create: the passes
	// right after the flight must not each start one of their own.
	var created atomic.Pointer[time.Time]
	counting := interceptor.NewClient(withWatch{cachedClient}, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			creates.Add(1)
			err := c.Create(ctx, obj, opts...)
			now := time.Now()
			created.Store(&now)
			return err
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if at := created.Load(); key.Name == saasv1alpha1.CredentialsKeySecretName && (at == nil || time.Since(*at) < 300*time.Millisecond) {
				return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	r := &SaaSTenantReconciler{Client: counting, Reader: reader, Options: TenantOptions{SecretNamespace: ns.Name}}

	const workers = 8
	ids, errs := make([]string, workers), make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			key, err := r.credentialsKey(ctx)
			ids[i], errs[i] = key.ID(), err
		})
	}
	wg.Wait()
	g.Expect(errors.Join(errs...)).NotTo(HaveOccurred())
	g.Expect(ids).To(HaveEach(ids[0]), "every worker has the one key made")
	g.Expect(creates.Load()).To(BeEquivalentTo(1), "one create")
	g.Expect(gets.Load()).To(BeEquivalentTo(1), "one read around the cache")
	g.Expect(lists.Load()).To(BeEquivalentTo(1), "one list of the tenants")

	// The flight waited for the cache to show the key it made: the pass
	// right after it reads it there, with no request.
	key, err := r.credentialsKey(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key.ID()).To(Equal(ids[0]))
	g.Expect(gets.Load()+lists.Load()+creates.Load()).To(BeEquivalentTo(3), "no request: the flight waited for the cache to show the key it made")
}

// withWatch gives a client.Client the Watch interceptor.NewClient asks
// for; nothing here watches.
type withWatch struct{ client.Client }

func (withWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("not watched")
}

// A release under retentionPolicy Delete, or a deletion by hand under
// onHandDeletion Delete, takes the data at once, so the policy is the
// product's as the API server holds it (docs/lifecycle.md rule A): a
// merchant who switched to Retain just before, which the cache has not seen
// yet, keeps the data for the retention days.
func TestDeletingDataAtOnceIsDecidedOnTheProductTheAPIServerHolds(t *testing.T) {
	for _, tc := range []struct {
		name         string
		deleteAtOnce func(*saasv1alpha1.ReleasePolicy)
		retain       func(*saasv1alpha1.ReleasePolicy)
		run          func(ctx context.Context, r *SaaSTenantReconciler, tenant *saasv1alpha1.SaaSTenant) error
	}{
		{"a release under retentionPolicy",
			func(p *saasv1alpha1.ReleasePolicy) { p.RetentionPolicy = saasv1alpha1.DeleteData },
			func(p *saasv1alpha1.ReleasePolicy) { p.RetentionPolicy = saasv1alpha1.RetainData },
			func(ctx context.Context, r *SaaSTenantReconciler, tenant *saasv1alpha1.SaaSTenant) error {
				return r.release(ctx, reconcileStateOf(tenant)).err
			}},
		{"a deletion by hand under onHandDeletion",
			func(p *saasv1alpha1.ReleasePolicy) { p.OnHandDeletion = saasv1alpha1.HandDeletionDelete },
			func(p *saasv1alpha1.ReleasePolicy) { p.OnHandDeletion = saasv1alpha1.HandDeletionRetain },
			func(ctx context.Context, r *SaaSTenantReconciler, tenant *saasv1alpha1.SaaSTenant) error {
				return r.releaseOnDelete(ctx, tenant)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := testContext(t)
			product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
				tc.deleteAtOnce(&p.Spec.Lifecycle.Release)
				p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](7)
			})
			stale := getObject(t, &saasv1alpha1.SaaSProduct{}, "", product.Name)
			g.Eventually(func() error {
				p := &saasv1alpha1.SaaSProduct{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(product), p); err != nil {
					return err
				}
				tc.retain(&p.Spec.Lifecycle.Release)
				return k8sClient.Update(ctx, p)
			}).Should(Succeed())

			d := bareTenantNamespace(t, "i-switched")
			tenant := d.Tenant
			tenant.Spec.ProductName, tenant.Spec.State, tenant.Status.Namespace = product.Name, saasv1alpha1.StateReleased, d.Namespace
			// A reconciler whose cache still shows the product deleting the data.
			r := &SaaSTenantReconciler{Client: testenv.CacheBehind{Client: k8sClient, Old: stale}, Reader: k8sClient, Scheme: k8sClient.Scheme(),
				Clock: fakeClock, Options: TenantOptions{SecretNamespace: operatorNamespace, FieldOwner: fieldOwner}}

			g.Expect(tc.run(ctx, r, tenant)).To(Succeed())
			namespace := getObject(t, &corev1.Namespace{}, "", d.Namespace)
			g.Expect(namespace.DeletionTimestamp).To(BeNil(), "Retain, as the merchant set it: the data is kept")
			deleteAfter, err := time.Parse(time.RFC3339, namespace.Annotations[saasv1alpha1.DeleteAfterAnnotation])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(deleteAfter).To(BeTemporally("~", fakeClock.Now().Add(7*24*time.Hour), time.Minute))
			g.Expect(tenant.Status.Lifecycle.Release).To(Equal(asStored(t, product).Spec.Lifecycle.Release), "status records the policy applied")
		})
	}
}

// asStored is obj as the API server holds it.
func asStored[T client.Object](t *testing.T, obj T) T {
	t.Helper()
	fresh := obj.DeepCopyObject().(T)
	NewWithT(t).Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(obj), fresh)).To(Succeed())
	return fresh
}

// TestRemovingTheDeleteAfterMarkKeepsTheNamespace: the promise of
// api/v1alpha1.DeleteAfterAnnotation and docs/concepts.md: a person who
// removes a released tenant's delete-after mark keeps its data until they
// delete it. kooper put the mark back at once, with the same date, and the
// data went then.
func TestRemovingTheDeleteAfterMarkKeepsTheNamespace(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](7) })
	tenant := readyTenant(t, product, "basic")
	ns := "tenant-" + tenant.Name
	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Expect(getObject(t, &corev1.Namespace{}, "", ns).Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))

	unmark := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, saasv1alpha1.DeleteAfterAnnotation))
	g.Expect(k8sClient.Patch(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		client.RawPatch(types.MergePatchType, unmark))).To(Succeed())
	withdrawn := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetentionWithdrawnReason))
	g.Expect(withdrawn.Status.RetainUntil).To(BeNil())
	marked := func() map[string]string { return getObject(t, &corev1.Namespace{}, "", ns).Annotations }
	g.Consistently(marked, 2*time.Second).ShouldNot(HaveKey(saasv1alpha1.DeleteAfterAnnotation))

	// Nor does a later switch of the product to Delete take the data.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionPolicy = saasv1alpha1.DeleteData })
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Lifecycle.Release.RetentionPolicy).To(Equal(saasv1alpha1.DeleteData))
	})
	g.Consistently(func() *metav1.Time { return getObject(t, &corev1.Namespace{}, "", ns).DeletionTimestamp }, 2*time.Second).Should(BeNil())

	// A date put back (under Retain again) hands the namespace to the
	// retention again, at that date.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionPolicy = saasv1alpha1.RetainData })
	later := fakeClock.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	mark := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, saasv1alpha1.DeleteAfterAnnotation, later.Format(time.RFC3339)))
	g.Expect(k8sClient.Patch(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		client.RawPatch(types.MergePatchType, mark))).To(Succeed())
	remarked := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Expect(remarked.Status.RetainUntil.Time).To(BeTemporally("==", later))
}

// TestADeletionByHandKeepsANamespaceWhoseMarkWasRemoved: the record of a
// released tenant whose delete-after mark a person removed is deleted by
// hand (a cleanup). The withdrawal still stands: kooper marked the
// namespace again, for the retention days or, under onHandDeletion:
// Delete, for now, and deleted it.
func TestADeletionByHandKeepsANamespaceWhoseMarkWasRemoved(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](7)
		p.Spec.Lifecycle.Release.OnHandDeletion = saasv1alpha1.HandDeletionDelete
	})
	tenant := readyTenant(t, product, "basic")
	ns := "tenant-" + tenant.Name
	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	unmark := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, saasv1alpha1.DeleteAfterAnnotation))
	g.Expect(k8sClient.Patch(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		client.RawPatch(types.MergePatchType, unmark))).To(Succeed())
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetentionWithdrawnReason))

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	g.Eventually(isGone(t, tenant)).Should(BeTrue())
	namespace := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(namespace.DeletionTimestamp).To(BeNil(), "kept until deleted by hand")
	g.Expect(namespace.Annotations).NotTo(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
}

// releasedAndRetained is a ready tenant of a product that keeps data ten
// days, released: its namespace carries kooper's delete-after mark.
func releasedAndRetained(t *testing.T) (*saasv1alpha1.SaaSTenant, *corev1.Namespace) {
	t.Helper()
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](10) })
	tenant := readyTenant(t, product, "basic")
	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	tenant = eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	ns := getObject(t, &corev1.Namespace{}, "", tenant.Status.Namespace)
	NewWithT(t).Expect(ns.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	return tenant, ns
}

// TestADeletionAtOnceDecidesOnTheStoredNamespace: a person withdrew the
// delete-after mark of a released tenant's namespace, to keep its data,
// and the cache still shows the mark when a deletion at once is decided
// (a kubectl delete of the tenant under onHandDeletion: Delete). Before,
// the cached mark was taken as leave and the namespace deleted without a
// precondition; now the API server's copy decides, and the data stays.
// Likewise a date on the namespace that is still ahead stands: the
// retention controller deletes the namespace then, not at once.
func TestADeletionAtOnceDecidesOnTheStoredNamespace(t *testing.T) {
	t.Run("a withdrawn mark the cache still shows", func(t *testing.T) {
		g := NewWithT(t)
		tenant, stale := releasedAndRetained(t)
		withdrawn := stale.DeepCopy()
		delete(withdrawn.Annotations, saasv1alpha1.DeleteAfterAnnotation)
		g.Expect(k8sClient.Update(testContext(t), withdrawn)).To(Succeed())

		r := tenantReconcilerLikeSetup(t, testenv.CacheBehind{Client: k8sClient, Old: stale})
		fate, _, err := r.releaseData(testContext(t), tenant, retention{deleteNow: true}, fakeClock.Now(), true)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fate).To(Equal(dataKept))
		g.Expect(getObject(t, &corev1.Namespace{}, "", stale.Name).GetDeletionTimestamp()).To(BeNil(), "the withdrawn namespace was deleted")
	})
	t.Run("a date still ahead", func(t *testing.T) {
		g := NewWithT(t)
		tenant, ns := releasedAndRetained(t)
		r := tenantReconcilerLikeSetup(t, k8sClient)
		fate, until, err := r.releaseData(testContext(t), tenant, retention{deleteNow: true}, fakeClock.Now(), true)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fate).To(Equal(dataKept))
		g.Expect(until).NotTo(BeNil())
		g.Expect(until.Format(time.RFC3339)).To(Equal(ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]))
		g.Expect(getObject(t, &corev1.Namespace{}, "", ns.Name).GetDeletionTimestamp()).To(BeNil())
	})
	t.Run("a mark that is not a time", func(t *testing.T) {
		g := NewWithT(t)
		tenant, ns := releasedAndRetained(t)
		ns.Annotations[saasv1alpha1.DeleteAfterAnnotation] = "next spring"
		g.Expect(k8sClient.Update(testContext(t), ns)).To(Succeed())
		r := tenantReconcilerLikeSetup(t, k8sClient)
		fate, _, err := r.releaseData(testContext(t), tenant, retention{deleteNow: true}, fakeClock.Now(), true)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fate).To(Equal(dataKept))
		g.Expect(getObject(t, &corev1.Namespace{}, "", ns.Name).GetDeletionTimestamp()).To(BeNil())
	})
}

// TestARetentionDateIsDecidedOnTheStoredProduct: the merchant raised
// retentionDays from 1 to 30 a moment before a release, and the cache still
// shows 1. The delete-after date is written on the namespace once, and the
// retention controller deletes the data then: before, a day after the
// release, against the 30 days the product said. Now the first date is
// decided on the product as the API server holds it.
func TestARetentionDateIsDecidedOnTheStoredProduct(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](30) })
	tenant := readyTenant(t, product, "basic")
	stale := product.DeepCopy()
	stale.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](1)

	r := tenantReconcilerLikeSetup(t, testenv.CacheBehind{Client: k8sClient, Old: stale})
	s := &tenantState{tenant: tenant, product: stale}
	keep, withdrawn, err := r.retentionFor(testContext(t), s, stale.Spec.Lifecycle.Release, releaseRetention)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(withdrawn).To(BeFalse())
	g.Expect(keep).To(Equal(retention{days: 30}), "the stored product's retention, not the cache's")
}
