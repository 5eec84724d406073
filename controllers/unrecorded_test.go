package controllers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A new workload tenant's objects are applied before its status names its
// namespace (one status write per transition, issue 26). What a pass that
// stopped before that write left behind is found from the Namespace's
// labels: a release, a freeze and a deletion by hand each reach it.

// unrecordedTenant is a stored tenant whose product does not exist (the
// running controller stalls it, and records no namespace), and a namespace
// labelled as its own holding its Deployment with replicas: what a pass
// that applied its objects and stopped before its status write leaves.
func unrecordedTenant(t *testing.T, replicas int32) (*saasv1alpha1.SaaSTenant, string) {
	t.Helper()
	g := NewWithT(t)
	ctx := testContext(t)
	tenant := newTenant(t, &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "no-such-product"},
		Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFI-NONE"}}, "basic", withFinalizer)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))
	ns := tenantobjects.NamespaceObject(tenant, "tenant-"+tenant.Name)
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	labels := tenantobjects.Labels(tenant)
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: tenantobjects.AppName, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/crm:1.0"}}}}},
	}
	g.Expect(k8sClient.Create(ctx, deployment)).To(Succeed())
	return tenant, ns.Name
}

func deploymentGone(t *testing.T, namespace string) func() bool {
	return func() bool {
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: tenantobjects.AppName}, &appsv1.Deployment{})
		return apierrors.IsNotFound(err)
	}
}

func TestATenantReleasedBeforeItsFirstStatusWriteLosesItsWorkload(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := unrecordedTenant(t, 1)
	g.Expect(tenant.Status.Namespace).To(BeEmpty())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	g.Eventually(deploymentGone(t, ns)).Should(BeTrue(), "the workload a buyer no longer pays for is removed")
	released := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Expect(released.Status.Namespace).To(Equal(ns), "the namespace found is recorded")
}

func TestATenantFrozenBeforeItsFirstStatusWriteStopsServing(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := unrecordedTenant(t, 2)

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	g.Eventually(deploymentReplicas(t, ns)).Should(BeZero(), "a frozen buyer is not served, whatever stalls provisioning")
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.Namespace).To(Equal(ns))
	g.Expect(frozen.Status.FrozenReplicas).To(ConsistOf(HaveField("Replicas", int32(2))), "the count to restore is remembered")
}

func TestATenantDeletedBeforeItsFirstStatusWriteLosesItsWorkload(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := unrecordedTenant(t, 1)

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	g.Eventually(deploymentGone(t, ns)).Should(BeTrue())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue(), "the finalizer goes once the workload is removed")
}

// Kooper never guesses between two namespaces labelled as one instance's.
func TestTwoNamespacesLabelledAsOneTenantsAreNotGuessedBetween(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := unrecordedTenant(t, 1)
	other := tenantobjects.NamespaceObject(tenant, "copy-"+tenant.Name)
	g.Expect(k8sClient.Create(testContext(t), other)).To(Succeed())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Message).To(ContainSubstring("several Namespaces are labelled as instance " + tenant.Name + "'s ([copy-" + tenant.Name + " " + ns + "])"))
	})
	g.Expect(deploymentGone(t, ns)()).To(BeFalse(), "nothing is removed on a guess")
}

// The first apply is fresh (created without reads) only when nothing of
// the tenant's exists: not after this process applied it, and not when
// the cache holds its namespace (a restart while the write waited).
func TestAnUnrecordedNamespaceIsFreshOnlyOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	id := fmt.Sprintf("i-unrecorded-%d", tenantSeq.Add(1))
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id, UID: types.UID(id)}, Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id}}
	clk := clocktesting.NewFakeClock(time.Now())
	r := &SaaSTenantReconciler{Client: cachedClient, Clock: clk}
	fresh, err := r.beginUnrecorded(ctx, &tenantState{tenant: tenant}, "tenant-"+id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fresh).To(BeTrue(), "nothing of the tenant's exists")
	g.Expect(tenant.Status.Namespace).To(Equal("tenant-"+id), "named for the write at the end of the pass")
	start, ok := r.unrecorded.since(tenant)
	g.Expect(ok).To(BeTrue())

	clk.Step(time.Second)
	fresh, err = r.beginUnrecorded(ctx, &tenantState{tenant: tenant.DeepCopy()}, "tenant-"+id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fresh).To(BeFalse(), "this process applied it before")
	again, _ := r.unrecorded.since(tenant)
	g.Expect(again).To(Equal(start), "the wait runs from the first apply")

	g.Expect(k8sClient.Create(ctx, tenantobjects.NamespaceObject(tenant, "tenant-"+id))).To(Succeed())
	g.Eventually(func() error {
		return cachedClient.Get(ctx, client.ObjectKey{Name: "tenant-" + id}, &corev1.Namespace{})
	}).Should(Succeed())
	restarted := &SaaSTenantReconciler{Client: cachedClient, Clock: clk}
	fresh, err = restarted.beginUnrecorded(ctx, &tenantState{tenant: tenant.DeepCopy()}, "tenant-"+id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fresh).To(BeFalse(), "the cache holds the namespace")
}

