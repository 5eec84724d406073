package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// setSummary derives Frozen, Ready and Reconciling from the other conditions.
func setSummary(t *saasv1alpha1.SaaSTenant, s *tenantState) {
	frozenReason := setFrozen(t, s)

	available := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.AvailableCondition)
	switch {
	case s.frozen:
		setCondition(t, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, frozenReason, frozenMessage(s))
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ReconcilingCondition)
	case available != nil && available.Status == metav1.ConditionTrue:
		setCondition(t, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
			fmt.Sprintf("Serving plan %s at %s", s.plan.SKUCode, t.Status.FrontEndURL))
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ReconcilingCondition)
	default:
		msg := "Waiting for the workload"
		if available != nil {
			msg = available.Message
		}
		setCondition(t, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason, msg)
		setCondition(t, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, msg)
	}
}

// setFrozen reports the effective freeze in the Frozen condition and
// returns its reason ("" when not frozen).
func setFrozen(t *saasv1alpha1.SaaSTenant, s *tenantState) string {
	if !s.frozen {
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.FrozenCondition)
		return ""
	}
	reason := saasv1alpha1.FrozenByMarketplaceReason
	if t.Spec.State == saasv1alpha1.StateActive {
		reason = saasv1alpha1.FrozenByExpiryReason
	}
	setCondition(t, saasv1alpha1.FrozenCondition, metav1.ConditionTrue, reason, frozenMessage(s))
	return reason
}

func frozenMessage(s *tenantState) string {
	if s.lifecycle.Freeze.Behavior == saasv1alpha1.FreezeDisableIngress {
		return "Frozen: the Ingress is removed; the workload and its data are kept"
	}
	return "Frozen: the workload is scaled to zero; its data is kept"
}

// patchStatus writes the status when it changed, sets observedGeneration
// only after a successful reconcile, and reports transitions as Events.
func (r *TenantReconciler) patchStatus(ctx context.Context, before, after *saasv1alpha1.SaaSTenant, reconcileErr error) error {
	if !after.DeletionTimestamp.IsZero() {
		return nil // the object is going, or gone: there is no status to keep
	}
	if reconcileErr == nil {
		after.Status.ObservedGeneration = after.Generation
	} else if !errors.Is(reconcileErr, errStalled) {
		setCondition(after, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, reconcileErr.Error())
	}
	written, err := patchStatusIfChanged(ctx, r.Client, before, after, before.Status, after.Status)
	if written {
		r.recordTransitions(before, after)
	}
	return err
}

// recordTransitions emits an Event for each change a person must see, and
// observes the time to Ready of a new tenant.
func (r *TenantReconciler) recordTransitions(before, after *saasv1alpha1.SaaSTenant) {
	change := conditionChange{before: before.Status.Conditions, after: after.Status.Conditions}
	was, is, becameTrue := change.was, change.is, change.becameTrue
	if c := becameTrue(saasv1alpha1.ReadyCondition); c != nil {
		r.event(after, corev1.EventTypeNormal, "Ready", c.Message)
		if old := was(saasv1alpha1.ProvisionedCondition); old == nil || old.Status != metav1.ConditionTrue {
			timeToReady.Observe(r.Clock.Since(after.CreationTimestamp.Time).Seconds())
		}
	}
	if c := becameTrue(saasv1alpha1.FrozenCondition); c != nil {
		r.event(after, corev1.EventTypeNormal, c.Reason, c.Message)
	}
	if old := was(saasv1alpha1.FrozenCondition); old != nil && is(saasv1alpha1.FrozenCondition) == nil {
		r.event(after, corev1.EventTypeNormal, "Unfrozen", "The workload is restored")
	}
	if c := becameTrue(saasv1alpha1.ReleasedCondition); c != nil {
		r.event(after, corev1.EventTypeNormal, saasv1alpha1.ReleasedByMarketplaceReason, c.Message)
	}
	if c := becameTrue(saasv1alpha1.ExpiredCondition); c != nil {
		r.event(after, corev1.EventTypeWarning, c.Reason, c.Message)
	}
	if c := becameTrue(saasv1alpha1.StalledCondition); c != nil {
		r.event(after, corev1.EventTypeWarning, c.Reason, c.Message)
	}
	// A release ends a stall without the product or plan coming back.
	if old := was(saasv1alpha1.StalledCondition); old != nil && old.Status == metav1.ConditionTrue && is(saasv1alpha1.StalledCondition) == nil &&
		after.Spec.State != saasv1alpha1.StateReleased {
		r.event(after, corev1.EventTypeNormal, "Recovered", "The tenant's product and plan are available again")
	}
}

func (r *TenantReconciler) event(t *saasv1alpha1.SaaSTenant, eventType, reason, msg string) {
	r.Recorder.Eventf(t, nil, eventType, reason, "Reconcile", "%s", msg)
}
