package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// patchStatusIfChanged writes after's status as a merge patch from before,
// unless the two statuses are equal. It reports whether it wrote. The patch
// carries the resourceVersion of after (the newest version this reconcile
// saw, read or written), so a status decided on a stale read is refused
// with a Conflict instead of overwriting a newer one. An object deleted
// meanwhile has no status left to keep: not an error.
func patchStatusIfChanged(ctx context.Context, c client.Client, before, after client.Object, beforeStatus, afterStatus any) (bool, error) {
	if apiequality.Semantic.DeepEqual(beforeStatus, afterStatus) {
		return false, nil
	}
	base := before.DeepCopyObject().(client.Object)
	base.SetResourceVersion(after.GetResourceVersion())
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	if err := c.Status().Patch(ctx, after, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to patch the status: %w", err)
	}
	return true, nil
}

// conflictRequeueDelay is how soon a reconcile whose status write met a
// newer version runs again.
const conflictRequeueDelay = time.Second

// errStaleRead: the object read from the cache is older than the one the
// API server holds, so nothing may be decided from it.
var errStaleRead = errors.New("the cache is behind the API server; reconciling again from the stored version")

// retryAfterError is a failure retried after a delay of its own instead
// of on the controller's rate limiter (see orders.RecordFailure).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// finishReconcile folds a reconcile's status write into its result: a
// retryAfterError alone, with the status written, becomes a RequeueAfter
// (logged here, since controller-runtime logs only returned errors);
// anything else goes through foldStatusError.
func finishReconcile(ctx context.Context, result *ctrl.Result, reconcileErr, statusErr error) error {
	var retry *retryAfterError
	if statusErr == nil && errors.As(reconcileErr, &retry) {
		ctrl.LoggerFrom(ctx).Info("Retrying later", "retryAfter", retry.after, "reason", retry.err.Error())
		*result = ctrl.Result{RequeueAfter: retry.after}
		return nil
	}
	return foldStatusError(result, reconcileErr, statusErr)
}

// foldStatusError combines a reconcile's error with its status write's.
// Conflicts and stale reads alone are no failure: the object changed after
// it was read, so the reconcile runs again, soon and without an error log,
// and decides from the newer version.
func foldStatusError(result *ctrl.Result, reconcileErr, statusErr error) error {
	if onlyConflicts(reconcileErr, statusErr) {
		*result = ctrl.Result{RequeueAfter: conflictRequeueDelay}
		return nil
	}
	return kerrors.NewAggregate([]error{reconcileErr, statusErr})
}

// onlyConflicts: at least one error, and every one a Conflict or a stale read.
func onlyConflicts(errs ...error) bool {
	seen := false
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !apierrors.IsConflict(err) && !errors.Is(err, errStaleRead) {
			return false
		}
		seen = true
	}
	return seen
}

// conditionChange compares an object's conditions before and after a
// reconcile, to decide which transitions deserve an Event.
type conditionChange struct {
	before, after []metav1.Condition
}

// was returns the condition before the reconcile, or nil.
func (c conditionChange) was(condType string) *metav1.Condition {
	return apimeta.FindStatusCondition(c.before, condType)
}

// is returns the condition after the reconcile, or nil.
func (c conditionChange) is(condType string) *metav1.Condition {
	return apimeta.FindStatusCondition(c.after, condType)
}

// becameTrue returns the condition if this reconcile turned it True.
func (c conditionChange) becameTrue(condType string) *metav1.Condition {
	now := c.is(condType)
	if now == nil || now.Status != metav1.ConditionTrue {
		return nil
	}
	if old := c.was(condType); old != nil && old.Status == metav1.ConditionTrue {
		return nil
	}
	return now
}

// readyInput is one condition a kind's Ready summary depends on.
type readyInput struct {
	condType string
	// abnormal marks an abnormal-true condition (Stalled, Frozen,
	// Released): Ready needs it absent or False. A normal-true condition
	// must be present and True.
	abnormal bool
	// waiting is Ready's message while a normal-true condition is not set
	// yet: the step that sets it has not run.
	waiting string
}

// readyFrom sums conds up into Ready, the way cluster-api's updateStatus
// and Flux's summarize helpers do: False with the reason and message of the
// first input, in order, that is not healthy; False while the last
// reconcile of the current generation failed; True with readyMsg
// otherwise. Each kind calls it in one place, its deferred status patch,
// after every step has set its own conditions, so Ready can never disagree
// with the conditions it sums up (a step that fails cannot leave a stale
// Ready=True behind).
func readyFrom(conds []metav1.Condition, inputs []readyInput, generation, observedGeneration int64, readyMsg string) metav1.Condition {
	ready := metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, ObservedGeneration: generation}
	for _, in := range inputs {
		c := apimeta.FindStatusCondition(conds, in.condType)
		switch {
		case in.abnormal && c != nil && c.Status == metav1.ConditionTrue,
			!in.abnormal && c != nil && c.Status != metav1.ConditionTrue:
			ready.Reason, ready.Message = c.Reason, c.Message
			return ready
		case !in.abnormal && c == nil:
			ready.Reason, ready.Message = saasv1alpha1.ProgressingReason, in.waiting
			return ready
		}
	}
	if observedGeneration != generation {
		ready.Reason, ready.Message = saasv1alpha1.ProgressingReason, fmt.Sprintf("Generation %d is not reconciled yet", generation)
		return ready
	}
	ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, saasv1alpha1.SucceededReason, readyMsg
	return ready
}
