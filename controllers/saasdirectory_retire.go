package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A SaaSDirectory holds joint-operation users' personal data (in its
// shards), so it lives no longer than the tenant it serves. It is deleted,
// with an Event saying why, when:
//   - tenantSync deleted the enterprise (flag 0);
//   - its instance is released (or its SaaSTenant deleted) and the instance's
//     namespace is deleted, by retention or at once;
//   - no tenant came for its instance within Options.UnclaimedTTL of its
//     creation (the seller's test tenant, an order never paid).
//
// Deletion goes through DirectoryFinalizer: the shards and the delivered
// copies are deleted first, so a directory created again under the same
// name starts empty.

// DefaultDirectoryUnclaimedTTL is how long a directory waits for a tenant
// of its instance before it is deleted: 30 days.
const DefaultDirectoryUnclaimedTTL = 30 * 24 * time.Hour

// directoryFate says whether a directory must go, and why; or, when it is
// kept only until its unclaimed time is over, when to look again.
type directoryFate struct {
	reason, message string
	recheckAfter    time.Duration
}

func (f directoryFate) retire() bool { return f.reason != "" }

// fate decides from what reader returns. The decision to delete is taken
// from the cache, then confirmed from the API server (see settleFate).
func (r *SaaSDirectoryReconciler) fate(ctx context.Context, reader client.Reader, d *saasv1alpha1.SaaSDirectory) (directoryFate, error) {
	if d.Spec.State == saasv1alpha1.DirectoryDeleted {
		return directoryFate{reason: saasv1alpha1.EnterpriseDeletedReason, message: "tenantSync deleted the enterprise"}, nil
	}
	tenant, err := r.tenantOf(ctx, reader, d)
	if err != nil {
		return directoryFate{}, err
	}
	if tenant != nil {
		return r.fateWithTenant(ctx, reader, tenant)
	}
	if d.Status.InstanceNamespace != "" {
		return r.fateOfNamespace(ctx, reader, d.Status.InstanceNamespace,
			fmt.Sprintf("the SaaSTenant of instance %s is deleted and its namespace %s too", d.Spec.InstanceID, d.Status.InstanceNamespace))
	}
	return r.fateUnclaimed(d), nil
}

// tenantOf returns the directory's SaaSTenant, or nil if there is none (an
// instance ID that is no object name has none).
func (r *SaaSDirectoryReconciler) tenantOf(ctx context.Context, reader client.Reader, d *saasv1alpha1.SaaSDirectory) (*saasv1alpha1.SaaSTenant, error) {
	if len(validation.IsDNS1123Subdomain(d.Spec.InstanceID)) > 0 {
		return nil, nil
	}
	tenant := &saasv1alpha1.SaaSTenant{}
	err := reader.Get(ctx, client.ObjectKey{Name: d.Spec.InstanceID}, tenant)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("failed to read SaaSTenant %s: %w", d.Spec.InstanceID, err)
	}
	return tenant, nil
}

// fateWithTenant keeps the directory of a live tenant, and of a released
// one while its namespace (its retained data) is there.
func (r *SaaSDirectoryReconciler) fateWithTenant(ctx context.Context, reader client.Reader, tenant *saasv1alpha1.SaaSTenant) (directoryFate, error) {
	if tenant.Spec.State != saasv1alpha1.StateReleased {
		return directoryFate{}, nil
	}
	if tenant.Status.Namespace == "" {
		return directoryFate{reason: saasv1alpha1.InstanceNamespaceDeletedReason,
			message: fmt.Sprintf("instance %s was released before it had a namespace", tenant.Name)}, nil
	}
	return r.fateOfNamespace(ctx, reader, tenant.Status.Namespace,
		fmt.Sprintf("instance %s is released and its namespace %s deleted", tenant.Name, tenant.Status.Namespace))
}

// fateOfNamespace retires the directory once namespace is deleted (or
// being deleted).
func (r *SaaSDirectoryReconciler) fateOfNamespace(ctx context.Context, reader client.Reader, namespace, message string) (directoryFate, error) {
	ns := &corev1.Namespace{}
	err := reader.Get(ctx, client.ObjectKey{Name: namespace}, ns)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return directoryFate{}, fmt.Errorf("failed to read Namespace %s: %w", namespace, err)
	case ns.DeletionTimestamp.IsZero():
		return directoryFate{}, nil
	}
	return directoryFate{reason: saasv1alpha1.InstanceNamespaceDeletedReason, message: message}, nil
}

// fateUnclaimed retires a directory no tenant ever came for once it is
// older than the unclaimed TTL (0: never).
func (r *SaaSDirectoryReconciler) fateUnclaimed(d *saasv1alpha1.SaaSDirectory) directoryFate {
	ttl := r.Options.UnclaimedTTL
	if ttl <= 0 {
		return directoryFate{}
	}
	if left := d.CreationTimestamp.Add(ttl).Sub(r.Clock.Now()); left > 0 {
		return directoryFate{recheckAfter: left}
	}
	return directoryFate{reason: saasv1alpha1.UnclaimedReason,
		message: fmt.Sprintf("instance %s has had no SaaSTenant kooper knew of for %s since the directory was created", d.Spec.InstanceID, ttl)}
}

