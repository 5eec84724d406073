package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Earlier versions stored a directory's shards as ConfigMaps: first in
// kooper's namespace, then in the directory namespace. Users carry phone
// numbers and e-mails, which the built-in view role reads in a ConfigMap,
// so shards are Secrets now, and the directory controller moves what it
// finds of the old ones at its reconcile of each directory (every directory
// is reconciled at start). Until a part's ConfigMaps are gone the receiver
// answers syncs of that part 000005, so no change is computed from half a
// directory (webhook.Receiver.checkNotMoving). A directory with none left is
// marked (ShardsFormatAnnotation), and neither looks for them again.

// movedFromAnnotation on a shard Secret names the namespace of the
// ConfigMap it was moved from.
const movedFromAnnotation = "saas.kooper.io/moved-from"

// ensureShardsInSecrets moves d's ConfigMap shards, if any, then marks d
// with ShardsFormatAnnotation, so that neither this controller nor the
// receiver lists ConfigMaps for d again: without the mark, every reconcile
// and every sync of a part would cost one or two API LISTs for ever after
// the upgrade. A directory already marked is left alone. The mark is
// patched against the version of d read (resourceVersion): a Conflict means
// d changed since, and the next reconcile looks again. Once marked, no
// ConfigMap shard can appear (see webhook.Receiver.checkNotMoving).
func (r *SaaSDirectoryReconciler) ensureShardsInSecrets(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	if d.ShardsInSecrets() {
		return nil
	}
	if err := r.moveLegacyShards(ctx, d); err != nil {
		return err
	}
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	metav1.SetMetaDataAnnotation(&d.ObjectMeta, saasv1alpha1.ShardsFormatAnnotation, saasv1alpha1.ShardsFormatSecrets)
	if err := r.Patch(ctx, d, patch); err != nil {
		return fmt.Errorf("failed to mark SaaSDirectory %s as storing its shards in Secrets: %w", d.Name, err)
	}
	return nil
}

// moveLegacyShards moves d's ConfigMap shards into Secrets in the shard
// namespace: those of the shard namespace first (the directory as the
// receiver last wrote it), then those of kooper's namespace. A part that
// has shards in the shard namespace not moved from kooper's namespace was
// written again after the directory namespace was introduced: its ConfigMaps
// in kooper's namespace are an older copy, which is dropped, not merged
// (merging would bring back users removed since). It records one Event when
// it moved or dropped anything, and returns an error (to retry) when a
// ConfigMap changed while it was being moved.
func (r *SaaSDirectoryReconciler) moveLegacyShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	moved, dropped, err := r.moveFrom(ctx, d, r.shardNamespace(), nil)
	if err == nil && r.Options.SecretNamespace != r.shardNamespace() {
		var rewritten map[string]bool
		if rewritten, err = r.partsWrittenSinceTheSplit(ctx, d); err == nil {
			var m, n int
			m, n, err = r.moveFrom(ctx, d, r.Options.SecretNamespace, rewritten)
			moved, dropped = moved+m, dropped+n
		}
	}
	if moved+dropped > 0 {
		r.Recorder.Eventf(d, nil, corev1.EventTypeNormal, saasv1alpha1.ShardsMovedReason, "Move",
			"Moved %d directory shards from ConfigMaps to Secrets in namespace %s; dropped %d older copies in namespace %s",
			moved, r.shardNamespace(), dropped, r.Options.SecretNamespace)
	}
	return err
}

// moveFrom moves d's ConfigMap shards in namespace, one at a time, except
// those of a part in drop, which it deletes. It returns how many it moved
// and dropped.
func (r *SaaSDirectoryReconciler) moveFrom(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string,
	drop map[string]bool) (moved, dropped int, err error) {
	list := &corev1.ConfigMapList{}
	if err := r.Reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name}); err != nil {
		return 0, 0, fmt.Errorf("failed to list the ConfigMap shards of SaaSDirectory %s in %s: %w", d.Name, namespace, err)
	}
	for i := range list.Items {
		cm := &list.Items[i]
		if drop[cm.Labels[saasv1alpha1.DirectoryPartLabel]] {
			if err := r.deleteLegacy(ctx, cm); err != nil {
				return moved, dropped, err
			}
			dropped++
			continue
		}
		if err := r.moveShard(ctx, d, cm); err != nil {
			return moved, dropped, err
		}
		moved++
	}
	return moved, dropped, nil
}

