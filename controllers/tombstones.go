package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// recordTombstone remembers a deleted record's instance as issued before its
// finalizer goes, so later callbacks for it are answered as for a released
// instance, never 000003 (docs/lifecycle.md rule B). Licence applications
// (named l-…) are not instances and have none.
func recordTombstone(ctx context.Context, c client.Client, reader client.Reader, recorder events.EventRecorder,
	namespace string, obj client.Object, kind tombstone.Kind) error {
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
	if err := tombstone.Record(ctx, c, reader, namespace, id, tombstone.Entry{Product: product, Kind: kind}); err != nil {
		return fmt.Errorf("failed to remember instance %s as issued: %w", id, err)
	}
	recorder.Eventf(obj, nil, corev1.EventTypeNormal, saasv1alpha1.TombstoneRecordedReason, "Delete",
		"Instance %s is remembered as issued in ConfigMap %s/%s: later callbacks for it are answered 000000", id, namespace, tombstone.ShardName(id))
	return nil
}

// resurrected deletes a new tenant record whose instance was issued and
// deleted before (its tombstone, read from the API server, says so), before
// anything is provisioned for it, and reports whether it did.
func (r *SaaSTenantReconciler) resurrected(ctx context.Context, t *saasv1alpha1.SaaSTenant) (bool, error) {
	return deleteResurrected(ctx, r.Client, r.Reader, r.Recorder, r.Options.SecretNamespace, t, t.Spec.ProductName)
}

// deleteResurrected deletes obj, a new record of an instance whose
// tombstone says it was issued for product and deleted before: the receiver
// created it from a cache that had not seen the tombstone yet. The order
// line is never provisioned or issued again (docs/lifecycle.md rule B).
func deleteResurrected(ctx context.Context, c client.Client, reader client.Reader, recorder events.EventRecorder,
	namespace string, obj client.Object, product string) (bool, error) {
	entry, ok, err := tombstone.Lookup(ctx, reader, namespace, obj.GetName())
	if err != nil || !ok || entry.Product != product {
		return false, err
	}
	recorder.Eventf(obj, nil, corev1.EventTypeWarning, saasv1alpha1.InstanceGoneReason, "Delete",
		"Instance %s was issued and deleted before; its order line is not provisioned again", obj.GetName())
	if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return true, fmt.Errorf("failed to delete the record of a deleted instance: %w", err)
	}
	return true, nil
}
