package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// What a merchant sees through kubectl while a tenant is being deleted,
// and once a frozen tenant is released.

// deletingWith checks that the tenant shows it is being deleted: Ready
// False with reason Deleting, its message containing readySays, and
// Reconciling True containing reconcilingSays ("" for no Reconciling).
func deletingWith(readySays, reconcilingSays string) func(Gomega, *saasv1alpha1.SaaSTenant) {
	return func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.DeletionTimestamp).NotTo(BeNil())
		hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.DeletingReason)(g, tn)
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReadyCondition).Message).To(ContainSubstring(readySays))
		reconciling := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		if reconcilingSays == "" {
			g.Expect(reconciling).To(BeNil())
			return
		}
		g.Expect(reconciling).NotTo(BeNil())
		g.Expect(reconciling.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(reconciling.Message).To(ContainSubstring(reconcilingSays))
	}
}

// A tenant deleted by hand whose release the cluster refuses (an admission
// policy refusing the deletion of its Deployment) kept its last status:
// Ready True, "Serving plan basic at …", nothing saying it was being
// deleted, nor why it stayed. Now Ready is False, reason Deleting, and
// Reconciling names the refusal; once the policy is lifted the tenant goes.
func TestADeletionTheClusterRefusesShowsInReadyAndReconciling(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tenant := readyTenant(t, newTenantProduct(t, nil), "basic")
	ns := "tenant-" + tenant.Name
	lift := installDenyingPolicy(t, "refuse-deleting-workload-"+tenant.Name,
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"}, Resources: []string{"deployments"}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf(`oldObject.metadata.namespace != %q`, ns),
			Message:    "deleting workloads is refused by policy",
		})
	g.Eventually(func() bool {
		return admissionRefusal(k8sClient.Delete(ctx, getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName), client.DryRunAll))
	}).Should(BeTrue(), "the policy is enforced")

	g.Expect(k8sClient.Delete(ctx, tenant)).To(Succeed())
	// Reconciling names the policy and withholds its message, which may
	// quote the object (docs/personal-data.md).
	eventuallyTenant(t, tenant.Name, deletingWith("Being deleted", "refuse-deleting-workload-"+tenant.Name))

	lift()
	poke(t, tenant)
	g.Eventually(isGone(t, tenant)).Should(BeTrue(), "the release goes on once the cluster allows it")
	workloadRemoved(t, ns)
}

// A metered tenant deleted by hand is released at once, then held by the
// metering finalizer until its last hours are pushed to the marketplace:
// meanwhile it showed Ready as it last was. Now Ready says Deleting and
// names the finalizer it waits for.
func TestADeletionHeldForTheLastUsagePushShowsInReady(t *testing.T) {
	g := NewWithT(t)
	start := hourAgo(2)
	tenant := newMeteredTenant(t, threeMeters[:1])
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(start))
	_, err := meterAt(t, r, start.Add(10*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer))
	})

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(Equal([]string{saasv1alpha1.MeteringFinalizer}))
		deletingWith(saasv1alpha1.MeteringFinalizer, "")(g, tn)
	})

	_, err = meterAt(t, r, start.Add(90*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(isGone(t, tenant)).Should(BeTrue(), "gone once its usage is pushed")
}

// A tenant frozen (FREEZE) and then released kept Frozen=True for good:
// kubectl showed STATE Released beside FROZEN FrozenByMarketplace, and
// `kubectl kooper describe` said its workload was scaled to zero, though
// the release had removed it. The release now forgets the freeze, with the
// replica counts recorded to restore on an unfreeze that can never come.
func TestAFrozenTenantReleasedIsNoLongerShownFrozen(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](7) })
	tenant := readyTenant(t, product, "pro")
	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.FrozenReplicas).NotTo(BeEmpty())

	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	released := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Expect(apimeta.FindStatusCondition(released.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil(), "the Frozen column is empty")
	g.Expect(released.Status.FrozenReplicas).To(BeEmpty())
	hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.RetainingDataReason)(g, released)
	workloadRemoved(t, "tenant-"+tenant.Name)
}

// The release that forgets a freeze restores nothing: it is announced as a
// release, not with an Unfrozen Event saying "The workload is restored".
func TestAFrozenTenantReleasedIsNotAnnouncedUnfrozen(t *testing.T) {
	g := NewWithT(t)
	recorder := events.NewFakeRecorder(10)
	r := &SaaSTenantReconciler{Recorder: recorder}
	before := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateFrozen}}
	setCondition(before, saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason, "Frozen")
	after := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateReleased}}
	setCondition(after, saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason, "Released")

	r.recordTransitions(before, after)
	recorded := drain(recorder)
	g.Expect(recorded).To(ContainElement(ContainSubstring(saasv1alpha1.ReleasedByMarketplaceReason)))
	g.Expect(recorded).NotTo(ContainElement(ContainSubstring("Unfrozen")))
}
