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
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// RetentionReconciler deletes a released tenant's namespace once its
// retention period, written on the namespace as the delete-after
// annotation, is over. Keeping the date on the namespace itself means it
// holds even if the SaaSTenant is deleted, and a person can move it.
type RetentionReconciler struct {
	client.Client
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
	value, ok := ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]
	if !ok || !ns.DeletionTimestamp.IsZero() || ns.Labels[saasv1alpha1.ManagedByLabel] != saasv1alpha1.ManagedByValue {
		return ctrl.Result{}, nil
	}
	deleteAfter, err := time.Parse(time.RFC3339, value)
	if err != nil {
		// A typo must not delete data: say so and wait for a fix.
		r.Recorder.Eventf(ns, nil, corev1.EventTypeWarning, "InvalidDeleteAfter", "Retain",
			"%s is %q, not an RFC 3339 time; the namespace is kept", saasv1alpha1.DeleteAfterAnnotation, value)
		return ctrl.Result{}, nil
	}
	if now := r.Clock.Now(); now.Before(deleteAfter) {
		return ctrl.Result{RequeueAfter: timeUntil(now, deleteAfter)}, nil
	}
	ctrl.LoggerFrom(ctx).Info("Deleting a released tenant's namespace", "Namespace", ns.Name, "deleteAfter", value)
	if err := r.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("failed to delete Namespace %s: %w", ns.Name, err)
	}
	r.Recorder.Eventf(ns, nil, corev1.EventTypeNormal, saasv1alpha1.DataDeletedReason, "Delete", "The retention period ended")
	return ctrl.Result{}, nil
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
		Complete(r)
}
