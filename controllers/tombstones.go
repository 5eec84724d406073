package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// IssuedInstances reads the tombstones (docs/lifecycle.md rule B) from the
// controllers' cache once that cache is known to hold every tombstone, and
// from the API server until then. A new record's first pass asks it whether
// the record's instance was issued and deleted before; asking the cache
// saves every new tenant a read from the API server.
//
// The cache holds every tombstone that matters because only the leader
// writes tombstones, and:
//   - on becoming leader, before it answers from the cache, it lists the
//     shards from the API server and waits until its cache holds every
//     entry listed: whatever an earlier leader wrote;
//   - after each tombstone it writes, it waits until its cache holds it
//     before it lets the record go (removes the finalizer). A record
//     created again for that instance is created after the deletion, so
//     its first pass finds the tombstone cached.
//
// Entries are never removed from a shard, so once cached, an entry stays.
type IssuedInstances struct {
	// Cache is the controllers' cache, which holds the tombstone shards
	// (ConfigMaps in Namespace).
	Cache client.Reader
	// Reader reads from the API server.
	Reader client.Reader
	// Namespace is kooper's own namespace, where the shards live.
	Namespace string

	caughtUp atomic.Bool
}

// NeedLeaderElection makes the catch-up run on the leader: a standby's
// cache may fall behind the tombstones the leader writes.
func (i *IssuedInstances) NeedLeaderElection() bool { return true }

// Start catches the cache up with the tombstones the API server holds,
// retrying every few seconds until it does or ctx ends. Lookups read from
// the API server until then.
func (i *IssuedInstances) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("issued-instances")
	err := wait.PollUntilContextCancel(ctx, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := i.catchUp(ctx); err != nil {
			log.Error(err, "The tombstones are read from the API server until the cache holds them; retrying")
			return false, nil
		}
		log.Info("The cache holds every tombstone: new records are checked against it")
		return true, nil
	})
	if err != nil && ctx.Err() != nil {
		return nil // stopping
	}
	return err
}

