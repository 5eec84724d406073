package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
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
// name starts empty. Deleting the SaaSDirectory CRD deletes every directory
// at once: that is an accident, not a decision about each tenant, so then
// everything is kept for the directories restored under the same names
// (keepData).

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
	namespace := tenant.Status.Namespace
	if namespace == "" {
		// Released before it had a namespace, or restored from a backup
		// without its status: the namespace labelled as its own says which,
		// or, relabelled since, the one of the name kooper gave it (whose
		// absence fateOfNamespace finds).
		found, err := labelledNamespace(ctx, reader, tenant.Spec.InstanceID)
		if err == nil && found == "" {
			found, err = namespaceByName(ctx, reader, tenant)
		}
		if err != nil {
			return directoryFate{}, err
		}
		if found == "" {
			return directoryFate{reason: saasv1alpha1.InstanceNamespaceDeletedReason,
				message: fmt.Sprintf("instance %s was released before it had a namespace", tenant.Name)}, nil
		}
		namespace = found
	}
	return r.fateOfNamespace(ctx, reader, namespace,
		fmt.Sprintf("instance %s is released and its namespace %s deleted", tenant.Name, namespace))
}

// namespaceByName is the name kooper gives tenant's namespace
// (tenantobjects.NamespaceName), whatever its labels; "" when the tenant's
// SaaSProduct, and its namespacePrefix with it, is gone.
func namespaceByName(ctx context.Context, reader client.Reader, tenant *saasv1alpha1.SaaSTenant) (string, error) {
	product := &saasv1alpha1.SaaSProduct{}
	err := reader.Get(ctx, client.ObjectKey{Name: tenant.Spec.ProductName}, product)
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("failed to read SaaSProduct %s: %w", tenant.Spec.ProductName, err)
	}
	return tenantobjects.NamespaceName(product, tenant.Spec.InstanceID), nil
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

// ensureFinalizerAndID puts DirectoryFinalizer (on a directory created
// before the receiver did so itself) and, as
// saasv1alpha1.DirectoryIDAnnotation, the UID its shards name, on a
// directory that has neither: the ID is restored with the directory from a
// backup, the UID is not.
func (r *SaaSDirectoryReconciler) ensureFinalizerAndID(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	_, hasID := d.Annotations[saasv1alpha1.DirectoryIDAnnotation]
	if controllerutil.ContainsFinalizer(d, saasv1alpha1.DirectoryFinalizer) && hasID {
		return nil
	}
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(d, saasv1alpha1.DirectoryFinalizer)
	if !hasID {
		metav1.SetMetaDataAnnotation(&d.ObjectMeta, saasv1alpha1.DirectoryIDAnnotation, string(d.UID))
	}
	if err := r.Patch(ctx, d, patch); err != nil {
		return fmt.Errorf("failed to add the finalizer and ID to SaaSDirectory %s: %w", d.Name, err)
	}
	return nil
}

// finalize lets a deleted directory go: with its data, or, when it goes
// with its CRD, without touching any of it.
func (r *SaaSDirectoryReconciler) finalize(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	if !controllerutil.ContainsFinalizer(d, saasv1alpha1.DirectoryFinalizer) {
		return nil
	}
	crdGoing, err := crdTerminating(ctx, r.Reader, "saasdirectories")
	if err != nil {
		return err
	}
	if crdGoing {
		return r.keepData(ctx, d)
	}
	return r.deleteData(ctx, d)
}

// deleteData deletes a deleted directory's shards and delivery, takes its
// summary off the tenant's status, then lets the directory go.
func (r *SaaSDirectoryReconciler) deleteData(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
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
	if err := r.removeFinalizer(ctx, d); err != nil {
		return err
	}
	msg := fmt.Sprintf("Deleted %d shards", shards)
	if d.Status.Namespace != "" {
		msg += " and the delivery in namespace " + d.Status.Namespace
	}
	r.Recorder.Eventf(d, nil, corev1.EventTypeNormal, saasv1alpha1.DirectoryDataDeletedReason, "Delete", msg)
	return nil
}

// removeFinalizer lets the directory go, as read: a Conflict means it
// changed since, and it is finalized again.
func (r *SaaSDirectoryReconciler) removeFinalizer(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(d, saasv1alpha1.DirectoryFinalizer)
	if err := r.Patch(ctx, d, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to remove the finalizer of SaaSDirectory %s: %w", d.Name, err)
	}
	return nil
}

// deleteShards deletes every object labelled with the directory in the
// shard namespace and in kooper's namespace (where shards were written
// before the receiver had a namespace of its own), whatever its kind,
// and returns how many it deleted. Only metadata is read.
func (r *SaaSDirectoryReconciler) deleteShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (int, error) {
	deleted := 0
	err := r.eachStoredShard(ctx, d.Name, func(shard *metav1.PartialObjectMetadata) error {
		if err := r.Delete(ctx, shard); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete shard %s/%s: %w", shard.Namespace, shard.Name, err)
		}
		deleted++
		return nil
	})
	return deleted, err
}

