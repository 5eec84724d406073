package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// RetentionReconciler deletes a released tenant's namespace once its
// retention period, written on the namespace as the delete-after
// annotation, is over. Keeping the date on the namespace itself means it
// holds even if the SaaSTenant is deleted, and a person can move it.
type RetentionReconciler struct {
	client.Client
	// Reader reads around the cache: the namespace is deleted only as the
	// API server holds it.
	Reader   client.Reader
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;delete

// Reconcile deletes the namespace when its time has come, or waits for it.
func (r *RetentionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &retentionState{ns: ns}
	// The cache says when to look; the API server's copy decides
	// (docs/lifecycle.md rule A): a date moved later by hand may not be in
	// the cache yet, and a deletion cannot be taken back.
	return runSteps(ctx, s,
		r.readDeleteAfter, r.waitForDeleteAfter,
		r.readStored, r.readDeleteAfter, r.waitForDeleteAfter,
		r.deleteNamespace,
	).result(ctrl.Result{})
}

// retentionState carries one reconcile's findings from step to step.
type retentionState struct {
	ns *corev1.Namespace
	// deleteAfter is the namespace's delete-after annotation, and its time.
	value       string
	deleteAfter time.Time
}

// readDeleteAfter reads the delete-after annotation of a namespace kooper
// manages. Without one, there is nothing to do.
func (r *RetentionReconciler) readDeleteAfter(_ context.Context, s *retentionState) outcome {
	ns := s.ns
	value, ok := ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]
	if !ok || !ns.DeletionTimestamp.IsZero() || ns.Labels[saasv1alpha1.ManagedByLabel] != saasv1alpha1.ManagedByValue {
		return done()
	}
	deleteAfter, err := time.Parse(time.RFC3339, value)
	if err != nil {
		// A typo must not delete data: say so and wait for a fix.
		r.Recorder.Eventf(ns, nil, corev1.EventTypeWarning, "InvalidDeleteAfter", "Retain",
			"%s is %q, not an RFC 3339 time; the namespace is kept", saasv1alpha1.DeleteAfterAnnotation, value)
		return done()
	}
	s.value, s.deleteAfter = value, deleteAfter
	return proceed()
}

// waitForDeleteAfter comes back when the retention period ends.
func (r *RetentionReconciler) waitForDeleteAfter(_ context.Context, s *retentionState) outcome {
	if now := r.Clock.Now(); now.Before(s.deleteAfter) {
		return waitFor(timeUntil(now, s.deleteAfter))
	}
	return proceed()
}

// readStored replaces the cached namespace with the one the API server
// holds, which the deletion is decided on (docs/lifecycle.md rule A).
func (r *RetentionReconciler) readStored(ctx context.Context, s *retentionState) outcome {
	stored := &corev1.Namespace{}
	err := apiReader(r.Reader, r.Client).Get(ctx, client.ObjectKeyFromObject(s.ns), stored)
	if apierrors.IsNotFound(err) {
		return done()
	}
	if err != nil {
		return failed(fmt.Errorf("failed to read Namespace %s before its deletion: %w", s.ns.Name, err))
	}
	s.ns = stored
	return proceed()
}

// deleteNamespace deletes the namespace, with the tenant's data, only in
// the version the decision was made on: a change since (a date moved by
// hand) fails it with a Conflict, and the retry decides again.
func (r *RetentionReconciler) deleteNamespace(ctx context.Context, s *retentionState) outcome {
	ns := s.ns
	ctrl.LoggerFrom(ctx).Info("Deleting a released tenant's namespace", "Namespace", ns.Name, "deleteAfter", s.value)
	decidedOn := client.Preconditions{UID: &ns.UID, ResourceVersion: &ns.ResourceVersion}
	err := r.Delete(ctx, ns, decidedOn)
	switch {
	case apierrors.IsConflict(err):
		// Changed since it was read (a date moved, a label added): decided
		// again on the new version, without an error in the log.
		return waitFor(conflictRequeueDelay)
	case err != nil && !apierrors.IsNotFound(err):
		return failed(fmt.Errorf("failed to delete Namespace %s: %w", ns.Name, err))
	}
	r.Recorder.Eventf(ns, nil, corev1.EventTypeNormal, saasv1alpha1.DataDeletedReason, "Delete", "The retention period ended")
	return proceed()
}

// SetupWithManager watches kooper's namespaces that carry the annotation
// (the cache holds kooper's namespaces only).
func (r *RetentionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	hasDeleteAfter := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		_, ok := obj.GetAnnotations()[saasv1alpha1.DeleteAfterAnnotation]
		return ok
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Namespace{}, builder.WithPredicates(hasDeleteAfter)).
		Named("retention").
		WithOptions(controller.Options{RateLimiter: newRetryRateLimiter()}).
		Complete(r)
}
