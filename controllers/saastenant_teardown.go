package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// Teardown: freeze when provisioning cannot run, release, retention and
// deletion. All of it works from what the tenant recorded in its status
// (namespace, applied, lifecycle), never from its plan, order or a Secret,
// and from its product only while the product exists: any of them may be
// gone, and stopping service must not wait for them (DESIGN.md rule 10).

// lifecycle is the policy teardown applies: the product's while it exists,
// else the one the tenant recorded, else the schema's defaults (a tenant
// provisioned by a kooper that recorded none, whose product is gone).
func (r *SaaSTenantReconciler) lifecycle(ctx context.Context, s *tenantState) (*saasv1alpha1.LifecyclePolicy, error) {
	if s.lifecycle != nil {
		return s.lifecycle, nil
	}
	return r.lifecycleFrom(ctx, r.Client, s)
}

// storedLifecycle is lifecycle with the product as the API server holds it,
// for a decision that cannot be taken back (docs/lifecycle.md rule A). A
// product the API server no longer has leaves the policy last seen, which
// no read can make newer.
func (r *SaaSTenantReconciler) storedLifecycle(ctx context.Context, s *tenantState) (*saasv1alpha1.LifecyclePolicy, error) {
	return r.lifecycleFrom(ctx, apiReader(r.Reader, r.Client), s)
}

// lifecycleFrom reads the product from reader, records its policy in the
// tenant's status, and makes it the reconcile's.
func (r *SaaSTenantReconciler) lifecycleFrom(ctx context.Context, reader client.Reader, s *tenantState) (*saasv1alpha1.LifecyclePolicy, error) {
	t := s.tenant
	product := &saasv1alpha1.SaaSProduct{}
	err := reader.Get(ctx, client.ObjectKey{Name: t.Spec.ProductName}, product)
	switch {
	case err == nil && product.Spec.Type == saasv1alpha1.ProductTypeSaaS:
		t.Status.Lifecycle = product.Spec.Lifecycle.DeepCopy()
	case err != nil && !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("failed to read SaaSProduct %s: %w", t.Spec.ProductName, err)
	}
	s.lifecycle = t.Status.Lifecycle
	if s.lifecycle == nil {
		s.lifecycle = saasv1alpha1.DefaultLifecyclePolicy()
	}
	return s.lifecycle, nil
}

// forgetRecordedFreeze removes a Frozen condition the record no longer
// supports (an UNFREEZE, a renewal past the expiry, or a package that
// brought quota, whose pass could not provision): the tenant is meant to
// serve, and Ready says why it does not; left, Frozen would keep it out of
// the not-ready alert (notReadySince), and metering would count it frozen.
func forgetRecordedFreeze(t *saasv1alpha1.SaaSTenant) {
	c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.FrozenCondition)
	if c != nil && (c.Reason == saasv1alpha1.FrozenByMarketplaceReason || c.Reason == saasv1alpha1.FrozenByExpiryReason ||
		c.Reason == saasv1alpha1.FrozenByExhaustionReason) {
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.FrozenCondition)
	}
}

