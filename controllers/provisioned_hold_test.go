package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A new tenant's Provisioned waits for its Ready, so that the two are one
// status write (issue 26: one status write per transition), but never
// longer than the delay, never past an error, and never when anything else
// in the status changed.
func TestProvisionedWaitsForReadyOnlyWhileNothingElseChanged(t *testing.T) {
	recordedAt := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cond := func(condType string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: condType, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(recordedAt)}
	}
	// The record written before applying, as the API server stores it.
	record := saasv1alpha1.SaaSTenantStatus{
		Namespace: "tenant-i-1", SKUCode: "basic",
		Conditions: []metav1.Condition{cond(saasv1alpha1.OrderResolvedCondition, "True", "Succeeded"),
			cond(saasv1alpha1.ProvisionedCondition, "False", saasv1alpha1.ApplyingReason),
			cond(saasv1alpha1.ReadyCondition, "False", saasv1alpha1.ApplyingReason)},
	}
	// What the pass that applied the objects would write.
	applied := func() saasv1alpha1.SaaSTenantStatus {
		st := *record.DeepCopy()
		st.FrontEndURL, st.CredentialsSecretName, st.Revision, st.ObservedGeneration = "https://i-1.example.com", "credentials", "r1", 1
		st.Applied = &saasv1alpha1.AppliedPlan{SKUCode: "basic"}
		apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.ProvisionedCondition, "True", saasv1alpha1.SucceededReason))
		apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.AvailableCondition, "False", saasv1alpha1.WorkloadUnavailableReason))
		apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.ReconcilingCondition, "True", saasv1alpha1.ProgressingReason))
		apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.ReadyCondition, "False", saasv1alpha1.WorkloadUnavailableReason))
		return st
	}
	cases := []struct {
		name   string
		delay  time.Duration
		since  time.Duration // since the record
		err    error
		stored func(*saasv1alpha1.SaaSTenantStatus)
		after  func(*saasv1alpha1.SaaSTenantStatus)
		want   time.Duration
	}{
		{name: "objects applied, workload not available: waits for the rest of the delay", delay: 30 * time.Second, since: 10 * time.Second, want: 20 * time.Second},
		{name: "no delay configured", delay: 0, want: 0},
		{name: "the delay is over", delay: 30 * time.Second, since: 30 * time.Second, want: 0},
		{name: "the reconcile failed", delay: 30 * time.Second, err: errStaleRead, want: 0},
		{name: "Ready: the one write goes out", delay: 30 * time.Second, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.ReadyCondition, "True", saasv1alpha1.SucceededReason))
		}},
		{name: "Ready before: not a first provisioning", delay: 30 * time.Second, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			st.FirstReadyTime = &metav1.Time{Time: recordedAt}
		}},
		{name: "the objects were not all applied", delay: 30 * time.Second, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.ProvisionedCondition, "False", saasv1alpha1.ObjectInvalidReason))
		}},
		{name: "no record of this pass (a provisioned tenant's change)", delay: 30 * time.Second, want: 0, stored: func(st *saasv1alpha1.SaaSTenantStatus) {
			apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.ProvisionedCondition, "False", saasv1alpha1.ProvisioningReason))
		}},
		{name: "frozen meanwhile: written at once", delay: 30 * time.Second, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			apimeta.SetStatusCondition(&st.Conditions, cond(saasv1alpha1.FrozenCondition, "True", saasv1alpha1.FrozenByMarketplaceReason))
		}},
		{name: "another order resolved meanwhile: written at once", delay: 30 * time.Second, want: 0, after: func(st *saasv1alpha1.SaaSTenantStatus) {
			st.SKUCode = "pro"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := &SaaSTenantReconciler{Clock: clocktesting.NewFakePassiveClock(recordedAt.Add(tc.since)),
				Options: TenantOptions{ProvisionedStatusDelay: tc.delay}}
			stored := &saasv1alpha1.SaaSTenant{Status: *record.DeepCopy()}
			after := &saasv1alpha1.SaaSTenant{Status: applied()}
			if tc.stored != nil {
				tc.stored(&stored.Status)
			}
			if tc.after != nil {
				tc.after(&after.Status)
			}
			g.Expect(r.provisionedHold(stored, after, tc.err)).To(Equal(tc.want))
		})
	}
}

