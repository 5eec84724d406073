package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/redact"
)

// patchStatusIfChanged writes after's status as a merge patch from before,
// unless the two statuses are equal or the patch would change nothing
// stored. It reports whether it wrote. The patch carries the
// resourceVersion of after (the newest version this reconcile saw, read or
// written), so a status decided on a stale read is refused with a Conflict
// instead of overwriting a newer one. An object deleted meanwhile has no
// status left to keep: not an error. Conditions of after whose status is
// the one stored keep their stored time (keepStoredConditions).
func patchStatusIfChanged(ctx context.Context, c client.Client, before, after client.Object, beforeStatus, afterStatus any) (bool, error) {
	if b, a, ok := conditionsOf(before, after); ok {
		conds := a.GetConditions()
		keepStoredConditions(b, &conds)
		a.SetConditions(conds)
	}
	if apiequality.Semantic.DeepEqual(beforeStatus, afterStatus) {
		return false, nil
	}
	base := before.DeepCopyObject().(client.Object)
	base.SetResourceVersion(after.GetResourceVersion())
	data, err := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}).Data(after)
	if err != nil {
		return false, fmt.Errorf("failed to compute the status patch: %w", err)
	}
	if changes, err := patchChangesStatus(data); err != nil || !changes {
		// Equal as stored, unequal in memory: a time finer than the API's
		// seconds, say. A write would be a request that changes nothing.
		return false, err
	}
	if err := c.Status().Patch(ctx, after, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to patch the status: %w", err)
	}
	return true, nil
}

// conditionsOf returns before's conditions and after, when both have
// conditions.
func conditionsOf(before, after client.Object) ([]metav1.Condition, conditioned, bool) {
	b, ok := before.(conditioned)
	a, ok2 := after.(conditioned)
	if !ok || !ok2 {
		return nil, nil, false
	}
	return b.GetConditions(), a, true
}

// patchChangesStatus reports whether a merge patch sets anything in the
// status (one carrying only the resourceVersion precondition does not).
func patchChangesStatus(data []byte) (bool, error) {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(data, &patch); err != nil {
		return false, fmt.Errorf("failed to read the status patch: %w", err)
	}
	_, changes := patch["status"]
	return changes, nil
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
		ctrl.LoggerFrom(ctx).Info("Retrying later", "retryAfter", retry.after, "reason", redact.APIError(retry.err).Error())
		*result = ctrl.Result{RequeueAfter: retry.after}
		return nil
	}
	// controller-runtime logs what is returned ("Reconciler error"): an
	// admission refusal a step let through unwithheld may quote the object
	// (a Secret's data, a buyer's details).
	return redact.APIError(foldStatusError(result, reconcileErr, statusErr))
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

// onlyConflicts: at least one error, and every one a Conflict or a stale
// read, down to each error it joins (onlyConflictLeaves).
func onlyConflicts(errs ...error) bool {
	seen := false
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !onlyConflictLeaves(err) {
			return false
		}
		seen = true
	}
	return seen
}

// onlyConflictLeaves reports whether err, through its wrapping, is a
// Conflict or a stale read, and, where it joins errors (errors.Join,
// fmt.Errorf with several %w, an Aggregate), whether each of them is. Not
// apierrors.IsConflict alone: errors.As finds the conflict in a real
// failure joined with its status write's conflict (recordFailure), and
// the failure would be folded away.
func onlyConflictLeaves(err error) bool {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		return onlyConflicts(e.Unwrap()...)
	case kerrors.Aggregate:
		return onlyConflicts(e.Errors()...)
	case apierrors.APIStatus:
		return apierrors.IsConflict(err)
	}
	if err == errStaleRead {
		return true
	}
	if wrapped := errors.Unwrap(err); wrapped != nil {
		return onlyConflictLeaves(wrapped)
	}
	return false
}