// freezeFromRecord stops service for a frozen, expired or used-up tenant
// whose provisioning could not run to its end. It touches only what stops
// service (the workloads' replicas, or the Ingresses and the Services
// reachable from outside the cluster): the templates of the
// other objects may be what is missing. Each freeze is decided here again:
// the pass may have stopped before its own decision, and applyExpiry
// starts from spec.state.
func (r *SaaSTenantReconciler) freezeFromRecord(ctx context.Context, s *tenantState) error {
	t := s.tenant
	if _, err := r.lifecycle(ctx, s); err != nil {
		return err
	}
	times := orders.RecordedTimes(t.Status.OrderTimes)
	r.applyExpiry(s, times)
	s.frozenByExhaustion = false
	usedUp, err := r.exhaustionFreezesFromRecord(ctx, s)
	if err != nil {
		return err
	}
	if !s.frozen && !usedUp {
		forgetRecordedFreeze(t)
		return nil
	}
	if err := r.recoverNamespace(ctx, t); err != nil || t.Status.Namespace == "" {
		return err
	}
	if err := r.confirmExpiryFreeze(ctx, s, times); err != nil {
		return err
	}
	if !s.frozen && usedUp {
		// After the expiry's, which reports its own reason first, as
		// decideExhaustionFreeze follows decideExpiryFreeze.
		s.frozen, s.frozenByExhaustion = true, true
	}
	if !s.frozen {
		return nil // the stored expiry policy cancelled the freeze
	}
	chart, err := r.runsAChart(ctx, s)
	if err != nil {
		return err
	}
	if chart {
		if err := r.recordFreezeFromInventory(ctx, s); err != nil {
			return err
		}
		if err := r.stopChart(ctx, t, s.lifecycle.Freeze.Behavior); err != nil {
			return err
		}
		setFrozen(t, s)
		return nil
	}
	if err := r.recordFreeze(ctx, s); err != nil {
		return err
	}
	if err := r.stopWorkload(ctx, t.Status.Namespace, s.lifecycle.Freeze.Behavior); err != nil {
		return err
	}
	setFrozen(t, s)
	return nil
}

// runsAChart reports whether freezeFromRecord stops the tenant as a chart
// tenant (stopChart). chartTenant says so from the product or the
// inventory. With neither (the product is gone or could not be read, and
// a restore lost the inventory), the tenant's labelled objects say so, as
// release finds them (recoverInventory): stopping service never depends
// on configuration (DESIGN.md rule 10), and stopWorkload alone scales only
// the single app's Deployment, which a chart tenant lacks, while Frozen
// said True and the chart's workloads served. A single app found so is
// stopped the same way (stopChart stops it too), and its product, once
// back, prunes the inventory recorded (pruneChartInventory), keeping the
// app's own objects.
func (r *SaaSTenantReconciler) runsAChart(ctx context.Context, s *tenantState) (bool, error) {
	if chartTenant(s) {
		return true, nil
	}
	if s.product != nil {
		return false, nil // a loaded product with spec.workload
	}
	inventory, err := r.recoverInventory(ctx, s.tenant)
	return len(inventory) > 0, err
}

// stopWorkload scales the tenant's Deployment to zero (ScaleToZero) or
// removes its Ingress, and its Service if of a type reachable from outside
// the cluster (DisableIngress; tenantobjects.ReachableFromOutside).
func (r *SaaSTenantReconciler) stopWorkload(ctx context.Context, namespace string, behavior saasv1alpha1.FreezeBehavior) error {
	if behavior == saasv1alpha1.FreezeDisableIngress {
		if _, err := r.applier().Remove(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: tenantobjects.AppName}}); err != nil {
			return err
		}
		return r.removeReachableService(ctx, namespace, tenantobjects.AppName)
	}
	deployment, err := r.deployment(ctx, namespace)
	if err != nil || deployment == nil || ptr.Deref(deployment.Spec.Replicas, 1) == 0 {
		return err
	}
	patch := client.MergeFrom(deployment.DeepCopy())
	deployment.Spec.Replicas = ptr.To[int32](0)
	if err := r.Patch(ctx, deployment, patch); err != nil {
		return fmt.Errorf("failed to scale Deployment %s/%s to zero: %w", namespace, tenantobjects.AppName, err)
	}
	return nil
}

// retention is what happens to a released or deleted tenant's data:
// deleted at once, or kept for days (0: until someone deletes it).
type retention struct {
	deleteNow bool
	days      int32
}

// releaseRetention is the release policy's; debug data is never kept.
func releaseRetention(t *saasv1alpha1.SaaSTenant, p saasv1alpha1.ReleasePolicy) retention {
	if t.Spec.Mode == saasv1alpha1.ModeDebug || p.RetentionPolicy == saasv1alpha1.DeleteData {
		return retention{deleteNow: true}
	}
	return retention{days: p.GetRetentionDays()}
}

