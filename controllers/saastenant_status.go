package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/orders"
)

// setSummary derives Frozen and Reconciling once every step succeeded.
// Ready is not set here: patchStatus derives it from every condition,
// whichever step ran last.
func setSummary(t *saasv1alpha1.SaaSTenant, s *tenantState) {
	setFrozen(t, s)

	available := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.AvailableCondition)
	if s.frozen || (available != nil && available.Status == metav1.ConditionTrue) {
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		return
	}
	msg := "Waiting for the workload"
	if available != nil {
		msg = available.Message
	}
	setCondition(t, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, msg)
}

// tenantReadyInputs are what a tenant's Ready sums up, in the order their
// reason is reported: a released, stalled or frozen tenant says so first;
// then the first step on the way to serving that has not succeeded.
var tenantReadyInputs = []readyInput{
	{condType: saasv1alpha1.ReleasedCondition, abnormal: true},
	{condType: saasv1alpha1.StalledCondition, abnormal: true},
	{condType: saasv1alpha1.FrozenCondition, abnormal: true},
	{condType: saasv1alpha1.OrderResolvedCondition, waiting: "Waiting for the order to be resolved"},
	{condType: saasv1alpha1.ProvisionedCondition, waiting: "Waiting for the tenant's objects to be applied"},
	{condType: saasv1alpha1.AvailableCondition, waiting: "Waiting for the workload"},
}

// setTenantReady is the one writer of a tenant's Ready condition while it
// is not being deleted (setDeleting then).
func setTenantReady(t *saasv1alpha1.SaaSTenant) {
	msg := fmt.Sprintf("Serving plan %s at %s", t.Status.SKUCode, t.Status.FrontEndURL)
	if p := t.Status.Package; p != nil {
		msg = fmt.Sprintf("Package %s of %s funds instance %s", t.Status.SKUCode, p.Quota, p.FundsInstanceID)
	}
	setReady(t, tenantReadyInputs, t.Status.ObservedGeneration, msg)
}

// recordFirstReady remembers, once and for good, that the tenant was Ready
// with its URLs and credentials. From then on the receiver gives the buyer
// its access details while it is Active or Frozen, Ready or not: a rolling
// update, an outage or a plan that leaves no room for a surge pod makes
// Ready False for a while, and must not take back what the buyer was given.
func (r *SaaSTenantReconciler) recordFirstReady(t *saasv1alpha1.SaaSTenant) {
	st := &t.Status
	if st.FirstReadyTime != nil || st.FrontEndURL == "" || st.CredentialsSecretName == "" || st.Namespace == "" ||
		!apimeta.IsStatusConditionTrue(st.Conditions, saasv1alpha1.ReadyCondition) {
		return
	}
	now := metav1.NewTime(r.Clock.Now().UTC().Truncate(time.Second))
	st.FirstReadyTime = &now
}

// setFrozen reports the effective freeze in the Frozen condition and
// returns its reason ("" when not frozen).
func setFrozen(t *saasv1alpha1.SaaSTenant, s *tenantState) string {
	if !s.frozen {
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.FrozenCondition)
		return ""
	}
	reason := saasv1alpha1.FrozenByMarketplaceReason
	switch {
	case s.frozenByExhaustion:
		reason = saasv1alpha1.FrozenByExhaustionReason
	case t.Spec.State == saasv1alpha1.StateActive:
		reason = saasv1alpha1.FrozenByExpiryReason
	}
	setCondition(t, saasv1alpha1.FrozenCondition, metav1.ConditionTrue, reason, frozenMessage(s))
	return reason
}

func frozenMessage(s *tenantState) string {
	msg := "Frozen: the workload is scaled to zero; its data is kept"
	switch {
	case s.tenant.Status.Package != nil:
		return "Frozen: a package runs nothing; it pays for no usage past its expiry"
	case s.lifecycle.Freeze.Behavior == saasv1alpha1.FreezeDisableIngress:
		msg = "Frozen: the Ingress, and any Service reachable from outside the cluster (LoadBalancer, NodePort), are removed; the workload and its data are kept"
	}
	if s.frozenByExhaustion {
		msg += ", until a package brings quota: no package that funds this tenant has any left (status.metering.conditions PackagesExhausted says why)"
	}
	return msg
}

// patchStatus sets observedGeneration only after a successful reconcile,
// derives Ready from the conditions every step left, writes the status when
// it differs from stored (the tenant as this reconcile last wrote or read
// it), and reports transitions since before (the tenant as read) as Events.
// A new tenant's write that would only report its objects applied waits
// for Ready (provisionedHold): result then asks for the pass that writes it
// anyway.
func (r *SaaSTenantReconciler) patchStatus(ctx context.Context, before, stored, after *saasv1alpha1.SaaSTenant, reconcileErr error, result *ctrl.Result) error {
	if !after.DeletionTimestamp.IsZero() {
		return r.patchDeletingStatus(ctx, stored, after, reconcileErr)
	}
	if reconcileErr == nil {
		after.Status.ObservedGeneration = after.Generation
	} else {
		setCondition(after, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, reconcilingMessage(reconcileErr))
	}
	// Before deriveStatus compares the two: a condition set again this
	// pass is not a change.
	keepStoredConditions(stored.Status.Conditions, &after.Status.Conditions)
	r.deriveStatus(stored, after)
	if wait := r.provisionedHold(stored, after, reconcileErr); wait > 0 {
		if result.RequeueAfter == 0 || wait < result.RequeueAfter {
			result.RequeueAfter = wait
		}
		return nil
	}
	written, err := patchStatusIfChanged(ctx, r.Client, stored, after, stored.Status, after.Status)
	if written {
		r.recordTransitions(before, after)
	}
	return err
}

