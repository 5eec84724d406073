package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/rollout"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// selectRevision puts in s.product the version of the product's app the
// tenant is to run (docs/rollout.md): the revision the rollout told it
// (annotation saas.kooper.io/revision), else the one it runs
// (status.revision), else the one the rollout has reached
// (status.rollout.currentRevision); the product's spec as it is when that
// is the revision, or when there is none yet. Everything after works on
// that version: a tenant the rollout has not reached is frozen, upgraded
// and restarted on the version it runs.
//
// A tenant whose revision is not stored any more stalls when it runs one
// (status.revision): it keeps the objects it runs until its product's
// rollout tells it a revision, and stopping service works from its record
// (freezeAnyway). It took the product's newest, outside any wave: with
// `kubectl delete saasproduct --cascade=foreground` the garbage collector
// deletes a product's revisions (they have it as owner) while the product
// waits for its tenants, and every tenant of a rollout paused on a bad
// version moved onto it at once. Only a tenant that runs nothing yet takes
// the product's newest.
func (r *SaaSTenantReconciler) selectRevision(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	live := rollout.LiveName(s.product, rollout.Defaults{GatewayImage: tenantobjects.GatewayImageOr(r.Options.GatewayImage)})
	want := t.Annotations[saasv1alpha1.RevisionAnnotation]
	if want == "" {
		want = t.Status.Revision
	}
	if progress := s.product.Status.Rollout; want == "" && progress != nil {
		want = progress.CurrentRevision
	}
	if want == "" || want == live {
		s.revision = live
		return proceed()
	}
	cr, found, err := readRevision(ctx, r.Client, r.Reader, r.Options.SecretNamespace, want)
	if err != nil {
		return failed(err)
	}
	if !found && t.Status.Revision != "" {
		return r.stall(t, saasv1alpha1.RevisionNotFoundReason,
			"Product revision %s is not stored (deleted by hand, or by the garbage collector with its product); the tenant keeps the objects it runs "+
				"until its product's rollout tells it a revision: the product's newest revision is not applied outside a rollout wave", want)
	}
	if !found {
		// A tenant that runs nothing yet: nothing but the product's newest
		// is left to run.
		r.event(t, corev1.EventTypeWarning, saasv1alpha1.RevisionNotFoundReason,
			fmt.Sprintf("Product revision %s is not stored; the product's newest revision %s is applied", want, live))
		s.revision = live
		return proceed()
	}
	rev, chart, err := r.revisions.decode(cr, r.Charts)
	if err != nil {
		return r.stall(t, saasv1alpha1.RevisionNotFoundReason, "%v", err)
	}
	r.Charts.rememberChart(chart)
	s.product, s.revision = rev.Overlay(s.product), want
	return proceed()
}