// handDeletionRetention keeps a tenant deleted by hand for the retention
// days, whatever the release policy, unless the product asks otherwise: a
// kubectl delete is more often an accident than a release. The debug TTL's
// deletion, which kooper marks, takes the data, of a debug tenant only: the
// mark on a production tenant came from elsewhere (a copied manifest, a
// kubectl annotate), and a buyer's data goes by no mark.
func handDeletionRetention(t *saasv1alpha1.SaaSTenant, p saasv1alpha1.ReleasePolicy) retention {
	_, marked := t.Annotations[saasv1alpha1.DebugTTLExpiredAnnotation]
	byTTL := marked && t.Spec.Mode == saasv1alpha1.ModeDebug
	if byTTL || p.OnHandDeletion == saasv1alpha1.HandDeletionDelete {
		return retention{deleteNow: true}
	}
	return retention{days: p.GetRetentionDays()}
}

// release takes the workload down (and the copies of the product's
// Secrets it used: removeWorkload) and starts the retention period: the
// namespace, with every PVC and the buyer's Secrets, is kept until
// retainUntil, or deleted at once.
func (r *SaaSTenantReconciler) release(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	lifecycle, err := r.lifecycle(ctx, s)
	if err != nil {
		return failed(err)
	}
	if err := r.recoverNamespace(ctx, t); err != nil {
		return failed(err)
	}
	releasedAt := r.Clock.Now()
	if c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReleasedCondition); c != nil && c.Status == metav1.ConditionTrue {
		releasedAt = c.LastTransitionTime.Time
	}
	keep, withdrawn, err := r.retentionFor(ctx, s, lifecycle.Release, releaseRetention)
	if err != nil {
		return failed(err)
	}
	fate, retainUntil, err := r.releaseData(ctx, t, keep, releasedAt, !releaseRecorded(t))
	if err != nil {
		return failed(err)
	}
	if err := r.removeCredentialsCopy(ctx, t); err != nil {
		return failed(err)
	}
	t.Status.RetainUntil = retainUntil
	reason, msg := saasv1alpha1.RetainingDataReason, "Released; the data is kept until it is deleted by hand"
	switch {
	case t.Status.Namespace == "":
		reason, msg = saasv1alpha1.DataDeletedReason, "Released; nothing was provisioned"
	case fate == dataDeleted:
		reason, msg = saasv1alpha1.DataDeletedReason, "Released; the data is deleted"
	case fate == dataDeleting:
		reason, msg = saasv1alpha1.DeletingDataReason,
			"Released; namespace "+t.Status.Namespace+" is being deleted, with the data: what still holds it shows in its status.conditions"
	case retainUntil != nil:
		msg = "Released; the data is kept until " + retainUntil.UTC().Format(time.RFC3339)
	case withdrawn:
		reason, msg = saasv1alpha1.RetentionWithdrawnReason,
			"Released; "+saasv1alpha1.DeleteAfterAnnotation+" was removed from the namespace, so the data is kept until it is deleted by hand"
	}
	setCondition(t, saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, reason, msg)
	switch {
	case t.Status.Namespace != "":
		// What Available last observed is gone with the workload.
		setCondition(t, saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadRemovedReason, "Released; the workload is removed")
	case t.Status.Package != nil:
		setCondition(t, saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadRemovedReason, "Released; the package pays for nothing from now on")
	}
	// A freeze is forgotten too: the workload it stopped is gone, and a
	// released tenant is never unfrozen, so neither Frozen (the Frozen
	// column, describe) nor the replicas to restore say anything true.
	for _, gone := range []string{saasv1alpha1.ReconcilingCondition, saasv1alpha1.StalledCondition, saasv1alpha1.ExpiredCondition,
		saasv1alpha1.FrozenCondition} {
		apimeta.RemoveStatusCondition(&t.Status.Conditions, gone)
	}
	t.Status.FrozenReplicas = nil
	if c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ProvisionedCondition); c != nil && c.Reason == saasv1alpha1.ApplyingReason {
		// Released while its provisioning was still to be reported
		// (provisionedHold): nothing is being applied any more.
		setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadRemovedReason, msg)
	}
	return proceed()
}

