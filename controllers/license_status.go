package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// setSummary derives Ready and Reconciling once every step succeeded: the
// key is issued (and, for an application, delivered). A key past its window
// is not Ready; the reconcile comes back when the window ends.
func (r *LicenseReconciler) setSummary(s *licenseState) {
	l := s.license
	now := r.Clock.Now()
	switch {
	case l.Status.NotAfter != nil && !now.Before(l.Status.NotAfter.Time):
		setLicenseCondition(l, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ExpiredReason,
			fmt.Sprintf("The licence key expired at %s", l.Status.NotAfter.UTC().Format(time.RFC3339)))
	default:
		msg := fmt.Sprintf("Licence key %s valid until %s", l.Status.KeyID, l.Status.NotAfter.UTC().Format(time.RFC3339))
		if isApplication(l) {
			msg += ", delivered to the marketplace"
		}
		setLicenseCondition(l, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason, msg)
		if l.Status.NotAfter != nil {
			s.requeueAt(timeUntil(now, l.Status.NotAfter.Time))
		}
	}
	apimeta.RemoveStatusCondition(&l.Status.Conditions, saasv1alpha1.ReconcilingCondition)
}

// patchStatus writes the status when it changed, sets observedGeneration
// only after a successful reconcile, and reports transitions as Events.
func (r *LicenseReconciler) patchStatus(ctx context.Context, before, after *saasv1alpha1.License, reconcileErr error) error {
	if reconcileErr == nil {
		after.Status.ObservedGeneration = after.Generation
	} else if !errors.Is(reconcileErr, errStalled) {
		setLicenseCondition(after, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, reconcileErr.Error())
	}
	written, err := patchStatusIfChanged(ctx, r.Client, before, after, before.Status, after.Status)
	if written {
		r.recordTransitions(before, after)
	}
	return err
}

// recordTransitions emits an Event for each change a person must see.
func (r *LicenseReconciler) recordTransitions(before, after *saasv1alpha1.License) {
	change := conditionChange{before: before.Status.Conditions, after: after.Status.Conditions}
	was, is, becameTrue := change.was, change.is, change.becameTrue
	if c := is(saasv1alpha1.IssuedCondition); c != nil && (was(saasv1alpha1.IssuedCondition) == nil || was(saasv1alpha1.IssuedCondition).Message != c.Message) {
		r.event(after, corev1.EventTypeNormal, "Issued", c.Message)
	}
	for _, condType := range []string{saasv1alpha1.FrozenCondition, saasv1alpha1.ReleasedCondition} {
		if c := becameTrue(condType); c != nil {
			r.event(after, corev1.EventTypeNormal, saasv1alpha1.RevokedReason, c.Message)
		}
	}
	if was(saasv1alpha1.FrozenCondition) != nil && is(saasv1alpha1.FrozenCondition) == nil && is(saasv1alpha1.ReleasedCondition) == nil {
		r.event(after, corev1.EventTypeNormal, "Reinstated", "The instance is unfrozen; the licence key is valid again")
	}
	if c := becameTrue(saasv1alpha1.DeliveredCondition); c != nil {
		r.event(after, corev1.EventTypeNormal, "Delivered", c.Message)
	}
	if c := is(saasv1alpha1.DeliveredCondition); c != nil && c.Status == metav1.ConditionFalse && was(saasv1alpha1.DeliveredCondition) == nil {
		r.event(after, corev1.EventTypeWarning, saasv1alpha1.UploadFailedReason, c.Message)
	}
	if c := becameTrue(saasv1alpha1.StalledCondition); c != nil {
		r.event(after, corev1.EventTypeWarning, c.Reason, c.Message)
	}
}

func (r *LicenseReconciler) event(l *saasv1alpha1.License, eventType, reason, msg string) {
	r.Recorder.Eventf(l, nil, eventType, reason, "Reconcile", "%s", msg)
}