// moveShard copies a ConfigMap shard into a Secret of the same name, labels
// and count in the shard namespace, written for d (saasv1alpha1.ShardDirectoryUIDAnnotation,
// no owner reference), then deletes the ConfigMap
// if it is unchanged. A Secret that exists already was written by a
// receiver of this version and wins. If the ConfigMap changed meanwhile (a
// receiver of an earlier version, during the upgrade, wrote it), the copy
// made here is stale: it is removed and the move retried.
func (r *SaaSDirectoryReconciler) moveShard(ctx context.Context, d *saasv1alpha1.SaaSDirectory, cm *corev1.ConfigMap) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: r.shardNamespace(), Name: cm.Name,
		Labels: map[string]string{
			saasv1alpha1.ManagedByLabel:     saasv1alpha1.ManagedByValue,
			saasv1alpha1.DirectoryLabel:     d.Name,
			saasv1alpha1.DirectoryPartLabel: cm.Labels[saasv1alpha1.DirectoryPartLabel],
		},
		Annotations: map[string]string{
			saasv1alpha1.DirectoryCountAnnotation:    cm.Annotations[saasv1alpha1.DirectoryCountAnnotation],
			movedFromAnnotation:                      cm.Namespace,
			saasv1alpha1.ShardDirectoryUIDAnnotation: string(d.ShardOwnerID()),
		},
	}, Type: corev1.SecretTypeOpaque, Data: make(map[string][]byte, len(cm.Data))}
	for k, v := range cm.Data {
		s.Data[k] = []byte(v)
	}
	err := r.Create(ctx, s)
	created := err == nil
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create the Secret for shard %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	err = r.deleteLegacy(ctx, cm)
	if apierrors.IsConflict(err) && created {
		rv := s.ResourceVersion
		if derr := r.Delete(ctx, s, client.Preconditions{ResourceVersion: &rv}); client.IgnoreNotFound(derr) != nil {
			return fmt.Errorf("failed to remove the stale copy of shard %s/%s: %w", cm.Namespace, cm.Name, derr)
		}
	}
	return err
}

// deleteLegacy deletes a ConfigMap shard as it was read: a Conflict means it
// changed since, and is returned to retry.
func (r *SaaSDirectoryReconciler) deleteLegacy(ctx context.Context, cm *corev1.ConfigMap) error {
	rv := cm.ResourceVersion
	err := r.Delete(ctx, cm, client.Preconditions{ResourceVersion: &rv})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete ConfigMap shard %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return nil
}

// partsWrittenSinceTheSplit returns the parts of d with a shard Secret that
// did not come from kooper's namespace: moved from the shard namespace, or
// written by a receiver of this version.
func (r *SaaSDirectoryReconciler) partsWrittenSinceTheSplit(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (map[string]bool, error) {
	list, err := r.listMetadata(ctx, "SecretList", r.shardNamespace(), d)
	if err != nil {
		return nil, fmt.Errorf("failed to list the shards of SaaSDirectory %s: %w", d.Name, err)
	}
	parts := map[string]bool{}
	for _, item := range list.Items {
		if item.Annotations[movedFromAnnotation] != r.Options.SecretNamespace {
			parts[item.Labels[saasv1alpha1.DirectoryPartLabel]] = true
		}
	}
	return parts, nil
}

// Earlier versions also made each shard owned by its directory. The garbage
// collector then deleted the shards whenever the directory went, even with
// its CRD, when every tenant's users must be kept; the finalizer deletes
// them explicitly instead, and the owner reference is taken off.

// takeOwnerReferencesOffShards replaces, on each of the directory's shards
// that an earlier version made it the owner of, that owner reference with
// saasv1alpha1.ShardDirectoryUIDAnnotation, which names the same directory to the receiver and
// this controller but not to the garbage collector. Shards without one are
// not written.
func (r *SaaSDirectoryReconciler) takeOwnerReferencesOffShards(ctx context.Context, s *directoryState) outcome {
	for i := range s.shards {
		shard := &s.shards[i]
		if !slices.ContainsFunc(shard.OwnerReferences, saasv1alpha1.IsDirectoryOwnerReference) {
			continue
		}
		meta := shardMetadata(&shard.ObjectMeta, "Secret")
		if err := r.bindShard(ctx, meta, s.dir.ShardOwnerID()); err != nil {
			return failed(err)
		}
		shard.ObjectMeta = meta.ObjectMeta
	}
	return proceed()
}

// shardMetadata is the metadata of a shard of kind (Secret or ConfigMap),
// to patch without sending or decoding its data.
func shardMetadata(meta *metav1.ObjectMeta, kind string) *metav1.PartialObjectMetadata {
	shard := &metav1.PartialObjectMetadata{ObjectMeta: *meta.DeepCopy()}
	shard.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return shard
}

// bindShard makes shard name the directory uid by saasv1alpha1.ShardDirectoryUIDAnnotation
// ("" takes the annotation off: the shard is then any directory of its
// name's) and drops its SaaSDirectory owner references. It writes nothing
// when the shard is so already, and writes against the version read: a
// Conflict means the receiver wrote the shard meanwhile, and the caller
// runs again.
func (r *SaaSDirectoryReconciler) bindShard(ctx context.Context, shard *metav1.PartialObjectMetadata, uid types.UID) error {
	owners := slices.DeleteFunc(slices.Clone(shard.OwnerReferences), saasv1alpha1.IsDirectoryOwnerReference)
	if len(owners) == len(shard.OwnerReferences) && shard.Annotations[saasv1alpha1.ShardDirectoryUIDAnnotation] == string(uid) {
		return nil
	}
	patch := client.MergeFromWithOptions(shard.DeepCopy(), client.MergeFromWithOptimisticLock{})
	shard.OwnerReferences = owners
	if uid == "" {
		delete(shard.Annotations, saasv1alpha1.ShardDirectoryUIDAnnotation)
	} else {
		metav1.SetMetaDataAnnotation(&shard.ObjectMeta, saasv1alpha1.ShardDirectoryUIDAnnotation, string(uid))
	}
	if err := r.Patch(ctx, shard, patch); err != nil {
		return fmt.Errorf("failed to rewrite the owner of shard %s/%s: %w", shard.Namespace, shard.Name, err)
	}
	return nil
}