// retentionFor is what decide makes of the release policy for the tenant:
// nothing marked or deleted while a person has withdrawn the mark
// (withdrawn; kept until deleted by hand, whatever the policy), and a
// deletion at once, or a first retention date, only as the API server's
// product confirms it.
func (r *SaaSTenantReconciler) retentionFor(ctx context.Context, s *tenantState, policy saasv1alpha1.ReleasePolicy,
	decide func(*saasv1alpha1.SaaSTenant, saasv1alpha1.ReleasePolicy) retention) (keep retention, withdrawn bool, err error) {
	if withdrawn, err = r.retentionWithdrawn(ctx, s.tenant); withdrawn || err != nil {
		return retention{}, withdrawn, err
	}
	keep, err = r.confirmRetention(ctx, s, decide(s.tenant, policy), decide)
	return keep, false, err
}

// retentionWithdrawn reports whether a person removed the delete-after mark
// kooper put on the released tenant's namespace (the tenant recorded the
// mark's time, or recorded the withdrawal before). The mark is kooper's
// leave to delete the data (the admission policy's too): without it the
// namespace stays until it is deleted by hand, and kooper does not mark it
// again (api/v1alpha1.DeleteAfterAnnotation). Read on the cache: a stale
// answer only keeps data longer, or keeps a mark that is still there.
func (r *SaaSTenantReconciler) retentionWithdrawn(ctx context.Context, t *saasv1alpha1.SaaSTenant) (bool, error) {
	if t.Status.Namespace == "" {
		return false, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: t.Status.Namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return withdrawnOn(t, ns), nil
}

// withdrawnOn reports whether ns, the released tenant's namespace, lacks
// the delete-after mark the tenant recorded kooper put there.
func withdrawnOn(t *saasv1alpha1.SaaSTenant, ns *corev1.Namespace) bool {
	released := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReleasedCondition)
	wasMarked := t.Status.RetainUntil != nil || (released != nil && released.Reason == saasv1alpha1.RetentionWithdrawnReason)
	_, marked := ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]
	return wasMarked && !marked && ns.DeletionTimestamp.IsZero()
}

// confirmRetention decides again, with decide, on the product as the API
// server holds it (docs/lifecycle.md rule A), a deletion of the data at
// once, and the retention period of a tenant not marked yet: the cache may
// not show yet a merchant's switch from Delete to Retain, or a longer
// retentionDays, made just before; deleted data cannot be brought back,
// and the date is written on the namespace once. A tenant whose mark is
// written (status.retainUntil) needs no such read.
func (r *SaaSTenantReconciler) confirmRetention(ctx context.Context, s *tenantState, keep retention,
	decide func(*saasv1alpha1.SaaSTenant, saasv1alpha1.ReleasePolicy) retention) (retention, error) {
	if !keep.deleteNow && (keep.days == 0 || s.tenant.Status.RetainUntil != nil) {
		return keep, nil
	}
	lifecycle, err := r.storedLifecycle(ctx, s)
	if err != nil {
		return retention{}, err
	}
	return decide(s.tenant, lifecycle.Release), nil
}

// dataFate is where a released tenant's namespace, with its data, stands.
type dataFate int

const (
	// dataKept: the namespace stays, marked or not.
	dataKept dataFate = iota
	// dataDeleting: the namespace is Terminating; its objects may still be
	// held by their finalizers (a PVC in use, a finalizer of another
	// controller), so nothing is deleted yet.
	dataDeleting
	// dataDeleted: the namespace is gone, or there never was one.
	dataDeleted
)

// releaseRecorded reports whether an earlier pass recorded the tenant's
// release as done: Released True and the workload removed. Until then a
// release pass confirms with the API server what the cache misses.
func releaseRecorded(t *saasv1alpha1.SaaSTenant) bool {
	released := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReleasedCondition)
	available := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.AvailableCondition)
	return released != nil && released.Status == metav1.ConditionTrue &&
		(t.Status.Namespace == "" || available != nil && available.Reason == saasv1alpha1.WorkloadRemovedReason)
}