// catchUp lists the shards from the API server and waits, up to
// cacheCatchUpTimeout, until the cache holds each entry listed.
func (i *IssuedInstances) catchUp(ctx context.Context) error {
	shards := &corev1.ConfigMapList{}
	if err := i.Reader.List(ctx, shards, client.InNamespace(i.Namespace),
		client.MatchingLabels{"app.kubernetes.io/component": tombstone.ComponentValue}); err != nil {
		return fmt.Errorf("failed to list the tombstone shards: %w", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, cacheCatchUpTimeout, true, func(ctx context.Context) (bool, error) {
		for s := range shards.Items {
			if held, err := i.holds(ctx, &shards.Items[s]); !held || err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("the cache did not catch up with the %d tombstone shards: %w", len(shards.Items), err)
	}
	i.caughtUp.Store(true)
	return nil
}

// holds reports whether the cached copy of listed (a shard as the API
// server holds it) has each of its entries.
func (i *IssuedInstances) holds(ctx context.Context, listed *corev1.ConfigMap) (bool, error) {
	shard := &corev1.ConfigMap{}
	err := i.Cache.Get(ctx, client.ObjectKeyFromObject(listed), shard, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for id := range listed.Data {
		if _, ok := shard.Data[id]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// Lookup returns id's tombstone: from the cache once it caught up, from the
// API server before that (and when i is nil, as in tests that build a
// reconciler by hand, through reader).
func (i *IssuedInstances) Lookup(ctx context.Context, reader client.Reader, namespace, id string) (tombstone.Entry, bool, error) {
	if i == nil || !i.caughtUp.Load() {
		return tombstone.Lookup(ctx, reader, namespace, id)
	}
	return i.cached(ctx, id)
}

// cached reads id's tombstone from the cache, without copying its shard.
func (i *IssuedInstances) cached(ctx context.Context, id string) (tombstone.Entry, bool, error) {
	return tombstone.Lookup(ctx, i.Cache, i.Namespace, id, client.UnsafeDisableDeepCopy)
}

// errTombstoneNotCached is a tombstone written, but not yet in the cache
// after cacheCatchUpTimeout: the record keeps its finalizer, and the pass is
// retried.
var errTombstoneNotCached = errors.New("the tombstone is written but the cache does not show it yet")

// awaitCached waits, up to cacheCatchUpTimeout, until the cache holds id's
// tombstone (nothing to wait for when i is nil).
func (i *IssuedInstances) awaitCached(ctx context.Context, id string) error {
	if i == nil {
		return nil
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, cacheCatchUpTimeout, true, func(ctx context.Context) (bool, error) {
		_, ok, err := i.cached(ctx, id)
		return ok, err
	})
	if err != nil {
		return fmt.Errorf("%w (instance %s): %w", errTombstoneNotCached, id, err)
	}
	return nil
}

// recordTombstone remembers a deleted record's instance as issued before its
// finalizer goes, so later callbacks for it are answered as for a released
// instance, never 000003 (docs/lifecycle.md rule B), and waits until the
// cache holds it (see IssuedInstances). Licence applications (named l-…)
// are not instances and have none. A record deleted with its CRD
// (lostWithCRD) is remembered as lost, not released, with whether its
// instance was released already: see tombstone.Entry.LostWithCRD and
// ReleasedWhenLost.
func recordTombstone(ctx context.Context, c client.Client, reader client.Reader, issued *IssuedInstances, recorder events.EventRecorder,
	namespace string, obj client.Object, kind tombstone.Kind, lostWithCRD bool) error {
	id := obj.GetName()
	if tombstone.ShardName(id) == "" {
		return nil
	}
	product := obj.GetLabels()[saasv1alpha1.ProductLabel]
	switch o := obj.(type) {
	case *saasv1alpha1.SaaSTenant:
		product = o.Spec.ProductName
	case *saasv1alpha1.License:
		product = o.Spec.ProductName
	}
	entry := tombstone.Entry{Product: product, Kind: kind, LostWithCRD: lostWithCRD,
		ReleasedWhenLost: lostWithCRD && recordState(obj) == saasv1alpha1.StateReleased}
	if err := tombstone.Record(ctx, c, reader, namespace, id, entry); err != nil {
		return fmt.Errorf("failed to remember instance %s as issued: %w", id, err)
	}
	if err := issued.awaitCached(ctx, id); err != nil {
		return err
	}
	if lostWithCRD {
		recorder.Eventf(obj, nil, corev1.EventTypeWarning, saasv1alpha1.LostWithCRDReason, "Delete",
			"The %s CRD is being deleted: instance %s is remembered in ConfigMap %s/%s as lost, not released; its objects are kept, "+
				"and callbacks for it are answered 000005 until its record is restored", kind, id, namespace, tombstone.ShardName(id))
		return nil
	}
	recorder.Eventf(obj, nil, corev1.EventTypeNormal, saasv1alpha1.TombstoneRecordedReason, "Delete",
		"Instance %s is remembered as issued in ConfigMap %s/%s: later callbacks for it are answered 000000 and change nothing, "+
			"000002 for changeInstanceCheck and getLicenseAsync", id, namespace, tombstone.ShardName(id))
	return nil
}

// resurrected deletes a new tenant record whose instance was issued and
// deleted before (its tombstone says so), before anything is provisioned
// for it, and reports whether it did.
func (r *SaaSTenantReconciler) resurrected(ctx context.Context, t *saasv1alpha1.SaaSTenant) (bool, error) {
	return deleteResurrected(ctx, r.Client, r.Reader, r.Issued, r.Recorder, r.Options.SecretNamespace, t, t.Spec.ProductName)
}

// deleteResurrected deletes obj, a new record of an instance whose
// tombstone says it was issued for product and deleted before: the receiver
// created it from a cache that had not seen the tombstone yet. The order
// line is never provisioned or issued again (docs/lifecycle.md rule B).
//
// A record restored after its CRD was deleted is taken back instead; one
// whose instance was released before the loss, restored from a backup older
// than the release, is set Released first (keepReleased). Either way it
// reports true when the pass is to stop: the record was deleted or changed.
func deleteResurrected(ctx context.Context, c client.Client, reader client.Reader, issued *IssuedInstances, recorder events.EventRecorder,
	namespace string, obj client.Object, product string) (bool, error) {
	entry, ok, err := issued.Lookup(ctx, reader, namespace, obj.GetName())
	if err != nil || !ok || entry.Product != product {
		return false, err
	}
	if entry.LostWithCRD && entry.ReleasedWhenLost && recordState(obj) != saasv1alpha1.StateReleased {
		return true, keepReleased(ctx, c, recorder, obj)
	}
	if entry.LostWithCRD {
		// Restored after its CRD was deleted: the instance was never
		// released, and this is its record again.
		recorder.Eventf(obj, nil, corev1.EventTypeNormal, saasv1alpha1.RestoredReason, "Admit",
			"Instance %s, whose record was lost with its CRD, is taken back from this record", obj.GetName())
		return false, nil
	}
	recorder.Eventf(obj, nil, corev1.EventTypeWarning, saasv1alpha1.InstanceGoneReason, "Delete",
		"Instance %s was issued and deleted before; its order line is not provisioned again", obj.GetName())
	if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return true, fmt.Errorf("failed to delete the record of a deleted instance: %w", err)
	}
	return true, nil
}

// keepReleased sets Released on obj, a record restored from a backup taken
// before its instance was released, before anything is provisioned or
// issued for it: release is final (docs/lifecycle.md rule R), and the
// instance was Released when its record was lost with its CRD. Deleting
// the record instead would make the instance gone, not released, and
// apply the product's onHandDeletion policy to data the release already
// set a retention for. The update carries the read resourceVersion, so a
// concurrent change is read again; the pass that follows releases it.
func keepReleased(ctx context.Context, c client.Client, recorder events.EventRecorder, obj client.Object) error {
	was := recordState(obj)
	switch o := obj.(type) {
	case *saasv1alpha1.SaaSTenant:
		o.Spec.State = saasv1alpha1.StateReleased
	case *saasv1alpha1.License:
		o.Spec.State = saasv1alpha1.StateReleased
	default:
		return fmt.Errorf("instance %s: a %T has no state to keep released", obj.GetName(), obj)
	}
	if err := c.Update(ctx, obj); err != nil {
		return fmt.Errorf("failed to keep instance %s released: %w", obj.GetName(), err)
	}
	recorder.Eventf(obj, nil, corev1.EventTypeWarning, saasv1alpha1.RestoredReason, "Admit",
		"Instance %s was released before its record was lost with its CRD; this record, restored from an older backup, said %s: "+
			"it is taken back as Released and not provisioned again", obj.GetName(), was)
	return nil
}

// recordState is the spec.state of a tenant or licence record, "" for any
// other object.
func recordState(obj client.Object) saasv1alpha1.SubscriptionState {
	switch o := obj.(type) {
	case *saasv1alpha1.SaaSTenant:
		return o.Spec.State
	case *saasv1alpha1.License:
		return o.Spec.State
	}
	return ""
}