// settleFate decides on the cached directory and, only if that says it must
// go, decides again on the directory, tenant and namespace as stored: a
// cache that is behind never deletes anything. It returns the stored
// directory with a fate to act on.
func (r *SaaSDirectoryReconciler) settleFate(ctx context.Context, cached *saasv1alpha1.SaaSDirectory) (*saasv1alpha1.SaaSDirectory, directoryFate, error) {
	f, err := r.fate(ctx, r.Client, cached)
	if err != nil || !f.retire() {
		return cached, f, err
	}
	stored := &saasv1alpha1.SaaSDirectory{}
	if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(cached), stored); err != nil {
		return nil, directoryFate{}, client.IgnoreNotFound(err)
	}
	f, err = r.fate(ctx, r.Reader, stored)
	return stored, f, err
}

// retire deletes the stored directory d, only in the version the decision
// was taken on: a sync stored meanwhile makes it a Conflict, and the
// directory is decided again. Its data goes at once, through finalize.
func (r *SaaSDirectoryReconciler) retire(ctx context.Context, d *saasv1alpha1.SaaSDirectory, f directoryFate) error {
	err := r.Delete(ctx, d, client.Preconditions{UID: &d.UID, ResourceVersion: &d.ResourceVersion})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to delete SaaSDirectory %s: %w", d.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("Deleting a joint-operation directory", "reason", f.reason)
	r.Recorder.Eventf(d, nil, corev1.EventTypeNormal, f.reason, "Delete", "%s: the directory and its users' data are deleted", f.message)
	deleting := &saasv1alpha1.SaaSDirectory{}
	if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(d), deleting); err != nil {
		return client.IgnoreNotFound(err)
	}
	return r.finalize(ctx, deleting)
}

// ensureFinalizer puts DirectoryFinalizer on a directory created before
// the receiver did so itself.
func (r *SaaSDirectoryReconciler) ensureFinalizer(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	if controllerutil.ContainsFinalizer(d, saasv1alpha1.DirectoryFinalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(d, saasv1alpha1.DirectoryFinalizer)
	if err := r.Patch(ctx, d, patch); err != nil {
		return fmt.Errorf("failed to add the finalizer to SaaSDirectory %s: %w", d.Name, err)
	}
	return nil
}

// finalize deletes a deleted directory's shards and delivery, takes its
// summary off the tenant's status, then lets the directory go.
func (r *SaaSDirectoryReconciler) finalize(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	if !controllerutil.ContainsFinalizer(d, saasv1alpha1.DirectoryFinalizer) {
		return nil
	}
	shards, err := r.deleteShards(ctx, d)
	if err != nil {
		return err
	}
	if d.Status.Namespace != "" {
		if err := r.removeAll(ctx, d, d.Status.Namespace); err != nil {
			return err
		}
	}
	if err := r.summarise(ctx, d, false); err != nil {
		return err
	}
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(d, saasv1alpha1.DirectoryFinalizer)
	if err := r.Patch(ctx, d, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to remove the finalizer of SaaSDirectory %s: %w", d.Name, err)
	}
	msg := fmt.Sprintf("Deleted %d shards", shards)
	if d.Status.Namespace != "" {
		msg += " and the delivery in namespace " + d.Status.Namespace
	}
	r.Recorder.Eventf(d, nil, corev1.EventTypeNormal, saasv1alpha1.DirectoryDataDeletedReason, "Delete", msg)
	return nil
}

// deleteShards deletes every object labelled with the directory in the
// shard namespace and in kooper's namespace (where shards were written
// before the receiver had a namespace of its own), whatever its kind,
// and returns how many it deleted. Only metadata is read.
func (r *SaaSDirectoryReconciler) deleteShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (int, error) {
	namespaces := []string{r.shardNamespace()}
	if r.Options.SecretNamespace != r.shardNamespace() {
		namespaces = append(namespaces, r.Options.SecretNamespace)
	}
	deleted := 0
	for _, namespace := range namespaces {
		for _, kind := range []string{"Secret", "ConfigMap"} {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind + "List"))
			if err := r.Reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name}); err != nil {
				return deleted, fmt.Errorf("failed to list the shards of SaaSDirectory %s: %w", d.Name, err)
			}
			for i := range list.Items {
				list.Items[i].SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
				if err := r.Delete(ctx, &list.Items[i]); err != nil && !apierrors.IsNotFound(err) {
					return deleted, fmt.Errorf("failed to delete shard %s/%s: %w", namespace, list.Items[i].Name, err)
				}
				deleted++
			}
		}
	}
	return deleted, nil
}