// The record of a new tenant carries its whole status so far and
// Provisioned False with reason Applying; the write after applying then
// waits while it may, asking for a pass by the end of the delay, and goes
// out once the delay is over. The record is what shows a new tenant's plan
// at once and tells kstatus-based tools it is in progress: twice (2026-12-02
// and 2026-12-04) it was dropped for one status write per new tenant, and
// the status stayed empty, which kstatus takes for Current, until Ready.
func TestANewTenantsRecordLetsItsProvisionedWaitForReady(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tenant := newStalledTenant(t)
	clk := clocktesting.NewFakeClock(time.Now())
	r := &SaaSTenantReconciler{Client: k8sClient, Clock: clk, Options: TenantOptions{ProvisionedStatusDelay: time.Minute}}

	var s *tenantState
	var before *saasv1alpha1.SaaSTenant
	g.Eventually(func() error {
		read := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), read); err != nil {
			return err
		}
		before, s = read.DeepCopy(), reconcileStateOf(read)
		read.Status.SKUCode, s.revision = "decided-before-the-record", "crm-rev-1"
		return r.recordBeforeApply(ctx, s, "tenant-"+tenant.Name, nil)
	}).Should(Succeed())
	stored := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
	g.Expect(stored.Status.SKUCode).To(Equal("decided-before-the-record"), "the record carries what was decided before it")
	g.Expect(stored.Status.Revision).To(Equal("crm-rev-1"), "and the revision about to be applied")
	g.Expect(apimeta.FindStatusCondition(stored.Status.Conditions, saasv1alpha1.ProvisionedCondition)).To(
		HaveField("Reason", saasv1alpha1.ApplyingReason))
	g.Expect(s.stored.ResourceVersion).To(Equal(stored.ResourceVersion))

	// The objects are applied; the workload is not available yet.
	after := s.tenant
	after.Status.FrontEndURL, after.Status.CredentialsSecretName = "https://"+tenant.Name+".example.com", "credentials"
	setCondition(after, saasv1alpha1.ProvisionedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason, "applied")
	setCondition(after, saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason, "starting")
	result := ctrl.Result{}
	g.Expect(r.patchStatus(ctx, before, s.stored, after.DeepCopy(), nil, &result)).To(Succeed())
	g.Expect(result.RequeueAfter).To(BeNumerically("~", time.Minute, time.Second), "a pass by the end of the delay")
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
	g.Expect(stored.ResourceVersion).To(Equal(s.stored.ResourceVersion), "nothing written while Provisioned may wait")

	clk.Step(time.Minute)
	result = ctrl.Result{}
	g.Expect(r.patchStatus(ctx, before, s.stored, after.DeepCopy(), nil, &result)).To(Succeed())
	g.Expect(result.RequeueAfter).To(BeZero())
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), stored)).To(Succeed())
	g.Expect(apimeta.IsStatusConditionTrue(stored.Status.Conditions, saasv1alpha1.ProvisionedCondition)).To(BeTrue(),
		"written once the delay is over: %v", stored.Status.Conditions)
	g.Expect(stored.Status.FrontEndURL).To(Equal(after.Status.FrontEndURL))
}

// A pass after one whose status write waited (provisionedHold) finds the
// credentials made, though status does not name them yet: the cache holds
// the Secret with the derived password, and nothing is created again.
func TestCredentialsAreNotCreatedAgainWhileStatusWaitsToNameThem(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	d := bareTenantNamespace(t, "i-held")
	tenant, ns := d.Tenant, d.Namespace
	counting := &countingCreates{Client: cachedClient}
	r := &SaaSTenantReconciler{Client: counting, Reader: k8sClient, Options: TenantOptions{SecretNamespace: operatorNamespace}}
	g.Expect(r.ensureCredentials(ctx, d)).To(Succeed())
	g.Expect(tenant.Status.CredentialsKeyID).NotTo(BeEmpty())
	made := counting.creates
	g.Eventually(func() error {
		return cachedClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.CredentialsSecretName}, &corev1.Secret{})
	}).Should(Succeed())

	again := &saasv1alpha1.SaaSTenant{ObjectMeta: tenant.ObjectMeta, Spec: tenant.Spec}
	g.Expect(r.ensureCredentials(ctx, &tenantobjects.Desired{Tenant: again, Namespace: ns})).To(Succeed())
	g.Expect(counting.creates).To(Equal(made), "no create in the pass after")
	g.Expect(again.Status.CredentialsKeyID).To(Equal(tenant.Status.CredentialsKeyID))
}

// bareTenantNamespace is a tenant named prefix-N, not stored, and its
// namespace, made: for the steps that work in the namespace alone.
func bareTenantNamespace(t *testing.T, prefix string) *tenantobjects.Desired {
	t.Helper()
	id := fmt.Sprintf("%s-%d", prefix, tenantSeq.Add(1))
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-" + id}}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), ns)).To(Succeed())
	return &tenantobjects.Desired{Tenant: tenant, Namespace: ns.Name}
}

// countingCreates counts the creates sent through it.
type countingCreates struct {
	client.Client
	creates int
}

func (c *countingCreates) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.creates++
	return c.Client.Create(ctx, obj, opts...)
}

// newStalledTenant records a purchase of a product that does not exist and
// waits for the running controller's first pass over it to be stored (its
// finalizer and Stalled, ProductNotFound), after which the controller
// writes nothing of its own: it stalls before provisioning. A test that
// writes the tenant itself and then checks that its write was the last
// would otherwise race that first pass: the tenant is created without the
// finalizer, and the pass adds it and writes Stalled whenever it comes.
func newStalledTenant(t *testing.T) *saasv1alpha1.SaaSTenant {
	t.Helper()
	tenant := newTenant(t, &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "no-such-product"},
		Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFI-NONE"}}, "basic", nil)
	return eventuallyTenant(t, tenant.Name, func(g Gomega, stored *saasv1alpha1.SaaSTenant) {
		g.Expect(stored.Finalizers).To(ContainElement(saasv1alpha1.Finalizer))
		hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason)(g, stored)
	})
}

// A tenant released while its Provisioned still waited for Ready (reason
// Applying) does not say for ever that its objects are being applied
// (found by a fresh-user trial).
func TestATenantReleasedWhileApplyingNoLongerSaysApplying(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tenant := newTenant(t, &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "no-such-product"},
		Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFI-NONE"}}, "basic", nil)
	g.Eventually(func() error {
		stored := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), stored); err != nil {
			return err
		}
		setCondition(stored, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ApplyingReason, "applying")
		return k8sClient.Status().Update(ctx, stored)
	}).Should(Succeed())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadRemovedReason))
}