// eachStoredShard calls fn with the metadata of every object labelled with
// directory name, Secret or ConfigMap, in the shard namespace and in
// kooper's namespace, as the API server has them.
func (r *SaaSDirectoryReconciler) eachStoredShard(ctx context.Context, name string, fn func(*metav1.PartialObjectMetadata) error) error {
	namespaces := []string{r.shardNamespace()}
	if r.Options.SecretNamespace != r.shardNamespace() {
		namespaces = append(namespaces, r.Options.SecretNamespace)
	}
	for _, namespace := range namespaces {
		for _, kind := range []string{"Secret", "ConfigMap"} {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind + "List"))
			if err := r.Reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{saasv1alpha1.DirectoryLabel: name}); err != nil {
				return fmt.Errorf("failed to list the shards of SaaSDirectory %s: %w", name, err)
			}
			for i := range list.Items {
				list.Items[i].SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
				if err := fn(&list.Items[i]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// keepData lets a directory that goes with its CRD go without deleting
// anything: its shards are kept and made any directory's of their name (no
// owner reference, no saasv1alpha1.ShardDirectoryUIDAnnotation), so that the directory
// restored from a backup, or created again by the next sync, reads them as
// its own; the delivery and the tenant's status.directory stay, so the
// tenant's app keeps signing its users in meanwhile.
func (r *SaaSDirectoryReconciler) keepData(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	kept, err := r.unbindShards(ctx, d)
	if err != nil {
		return err
	}
	if err := r.removeFinalizer(ctx, d); err != nil {
		return err
	}
	msg := fmt.Sprintf("The SaaSDirectory CRD is being deleted: kept %d shards", kept)
	if d.Status.Namespace != "" {
		msg += " and the delivery in namespace " + d.Status.Namespace
	}
	msg += "; restore the directory under the same name to manage them again"
	r.Recorder.Eventf(d, nil, corev1.EventTypeWarning, saasv1alpha1.DirectoryDataKeptReason, "Keep", msg)
	return nil
}

// unbindShards takes d's UID, and any SaaSDirectory owner reference, off
// each of d's shards, and returns how many of d's shards there are. Shards
// written for another directory of the name are left as they are: they are
// not d's data (see deleteStrayShards).
func (r *SaaSDirectoryReconciler) unbindShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (int, error) {
	kept := 0
	err := r.eachStoredShard(ctx, d.Name, func(shard *metav1.PartialObjectMetadata) error {
		if !saasv1alpha1.ShardBelongsTo(shard, d) {
			return nil
		}
		kept++
		return r.bindShard(ctx, shard, "")
	})
	return kept, err
}

// deleteStraysOfEarlierDirectories deletes the shards of the directory's
// name written for an earlier directory of that name, when reading its
// shards found some.
func (r *SaaSDirectoryReconciler) deleteStraysOfEarlierDirectories(ctx context.Context, s *directoryState) outcome {
	if s.strays == 0 {
		return proceed()
	}
	return failed(r.deleteStrayShards(ctx, s.dir.Name))
}

// deleteStrayShards deletes the shards labelled with directory name that
// were written for a directory of that name which no longer exists: one a
// sync wrote while that directory was being deleted, after its finalizer
// had deleted the others, or the shards of one whose finalizer was removed
// by hand. Nothing else would: shards have no owner reference for the
// garbage collector. A shard kept when the CRD was deleted names no
// directory and stays. The shards are listed first and the directory read
// after, from the API server, so that a shard written for the directory
// that exists is never taken; while the SaaSDirectory CRD is being deleted
// nothing is. Only metadata is read.
func (r *SaaSDirectoryReconciler) deleteStrayShards(ctx context.Context, name string) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.Reader.List(ctx, list, client.InNamespace(r.shardNamespace()), client.MatchingLabels{saasv1alpha1.DirectoryLabel: name}); err != nil {
		return fmt.Errorf("failed to list the shards of SaaSDirectory %s: %w", name, err)
	}
	strays := slices.DeleteFunc(list.Items, func(s metav1.PartialObjectMetadata) bool { return saasv1alpha1.ShardDirectoryUID(&s) == "" })
	if len(strays) == 0 {
		return nil
	}
	current, mayDelete, err := r.currentDirectory(ctx, name)
	if err != nil || !mayDelete {
		return err
	}
	for i := range strays {
		if current == nil || !saasv1alpha1.ShardBelongsTo(&strays[i], current) {
			strays[i].SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			if err := r.deleteStray(ctx, &strays[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// currentDirectory returns the directory called name as stored, nil when
// there is none. mayDelete is false while the SaaSDirectory CRD is being
// deleted (or is gone): every directory is going then, and their shards are
// kept for the directories restored.
func (r *SaaSDirectoryReconciler) currentDirectory(ctx context.Context, name string) (current *saasv1alpha1.SaaSDirectory, mayDelete bool, err error) {
	crdGoing, err := crdTerminating(ctx, r.Reader, "saasdirectories")
	if err != nil || crdGoing {
		return nil, false, err
	}
	d := &saasv1alpha1.SaaSDirectory{}
	err = r.Reader.Get(ctx, client.ObjectKey{Name: name}, d)
	switch {
	case apierrors.IsNotFound(err):
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("failed to read SaaSDirectory %s: %w", name, err)
	}
	return d, true, nil
}

// deleteStray deletes a stray shard as it was listed: one written since
// (Conflict) or gone already is left to the next look.
func (r *SaaSDirectoryReconciler) deleteStray(ctx context.Context, shard *metav1.PartialObjectMetadata) error {
	rv := shard.ResourceVersion
	err := r.Delete(ctx, shard, client.Preconditions{ResourceVersion: &rv})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("failed to delete shard %s/%s of an earlier SaaSDirectory: %w", shard.Namespace, shard.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("Deleted a shard written for an earlier directory of the same name", "shard", shard.Name)
	return nil
}