// deriveStatus brings what is derived from the rest of after's status up
// to date: its marketplace history (against stored's order), Ready, the
// first Ready and ExpiringSoon (refreshed when the status is written
// anyway, with the time left as it is now).
func (r *SaaSTenantReconciler) deriveStatus(stored, after *saasv1alpha1.SaaSTenant) {
	now := r.Clock.Now()
	after.Status.History = nextHistory(after.Status.History, after.Spec.Orders, after.Spec.State, stored.Status.Order, after.Status.Order,
		orders.RecordedTimes(after.Status.OrderTimes), now)
	setTenantReady(after)
	r.recordFirstReady(after)
	setExpiringSoon(after, now, false)
	if !apiequality.Semantic.DeepEqual(stored.Status, after.Status) {
		setExpiringSoon(after, now, true)
	}
}

// provisionedHold returns how long the write of after's status may wait,
// 0 when it may not: a new tenant whose objects were just applied
// (Provisioned False, reason Applying, in its record) and are now, but
// whose workload is not Available yet, would otherwise write Provisioned
// now and Ready a moment later. Waiting makes them one write, the API
// server's costliest request per tenant (docs/benchmarks.md). It waits
// only while nothing else in the status changed, for at most
// Options.ProvisionedStatusDelay after the record: past that, or on any
// error, the write goes out as ever.
func (r *SaaSTenantReconciler) provisionedHold(stored, after *saasv1alpha1.SaaSTenant, reconcileErr error) time.Duration {
	delay := r.Options.ProvisionedStatusDelay
	if delay <= 0 || reconcileErr != nil || after.Status.FirstReadyTime != nil ||
		apimeta.IsStatusConditionTrue(after.Status.Conditions, saasv1alpha1.ReadyCondition) ||
		!apimeta.IsStatusConditionTrue(after.Status.Conditions, saasv1alpha1.ProvisionedCondition) {
		return 0
	}
	applying := apimeta.FindStatusCondition(stored.Status.Conditions, saasv1alpha1.ProvisionedCondition)
	if applying == nil || applying.Reason != saasv1alpha1.ApplyingReason || !onlyProvisioningProgress(stored.Status, after.Status) {
		return 0
	}
	return max(applying.LastTransitionTime.Add(delay).Sub(r.Clock.Now()), 0)
}

// provisioningProgress are the conditions a new tenant's first
// provisioning moves on its way to Ready.
var provisioningProgress = []string{saasv1alpha1.ProvisionedCondition, saasv1alpha1.AvailableCondition,
	saasv1alpha1.ReconcilingCondition, saasv1alpha1.ReadyCondition}