// releaseData removes the workload from the tenant's namespace and applies
// keep to it. It reports where the data stands and until when it is kept.
//
// With confirm (a release not yet recorded, or a tenant deleted), what the
// cache misses is read from the API server before it is taken as gone: the
// cache holds only objects labelled as kooper's, so a namespace or workload
// whose labels someone changed is missing from it while it still runs, and
// the release would report a workload removed and data deleted that are
// not. Once the release is recorded, later passes trust the cache, so a
// restart over many released tenants costs no request.
func (r *SaaSTenantReconciler) releaseData(ctx context.Context, t *saasv1alpha1.SaaSTenant, keep retention, releasedAt time.Time, confirm bool) (dataFate, *metav1.Time, error) {
	name := t.Status.Namespace
	if name == "" {
		return dataDeleted, nil, nil // nothing was provisioned
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		if !apierrors.IsNotFound(err) {
			return dataKept, nil, fmt.Errorf("failed to read Namespace %s: %w", name, err)
		}
		if !confirm {
			return dataDeleted, nil, nil
		}
		stored, fate, err := r.storedNamespace(ctx, name)
		if stored == nil || err != nil {
			return fate, nil, err
		}
		if !labelledAsTenants(stored, t) {
			return dataKept, nil, unlabelledNamespaceError(t, stored)
		}
		ns = stored // the cache has not caught up with it yet
	}
	if !ns.DeletionTimestamp.IsZero() {
		return dataDeleting, nil, nil
	}
	if err := r.removeWorkload(ctx, t, name, confirm); err != nil {
		return dataKept, nil, err
	}
	if keep.deleteNow {
		return r.deleteNamespaceNow(ctx, t, ns)
	}
	if keep.days == 0 {
		return dataKept, nil, nil
	}
	until, err := r.markDeleteAfter(ctx, t, ns, releasedAt.Add(time.Duration(keep.days)*24*time.Hour))
	return dataKept, until, err
}

// deleteNamespaceNow deletes the tenant's namespace with its data. The
// chart's admission policy lets the controllers delete only a namespace
// already marked with a delete-after time: it marks it, due now, then
// deletes it. Each step is decided on the namespace as the API server
// holds it, never the cache's (docs/lifecycle.md rule A), and the deletion
// is made only in the version it was decided on: a mark withdrawn by a
// person keeps the data, a date a person moved later stands (the
// retention controller deletes it then), and a change since the read
// fails the deletion with a Conflict, to be decided again.
func (r *SaaSTenantReconciler) deleteNamespaceNow(ctx context.Context, t *saasv1alpha1.SaaSTenant, cached *corev1.Namespace) (dataFate, *metav1.Time, error) {
	ns, fate, err := r.storedNamespace(ctx, cached.Name)
	if ns == nil || err != nil {
		return fate, nil, err
	}
	if withdrawnOn(t, ns) || !validDeleteAfter(ns) {
		return dataKept, nil, nil
	}
	now := r.Clock.Now()
	until, err := r.markDeleteAfter(ctx, t, ns, now)
	if err != nil {
		return dataKept, nil, err
	}
	if until.After(now) {
		return dataKept, until, nil
	}
	if ns, fate, err = r.storedNamespace(ctx, cached.Name); ns == nil || err != nil {
		return fate, nil, err // read again: the mark changed its version
	}
	if _, marked := ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]; !marked {
		return dataKept, nil, nil // withdrawn since it was marked
	}
	decidedOn := client.Preconditions{UID: &ns.UID, ResourceVersion: &ns.ResourceVersion}
	if err := r.Delete(ctx, ns, decidedOn); err != nil && !apierrors.IsNotFound(err) {
		return dataKept, nil, fmt.Errorf("failed to delete Namespace %s: %w", ns.Name, err)
	}
	return dataDeleting, nil, nil
}