// The one status write of a tenant applied unrecorded waits for Ready from
// the first apply, as the record's write did from the record.
func TestAnUnrecordedTenantsWriteWaitsFromItsFirstApply(t *testing.T) {
	appliedAt := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cond := func(condType string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: condType, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(appliedAt)}
	}
	applied := func() saasv1alpha1.SaaSTenantStatus {
		return saasv1alpha1.SaaSTenantStatus{Namespace: "tenant-i-1", SKUCode: "basic", FrontEndURL: "https://i-1.example.com",
			Conditions: []metav1.Condition{cond(saasv1alpha1.OrderResolvedCondition, "True", "Succeeded"),
				cond(saasv1alpha1.ProvisionedCondition, "True", saasv1alpha1.SucceededReason),
				cond(saasv1alpha1.AvailableCondition, "False", saasv1alpha1.WorkloadUnavailableReason),
				cond(saasv1alpha1.ReadyCondition, "False", saasv1alpha1.WorkloadUnavailableReason)}}
	}
	cases := []struct {
		name    string
		since   time.Duration
		applied bool // by this process
		after   func(*saasv1alpha1.SaaSTenantStatus)
		want    time.Duration
	}{
		{name: "applied 10 s ago: waits for the rest of the delay", since: 10 * time.Second, applied: true, want: 20 * time.Second},
		{name: "the delay is over", since: 30 * time.Second, applied: true, want: 0},
		{name: "not applied by this process", applied: false, want: 0},
		{name: "frozen meanwhile", applied: true, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.FrozenCondition, "True", saasv1alpha1.FrozenByMarketplaceReason))
		}},
		{name: "stalled meanwhile", applied: true, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.StalledCondition, "True", saasv1alpha1.PlanNotFoundReason))
		}},
		{name: "Ready: the one write goes out", applied: true, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.ReadyCondition, "True", saasv1alpha1.SucceededReason))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &SaaSTenantReconciler{Clock: clocktesting.NewFakePassiveClock(appliedAt.Add(tc.since)),
				Options: TenantOptions{ProvisionedStatusDelay: 30 * time.Second}}
			after := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-1", UID: "u-1"}, Status: applied()}
			if tc.applied {
				r.unrecorded.begin(after, appliedAt)
			}
			if tc.after != nil {
				tc.after(&after.Status)
			}
			NewWithT(t).Expect(r.provisionedHold(&saasv1alpha1.SaaSTenant{}, after, nil)).To(Equal(tc.want))
		})
	}
}

// Once written, the tenant is forgotten: its status names its namespace.
func TestAnUnrecordedTenantIsForgottenOnceWritten(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tenant := newTenant(t, &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "no-such-product"},
		Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFI-NONE"}}, "basic", nil)
	stored := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))
	clk := clocktesting.NewFakeClock(time.Now())
	r := &SaaSTenantReconciler{Client: k8sClient, Clock: clk, Recorder: &events.FakeRecorder{},
		Options: TenantOptions{ProvisionedStatusDelay: time.Minute}}
	r.unrecorded.begin(stored, clk.Now())

	applied := func(stored *saasv1alpha1.SaaSTenant) *saasv1alpha1.SaaSTenant {
		after := stored.DeepCopy()
		after.Status.Conditions = nil
		after.Status.Namespace, after.Status.FrontEndURL = "tenant-"+tenant.Name, "https://"+tenant.Name+".example.com"
		setCondition(after, saasv1alpha1.ProvisionedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason, "applied")
		setCondition(after, saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason, "starting")
		return after
	}
	result := ctrl.Result{}
	g.Expect(r.patchStatus(ctx, stored, stored, applied(stored), nil, &result)).To(Succeed())
	g.Expect(result.RequeueAfter).To(Equal(time.Minute), "waits for Ready")
	g.Expect(r.unrecorded.len()).To(Equal(1))

	clk.Step(time.Minute)
	g.Eventually(func() error {
		read := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), read); err != nil {
			return err
		}
		return r.patchStatus(ctx, read, read, applied(read), nil, &ctrl.Result{})
	}).Should(Succeed())
	g.Expect(r.unrecorded.len()).To(BeZero(), "written: forgotten")
	written := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), written)).To(Succeed())
	g.Expect(written.Status.Namespace).To(Equal("tenant-" + tenant.Name))
}

// failingReader fails every read: a test of what must not be read.
type failingReader struct{ client.Reader }

func (failingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("listed")
}

// A package, a recorded namespace and a release done need no look-up.
func TestNoNamespaceIsLookedUpWhereNoneCanBeUnrecorded(t *testing.T) {
	released := &saasv1alpha1.SaaSTenant{}
	setCondition(released, saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.DataDeletedReason, "Released; nothing was provisioned")
	r := &SaaSTenantReconciler{Reader: failingReader{}}
	for name, tenant := range map[string]*saasv1alpha1.SaaSTenant{
		"recorded": {Status: saasv1alpha1.SaaSTenantStatus{Namespace: "tenant-i-1"}},
		"package":  {Status: saasv1alpha1.SaaSTenantStatus{Package: &saasv1alpha1.TenantPackage{}}},
		"released": released,
	} {
		NewWithT(t).Expect(r.labelledNamespace(testContext(t), tenant)).To(Succeed(), name)
	}
	NewWithT(t).Expect(r.labelledNamespace(testContext(t), &saasv1alpha1.SaaSTenant{})).To(MatchError("failed to look up the Namespace of instance : listed"),
		"anything else is looked up")
}