// onlyProvisioningProgress reports whether a and b differ only in what a
// first provisioning moves: those conditions, the URLs, the credentials
// Secret's name, the applied plan and revision, and observedGeneration.
func onlyProvisioningProgress(a, b saasv1alpha1.SaaSTenantStatus) bool {
	strip := func(st saasv1alpha1.SaaSTenantStatus) saasv1alpha1.SaaSTenantStatus {
		st = *st.DeepCopy()
		st.Conditions = slices.DeleteFunc(st.Conditions, func(c metav1.Condition) bool {
			return slices.Contains(provisioningProgress, c.Type)
		})
		st.FrontEndURL, st.AdminURL, st.CredentialsSecretName, st.CredentialsKeyID, st.Revision = "", "", "", "", ""
		st.Applied, st.ObservedGeneration = nil, 0
		return st
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// recordTransitions emits an Event for each change a person must see, and
// observes the time to the first Ready of a new tenant.
func (r *SaaSTenantReconciler) recordTransitions(before, after *saasv1alpha1.SaaSTenant) {
	change := conditionChange{before: before.Status.Conditions, after: after.Status.Conditions}
	was, is, becameTrue := change.was, change.is, change.becameTrue
	if c := becameTrue(saasv1alpha1.ReadyCondition); c != nil {
		r.event(after, corev1.EventTypeNormal, "Ready", c.Message)
	}
	if first := after.Status.FirstReadyTime; first != nil && before.Status.FirstReadyTime == nil {
		timeToReady.Observe(first.Sub(after.CreationTimestamp.Time).Seconds())
	}
	if c := becameTrue(saasv1alpha1.FrozenCondition); c != nil {
		r.event(after, corev1.EventTypeNormal, c.Reason, c.Message)
	}
	// A release forgets the freeze and restores nothing.
	if old := was(saasv1alpha1.FrozenCondition); old != nil && is(saasv1alpha1.FrozenCondition) == nil &&
		!apimeta.IsStatusConditionTrue(after.Status.Conditions, saasv1alpha1.ReleasedCondition) {
		r.event(after, corev1.EventTypeNormal, "Unfrozen", "The workload is restored")
	}
	if c := becameTrue(saasv1alpha1.ReleasedCondition); c != nil {
		r.event(after, corev1.EventTypeNormal, saasv1alpha1.ReleasedByMarketplaceReason, c.Message)
	}
	if c := becameTrue(saasv1alpha1.ExpiredCondition); c != nil {
		r.event(after, corev1.EventTypeWarning, c.Reason, c.Message)
	}
	if reason, ok := noticeEvent(before.Status.ExpiryNotice, after.Status.ExpiryNotice); ok {
		msg := "The subscription expires at " + rfc3339(after.Status.ExpiryNotice.ExpireTime.Time)
		if c := is(saasv1alpha1.ExpiringSoonCondition); c != nil && c.Status == metav1.ConditionTrue {
			msg = c.Message
		}
		r.event(after, corev1.EventTypeWarning, reason, msg)
	}
	// A stall that changes cause is announced again: the last Warning
	// would otherwise name a cause that is gone (a plan added with a quota
	// too small still stalls, for another reason).
	if c := change.tookReason(saasv1alpha1.StalledCondition); c != nil && c.Status == metav1.ConditionTrue {
		r.event(after, corev1.EventTypeWarning, c.Reason, c.Message)
	}
	// A release ends a stall without the product or plan coming back.
	if old := was(saasv1alpha1.StalledCondition); old != nil && old.Status == metav1.ConditionTrue && is(saasv1alpha1.StalledCondition) == nil &&
		after.Spec.State != saasv1alpha1.StateReleased {
		r.event(after, corev1.EventTypeNormal, "Recovered", fmt.Sprintf("Provisioning resumed: what stalled it (%s) is resolved", old.Reason))
	}
}

func (r *SaaSTenantReconciler) event(t *saasv1alpha1.SaaSTenant, eventType, reason, msg string) {
	r.Recorder.Eventf(t, nil, eventType, reason, "Reconcile", "%s", msg)
}

// patchDeletingStatus shows a tenant being deleted for what it is while
// kooper's finalizer holds it (setDeleting), written when it differs from
// stored. Nothing is written once the finalizer is removed: the object may
// be gone, and a deletion that succeeds in one pass costs no status write.
// A tenant gone meanwhile (NotFound) is no error. No Event: the deletion
// is the merchant's own doing.
func (r *SaaSTenantReconciler) patchDeletingStatus(ctx context.Context, stored, after *saasv1alpha1.SaaSTenant, reconcileErr error) error {
	if !controllerutil.ContainsFinalizer(after, saasv1alpha1.Finalizer) {
		return nil
	}
	setDeleting(after, reconcileErr)
	_, err := patchStatusIfChanged(ctx, r.Client, stored, after, stored.Status, after.Status)
	return err
}

// setDeleting sets what a tenant being deleted shows: Ready False, reason
// Deleting, and Reconciling True with reconcileErr, the error of the
// release step that failed (a cluster admission policy refusing the
// deletion of its Deployment, say), as for a release; without an error,
// no Reconciling, and Ready names the other finalizers that hold the
// released tenant (deletingMessage).
func setDeleting(t *saasv1alpha1.SaaSTenant, reconcileErr error) {
	msg := "Being deleted; its release waits: Reconciling says on what"
	if reconcileErr != nil {
		setCondition(t, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, reconcilingMessage(reconcileErr))
	} else {
		t.Status.ObservedGeneration = t.Generation
		removeCondition(t, saasv1alpha1.ReconcilingCondition)
		msg = deletingMessage(t)
	}
	setCondition(t, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.DeletingReason, msg)
}

// deletingMessage is Ready's message for a tenant being deleted whose
// release succeeded: what still holds it besides kooper's finalizer.
func deletingMessage(t *saasv1alpha1.SaaSTenant) string {
	others := slices.DeleteFunc(slices.Clone(t.Finalizers), func(f string) bool { return f == saasv1alpha1.Finalizer })
	switch {
	case len(others) == 0:
		return "Being deleted; released"
	case slices.Equal(others, []string{saasv1alpha1.MeteringFinalizer}):
		return "Being deleted; released, and held by finalizer " + saasv1alpha1.MeteringFinalizer +
			" until its last hours of usage are pushed to the marketplace (status.metering.conditions Metered says how that goes)"
	}
	return "Being deleted; released, and held by finalizers " + strings.Join(others, ", ")
}

// heldByOthers reports whether a finalizer besides kooper's keeps t once
// kooper lets go of it (the metering finalizer, say).
func heldByOthers(t *saasv1alpha1.SaaSTenant) bool {
	return slices.ContainsFunc(t.Finalizers, func(f string) bool { return f != saasv1alpha1.Finalizer })
}
