package controllers

import (
	"cmp"
	"fmt"
	"slices"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/textcut"
)

// The condition helpers of every kind: each kind's API type gives its
// conditions through GetConditions and SetConditions.

// conditioned is an object with status conditions.
type conditioned interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// maxConditionMessage bounds a condition's message (the API's limit).
const maxConditionMessage = 32768

// setCondition sets a condition for the object's current generation.
func setCondition(obj conditioned, condType string, status metav1.ConditionStatus, reason, msg string) {
	conds := obj.GetConditions()
	apimeta.SetStatusCondition(&conds, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: textcut.Bytes(msg, maxConditionMessage), ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

// removeCondition removes a condition, if the object has it.
func removeCondition(obj conditioned, condTypes ...string) {
	conds := obj.GetConditions()
	for _, condType := range condTypes {
		apimeta.RemoveStatusCondition(&conds, condType)
	}
	obj.SetConditions(conds)
}

// setStalled records that only a change of input can help: Stalled is
// True with reason, and nothing is in progress.
func setStalled(obj conditioned, reason, msg string) {
	setCondition(obj, saasv1alpha1.StalledCondition, metav1.ConditionTrue, reason, msg)
	removeCondition(obj, saasv1alpha1.ReconcilingCondition)
}

// clearStall removes Stalled if reason is its reason: the step that found
// what it stalled on clears its own stall, so that a later step failing
// for another cause is not reported under the old one. Another step's
// stall stays for that step to clear.
func clearStall(obj conditioned, reason string) {
	if c := apimeta.FindStatusCondition(obj.GetConditions(), saasv1alpha1.StalledCondition); c != nil && c.Reason == reason {
		removeCondition(obj, saasv1alpha1.StalledCondition)
	}
}

// keepStoredConditions leaves each of after's conditions that a reader of
// the stored status would not see change as it was stored: with its stored
// lastTransitionTime while its status is the stored one, and in its stored
// place in the list. A pass that clears a condition and sets it again (a
// step clears Stalled once the plan is found, a later one stalls again)
// has not changed it for any reader, since only written status is seen;
// without this it would carry the pass's time and go to the end of the
// list, so every such pass would write the status, and "stalled since"
// would always be now. SetStatusCondition keeps both for a condition set
// over itself. Conditions new in after follow the stored ones, in their
// order.
func keepStoredConditions(stored []metav1.Condition, after *[]metav1.Condition) {
	place := make(map[string]int, len(stored))
	for i, c := range stored {
		place[c.Type] = i
	}
	for i := range *after {
		c := &(*after)[i]
		if old := apimeta.FindStatusCondition(stored, c.Type); old != nil && old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
	}
	slices.SortStableFunc(*after, func(a, b metav1.Condition) int {
		return cmp.Compare(placeOf(place, a.Type), placeOf(place, b.Type))
	})
}

// placeOf is condType's index in the stored list, or past its end.
func placeOf(place map[string]int, condType string) int {
	if i, ok := place[condType]; ok {
		return i
	}
	return len(place)
}

// setReady is the one writer of an object's Ready condition, summed up
// from its other conditions by readyFrom.
func setReady(obj conditioned, inputs []readyInput, observedGeneration int64, readyMsg string) metav1.Condition {
	ready := readyFrom(obj.GetConditions(), inputs, obj.GetGeneration(), observedGeneration, readyMsg)
	conds := obj.GetConditions()
	apimeta.SetStatusCondition(&conds, ready)
	obj.SetConditions(conds)
	return ready
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

// tookReason returns the condition if this reconcile set it, or changed
// its status or its reason: a new cause is news for a person even when the
// status stays (a stall on a missing plan that becomes a stall on a quota
// too small, a product whose keys Secret, once found, lacks keys).
func (c conditionChange) tookReason(condType string) *metav1.Condition {
	now := c.is(condType)
	if now == nil {
		return nil
	}
	if old := c.was(condType); old != nil && old.Status == now.Status && old.Reason == now.Reason {
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
