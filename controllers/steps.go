package controllers

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Every kooper reconcile has one shape: read the object, run its steps in
// order with runSteps, then write its status once (the tenant, licence and
// directory in a defer), with Ready summed up from the conditions the steps
// left (readyFrom); docs/architecture.md says where a kind differs. A step says how
// it ended with an outcome; the skeleton goes on to the next step only
// after proceed. The shape follows Flux's sub-reconcilers (typed results)
// and cluster-api's deferred status update.

// outcomeKind is how a step ended.
type outcomeKind int

const (
	// proceeding: the step did its part; the next step runs.
	proceeding outcomeKind = iota
	// finished: the reconcile has nothing more to do for now (the object is
	// revoked, deleted or waiting for another object), and nothing failed.
	finished
	// waiting: nothing failed, but the reconcile must come back after a
	// while to look again.
	waiting
	// stalledOn: only a change of input (a product, plan or Secret) can
	// help; the step set the Stalled condition, and that change triggers a
	// reconcile.
	stalledOn
	// failing: the step failed; the reconcile is retried.
	failing
)

// outcome is how a reconcile step ended. The zero value is proceed().
type outcome struct {
	kind outcomeKind
	// after is when a waiting reconcile comes back.
	after time.Duration
	// reason is a stalled step's Stalled reason.
	reason string
	// err is a failing step's error.
	err error
}

// proceed: the step did its part; the next step runs.
func proceed() outcome { return outcome{} }

// done ends the reconcile with success: nothing more to do for now.
func done() outcome { return outcome{kind: finished} }

// waitFor ends the reconcile with success, to come back after d.
func waitFor(d time.Duration) outcome { return outcome{kind: waiting, after: d} }

// stalled ends the reconcile without a retry: only a change of input can
// help. The caller has set the Stalled condition with reason.
func stalled(reason string) outcome { return outcome{kind: stalledOn, reason: reason} }

// failed ends the reconcile with err, to be retried; a nil err proceeds,
// so a step may end with failed(r.doSomething(ctx)).
func failed(err error) outcome {
	if err == nil {
		return proceed()
	}
	return outcome{kind: failing, err: err}
}

// proceeds reports whether the next step may run.
func (o outcome) proceeds() bool { return o.kind == proceeding }

// isStalled reports whether the reconcile stalled.
func (o outcome) isStalled() bool { return o.kind == stalledOn }

// result folds the outcome into what controller-runtime expects: a
// failure's error, or a waiting reconcile's requeue, or base (the wake-up
// the steps asked for on the way) otherwise.
func (o outcome) result(base ctrl.Result) (ctrl.Result, error) {
	switch o.kind {
	case failing:
		return ctrl.Result{}, o.err
	case waiting:
		return ctrl.Result{RequeueAfter: minRequeue(base.RequeueAfter, o.after)}, nil
	}
	return base, nil
}

// minRequeue is the sooner of two requeue delays, 0 meaning none.
func minRequeue(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// step is one part of a reconcile, working on the reconcile's state S.
type step[S any] func(context.Context, S) outcome

// runSteps runs steps in order and returns the outcome of the first that
// does not proceed, or proceed() when every step did its part.
func runSteps[S any](ctx context.Context, s S, steps ...step[S]) outcome {
	for _, run := range steps {
		if o := run(ctx, s); !o.proceeds() {
			return o
		}
	}
	return proceed()
}