// validDeleteAfter reports whether ns has no delete-after mark or one that
// reads as a time: a typo, like a withdrawn mark, must not delete data (the
// retention controller warns of it with an InvalidDeleteAfter Event).
func validDeleteAfter(ns *corev1.Namespace) bool {
	value, ok := ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]
	if !ok {
		return true
	}
	_, err := time.Parse(time.RFC3339, value)
	return err == nil
}

// storedNamespace reads the namespace from the API server; nil, with its
// fate, when it is gone or already being deleted.
func (r *SaaSTenantReconciler) storedNamespace(ctx context.Context, name string) (*corev1.Namespace, dataFate, error) {
	ns := &corev1.Namespace{}
	err := apiReader(r.Reader, r.Client).Get(ctx, client.ObjectKey{Name: name}, ns)
	switch {
	case apierrors.IsNotFound(err):
		return nil, dataDeleted, nil
	case err != nil:
		return nil, dataKept, fmt.Errorf("failed to read Namespace %s: %w", name, err)
	case !ns.DeletionTimestamp.IsZero():
		return nil, dataDeleting, nil
	}
	return ns, dataKept, nil
}

// removeWorkload deletes the Deployment, Service and Ingress, which need
// no template to be found: only their names; a chart tenant's workloads,
// which its inventory names; and the copies of the product's TLS and
// image-pull Secrets, after the pods and Ingress that used them. The
// copies are the merchant's private key and registry credentials, not the
// buyer's data: kept for the retention, they would outlive their only use
// (tenantobjects.Desired.Objects), for ever under retentionDays 0. The
// credentials Secret is the buyer's and stays. With confirm, each is
// looked up in the API server, not the cache (see releaseData).
func (r *SaaSTenantReconciler) removeWorkload(ctx context.Context, t *saasv1alpha1.SaaSTenant, namespace string, confirm bool) error {
	if err := r.removeChartWorkloads(ctx, t, namespace); err != nil {
		return err
	}
	applier := r.applier()
	if confirm {
		applier = r.confirming(applier)
	}
	named := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: namespace, Name: name} }
	app := named(tenantobjects.AppName)
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: app}, &corev1.Service{ObjectMeta: app}, &networkingv1.Ingress{ObjectMeta: app},
		&corev1.Secret{ObjectMeta: named(tenantobjects.TLSSecretName)}, &corev1.Secret{ObjectMeta: named(tenantobjects.ImagePullSecretName)},
	} {
		if _, err := applier.Remove(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// labelledAsTenants reports whether ns carries the labels that make it
// t's namespace, for the cache and for the chart's admission policy.
func labelledAsTenants(ns *corev1.Namespace, t *saasv1alpha1.SaaSTenant) bool {
	return ns.Labels[saasv1alpha1.ManagedByLabel] == saasv1alpha1.ManagedByValue &&
		ns.Labels[saasv1alpha1.InstanceIDLabel] == t.Spec.InstanceID
}

// unlabelledNamespaceError says why a release cannot go on: the tenant's
// namespace is still there but no longer labelled as its, so kooper will
// not take its workload down or mark its data (with the chart's admission
// policy it may not write there at all). Putting the labels back queues the
// tenant again (its namespace enters the cache).
func unlabelledNamespaceError(t *saasv1alpha1.SaaSTenant, ns *corev1.Namespace) error {
	return fmt.Errorf("namespace %s is no longer labelled as this tenant's (%s=%s, %s=%s; it has %s=%q, %s=%q): "+
		"kooper neither removes its workload nor keeps or deletes its data until the labels are put back",
		ns.Name, saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel, t.Spec.InstanceID,
		saasv1alpha1.ManagedByLabel, ns.Labels[saasv1alpha1.ManagedByLabel], saasv1alpha1.InstanceIDLabel, ns.Labels[saasv1alpha1.InstanceIDLabel])
}

// markDeleteAfter writes the end of the retention period on the namespace,
// where the retention controller finds it, unless a date is there already:
// someone may have moved it by hand, and theirs stands.
func (r *SaaSTenantReconciler) markDeleteAfter(ctx context.Context, t *saasv1alpha1.SaaSTenant, ns *corev1.Namespace, deleteAfter time.Time) (*metav1.Time, error) {
	until := metav1.NewTime(deleteAfter.UTC().Truncate(time.Second))
	if existing, ok := ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]; ok {
		if marked, err := time.Parse(time.RFC3339, existing); err == nil {
			until = metav1.NewTime(marked)
		}
		return &until, nil
	}
	marked := tenantobjects.NamespaceObject(t, ns.Name)
	marked.Annotations = map[string]string{saasv1alpha1.DeleteAfterAnnotation: until.UTC().Format(time.RFC3339)}
	if _, err := r.applier().Apply(ctx, marked); err != nil {
		return nil, err
	}
	return &until, nil
}

// reconcileDelete handles a SaaSTenant deleted by hand (or by its debug
// TTL): its data is kept or deleted as handDeletionRetention says, and the
// finalizer goes at once, so nothing waits in Terminating. If the CRD itself
// is being deleted, every tenant object is left alone and the instance is
// remembered as lost, not released: a CRD reinstall must never cost data,
// and the record restored from a backup is taken back. stored is t as
// read, which the status written here is compared with.
func (r *SaaSTenantReconciler) reconcileDelete(ctx context.Context, t, stored *saasv1alpha1.SaaSTenant) error {
	if !controllerutil.ContainsFinalizer(t, saasv1alpha1.Finalizer) {
		return nil
	}
	crdGoing, err := crdTerminating(ctx, r.Reader, "saastenants")
	if err != nil {
		return err
	}
	if !crdGoing {
		if err := r.releaseOnDelete(ctx, t); err != nil {
			return err
		}
	}
	if err := recordTombstone(ctx, r.Client, r.Reader, r.Issued, r.Recorder, r.Options.SecretNamespace, t, tombstone.KindTenant, crdGoing); err != nil {
		return err
	}
	if heldByOthers(t) {
		// Kept after kooper lets go (the metering finalizer waits for the
		// last push), when kooper writes its status no more: it says it is
		// being deleted now, one status write more than a deletion that
		// goes at once.
		if err := r.patchDeletingStatus(ctx, stored, t, nil); err != nil {
			return err
		}
	}
	return r.removeFinalizer(ctx, t)
}

// removeFinalizer removes the tenant controller's finalizer from t under an
// optimistic lock. A merge patch replaces the whole finalizer list: from a
// t read before the metering controller let go of its own finalizer
// (during the release, which may take seconds), it would send that
// finalizer back, which the API server refuses on an object being deleted
// (422, "no new finalizers can be added"); with the lock the write is a
// Conflict, retried quietly from the newer tenant. Once it is removed, what
// kooper remembers of the tenant by UID goes too: the tenant has no later
// pass that would drop it (foundNothingMemory).
func (r *SaaSTenantReconciler) removeFinalizer(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(t, saasv1alpha1.Finalizer)
	if err := r.Patch(ctx, t, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to remove the finalizer: %w", err)
	}
	r.foundNothing.forget(t)
	return nil
}

// releaseOnDelete takes the workload of a deleted tenant down and keeps or
// deletes its data, from what the tenant recorded. Its namespace is found
// again first, as release and freezeFromRecord find it: a record restored
// from a backup has no status.namespace until provisioning records it, and
// one deleted before that (its product gone, say) would otherwise leave
// the workload serving and the data unmarked.
func (r *SaaSTenantReconciler) releaseOnDelete(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	if err := r.recoverNamespace(ctx, t); err != nil {
		return err
	}
	s := &tenantState{tenant: t}
	lifecycle, err := r.lifecycle(ctx, s)
	if err != nil {
		return err
	}
	keep, _, err := r.retentionFor(ctx, s, lifecycle.Release, handDeletionRetention)
	if err != nil {
		return err
	}
	if _, _, err = r.releaseData(ctx, t, keep, r.Clock.Now(), true); err != nil {
		return err
	}
	return r.removeCredentialsCopy(ctx, t)
}
