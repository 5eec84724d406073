package controllers

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchStatusIfChanged writes after's status as a merge patch from before,
// unless the two statuses are equal. It reports whether it wrote. An
// object deleted meanwhile has no status left to keep: not an error.
func patchStatusIfChanged(ctx context.Context, c client.Client, before, after client.Object, beforeStatus, afterStatus any) (bool, error) {
	if apiequality.Semantic.DeepEqual(beforeStatus, afterStatus) {
		return false, nil
	}
	if err := c.Status().Patch(ctx, after, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to patch the status: %w", err)
	}
	return true, nil
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
