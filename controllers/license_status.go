package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/redact"
)

// finish is the last step, run when every other succeeded: nothing is in
// progress any more, and the reconcile comes back when the key's window
// ends, so that Ready turns False then.
func (r *LicenseReconciler) finish(_ context.Context, s *licenseState) outcome {
	l := s.license
	apimeta.RemoveStatusCondition(&l.Status.Conditions, saasv1alpha1.ReconcilingCondition)
	if now := r.Clock.Now(); l.Status.NotAfter != nil && now.Before(l.Status.NotAfter.Time) {
		s.requeueAt(timeUntil(now, l.Status.NotAfter.Time))
	}
	return proceed()
}

// licenseReadyInputs are what a licence's Ready sums up, in the order their
// reason is reported; an application also needs its upload (Delivered).
var (
	licenseReadyInputs = []readyInput{
		{condType: saasv1alpha1.ReleasedCondition, abnormal: true},
		{condType: saasv1alpha1.StalledCondition, abnormal: true},
		{condType: saasv1alpha1.FrozenCondition, abnormal: true},
		{condType: saasv1alpha1.OrderResolvedCondition, waiting: "Waiting for the order to be resolved"},
		{condType: saasv1alpha1.IssuedCondition, waiting: "Waiting for the licence key to be issued"},
	}
	applicationReadyInputs = append(slices.Clip(licenseReadyInputs),
		readyInput{condType: saasv1alpha1.DeliveredCondition, waiting: "Waiting for the licence to be uploaded to the marketplace"})
)

// setLicenseReady is the one writer of a licence's Ready condition. A key
// past its window is not Ready, whatever the conditions say: expiry is a
// matter of time, which no step records.
func (r *LicenseReconciler) setLicenseReady(l *saasv1alpha1.License) {
	inputs, msg := licenseReadyInputs, fmt.Sprintf("Licence key %s valid until %s", l.Status.KeyID, formatTime(l.Status.NotAfter))
	if isApplication(l) {
		inputs, msg = applicationReadyInputs, msg+", delivered to the marketplace"
	}
	ready := readyFrom(l.Status.Conditions, inputs, l.Generation, l.Status.ObservedGeneration, msg)
	if end := l.Status.NotAfter; ready.Status == metav1.ConditionTrue && end != nil && !r.Clock.Now().Before(end.Time) {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, saasv1alpha1.ExpiredReason, "The licence key expired at "+formatTime(end)
	}
	apimeta.SetStatusCondition(&l.Status.Conditions, ready)
}

// formatTime is t in RFC 3339, UTC, or "" for no time.
func formatTime(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// patchStatus sets observedGeneration only after a successful reconcile,
// derives Ready from the conditions every step left, writes the status when
// it changed, and reports transitions as Events.
func (r *LicenseReconciler) patchStatus(ctx context.Context, before, after *saasv1alpha1.License, reconcileErr error) error {
	if reconcileErr == nil {
		after.Status.ObservedGeneration = after.Generation
	} else {
		setCondition(after, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, reconcilingMessage(reconcileErr))
	}
	after.Status.History = nextHistory(after.Status.History, after.Spec.Orders, after.Spec.State, before.Status.Order, after.Status.Order,
		orders.RecordedTimes(after.Status.OrderTimes), r.Clock.Now())
	r.setLicenseReady(after)
	written, err := patchStatusIfChanged(ctx, r.Client, before, after, before.Status, after.Status)
	if written {
		r.recordTransitions(before, after)
	}
	return err
}

// reconcilingMessage is what a Reconciling condition, which the view role
// reads, says of a reconcile's error: the error without what the API server
// quoted of an object it refused (redact.APIError), whichever step let such
// a refusal through unwithheld (a deletion of a Secret that a policy refuses
// quoting its oldObject, say).
func reconcilingMessage(err error) string {
	return redact.APIError(err).Error()
}

// recordTransitions emits an Event for each change a person must see.
func (r *LicenseReconciler) recordTransitions(before, after *saasv1alpha1.License) {
	change := conditionChange{before: before.Status.Conditions, after: after.Status.Conditions}
	was, is, becameTrue := change.was, change.is, change.becameTrue
	if c := is(saasv1alpha1.IssuedCondition); c != nil && c.Status == metav1.ConditionTrue {
		if old := was(saasv1alpha1.IssuedCondition); old == nil || old.Status != c.Status || old.Message != c.Message {
			r.event(after, corev1.EventTypeNormal, "Issued", c.Message)
		}
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
	// A stall that changes cause is announced again: the last Warning
	// would otherwise name a cause that is gone (a plan added with a quota
	// too small still stalls, for another reason).
	if c := change.tookReason(saasv1alpha1.StalledCondition); c != nil && c.Status == metav1.ConditionTrue {
		r.event(after, corev1.EventTypeWarning, c.Reason, c.Message)
	}
}

func (r *LicenseReconciler) event(l *saasv1alpha1.License, eventType, reason, msg string) {
	r.Recorder.Eventf(l, nil, eventType, reason, "Reconcile", "%s", msg)
}
