package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/redact"
)

// Products and their keys Secrets are protected from deletion while in
// use, as Kubernetes protects a PersistentVolumeClaim a pod uses: a product
// carries the in-use finalizer, which goes once no live tenant or licence
// names it, and its keys Secret carries it while a product names it.
// Callbacks for those tenants are verified with the product and its keys
// until they let go.

// tenantHoldsProduct reports whether a tenant still needs its product: it
// does until it is released and its release is done, and, if metered,
// until its last usage is pushed with the product's keys. A tenant deleted
// by hand tears down from its own record and needs it no longer.
func tenantHoldsProduct(t *saasv1alpha1.SaaSTenant) bool {
	if controllerutil.ContainsFinalizer(t, saasv1alpha1.MeteringFinalizer) {
		return true
	}
	if !t.DeletionTimestamp.IsZero() {
		return false
	}
	return !releasedAndDone(t.Spec.State, t.Status.Conditions)
}

// licenceHoldsProduct reports whether a licence still needs its product:
// until it is released and revoked. A frozen licence may be reinstated.
// An application (getLicenseAsync) keeps the state the receiver gave it,
// Active, for good: it is released with its instance. revocation reads
// both states, and stopIfRevoked records its verdict as the application's
// Released condition, so that condition alone says the application is
// done (its own state would hold the product for ever).
func licenceHoldsProduct(l *saasv1alpha1.License) bool {
	if !l.DeletionTimestamp.IsZero() {
		return false
	}
	if isApplication(l) {
		return !apimeta.IsStatusConditionTrue(l.Status.Conditions, saasv1alpha1.ReleasedCondition)
	}
	return !releasedAndDone(l.Spec.State, l.Status.Conditions)
}

func releasedAndDone(state saasv1alpha1.SubscriptionState, conditions []metav1.Condition) bool {
	return state == saasv1alpha1.StateReleased && apimeta.IsStatusConditionTrue(conditions, saasv1alpha1.ReleasedCondition)
}

// holdChanged passes the events that may change whether a product is held:
// a tenant or licence appearing, going, or ceasing to hold it.
func holdChanged[T client.Object](holds func(T) bool) predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, okOld := e.ObjectOld.(T)
			updated, okNew := e.ObjectNew.(T)
			return okOld && okNew && holds(old) != holds(updated)
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// productWhoseHoldMayChange maps a tenant or licence to the product it
// names, only while that product's hold can turn on what its tenants and
// licences do: while it is being deleted (the finalizer goes once none
// holds it), or while it lacks the finalizer (its first reconcile not done
// yet, or the finalizer removed by hand, which the product's own watch
// does not pass). A product that holds the finalizer and is not being
// deleted keeps it whatever its tenants do, and needs no reconcile for each
// tenant bought: with a chart, that reconcile read the chart's Secret
// around the cache and rendered it for every plan (docs/benchmarks.md,
// 2026-12-03). products is read as it is (the cache: an event handler must
// not wait for it to catch up); a cache behind a deletion is no risk, as
// the deletion's own event reconciles the product, which asks the API
// server for its holders.
func productWhoseHoldMayChange(products client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		requests := productOf(ctx, obj)
		if len(requests) == 0 {
			return nil
		}
		product := &saasv1alpha1.SaaSProduct{}
		err := products.Get(ctx, requests[0].NamespacedName, product, client.UnsafeDisableDeepCopy)
		if err == nil && product.DeletionTimestamp.IsZero() && controllerutil.ContainsFinalizer(product, saasv1alpha1.InUseFinalizer) {
			return nil
		}
		return requests
	}
}

// productOf maps a tenant or licence to the product it names.
func productOf(_ context.Context, obj client.Object) []reconcile.Request {
	var product string
	switch o := obj.(type) {
	case *saasv1alpha1.SaaSTenant:
		product = o.Spec.ProductName
	case *saasv1alpha1.License:
		product = o.Spec.ProductName
	}
	if product == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: product}}}
}

// holdInUse adds or removes obj's in-use finalizer. An object already being
// deleted cannot gain a finalizer: if it had none, it goes, and what used
// it tears down from its own record.
func holdInUse(ctx context.Context, c client.Client, obj client.Object, inUse bool) error {
	has := controllerutil.ContainsFinalizer(obj, saasv1alpha1.InUseFinalizer)
	if has == inUse || (inUse && !obj.GetDeletionTimestamp().IsZero()) {
		return nil
	}
	before := obj.DeepCopyObject().(client.Object)
	if inUse {
		controllerutil.AddFinalizer(obj, saasv1alpha1.InUseFinalizer)
	} else {
		controllerutil.RemoveFinalizer(obj, saasv1alpha1.InUseFinalizer)
	}
	err := c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if err != nil && !apierrors.IsNotFound(err) {
		// Logged: a webhook refusing the patch may quote the whole object,
		// a keys Secret's AK/SK and signing keys among it.
		return fmt.Errorf("failed to update the in-use finalizer of %s: %w", client.ObjectKeyFromObject(obj), redact.APIError(err))
	}
	return nil
}

// maxHoldersNamed bounds how many holders an Event names.
const maxHoldersNamed = 5

// holdersNote says what an object's deletion waits for: why, then the
// first holders by name.
func holdersNote(why string, holders []string) string {
	named := holders[:min(len(holders), maxHoldersNamed)]
	note := "Deletion waits: " + why + ": " + strings.Join(named, ", ")
	if more := len(holders) - len(named); more > 0 {
		note += fmt.Sprintf(" and %d more", more)
	}
	return note
}

// protect keeps the in-use finalizer on a product from its first reconcile,
// as Kubernetes puts its protection on a PVC when it is created: a tenant
// created a moment before the product is deleted then finds it held. While
// the product is being deleted, an Event names what holds it, and the
// finalizer goes only once the API server itself lists no holder: a cache
// a moment behind may not show a tenant just created.
func (r *SaaSProductReconciler) protect(ctx context.Context, product *saasv1alpha1.SaaSProduct) error {
	if product.DeletionTimestamp.IsZero() {
		return holdInUse(ctx, r.Client, product, true)
	}
	holders, err := r.holders(ctx, r.Client, product.Name, client.MatchingFields{productNameIndex: product.Name})
	if err == nil && len(holders) == 0 {
		holders, err = r.holders(ctx, apiReader(r.Reader, r.Client), product.Name)
	}
	if err != nil {
		return err
	}
	if len(holders) > 0 {
		r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, saasv1alpha1.InUseReason, "Delete", "%s",
			holdersNote("these live tenants or licences still use it (it goes once they are released)", holders))
		return nil
	}
	return holdInUse(ctx, r.Client, product, false)
}

// apiReader is reader, or c when none is wired (tests that build a
// reconciler by hand).
func apiReader(reader client.Reader, c client.Client) client.Reader {
	if reader == nil {
		return c
	}
	return reader
}

// holders lists the live tenants and licences, read from reader with
// opts, that name product.
func (r *SaaSProductReconciler) holders(ctx context.Context, reader client.Reader, product string, opts ...client.ListOption) ([]string, error) {
	tenants := &saasv1alpha1.SaaSTenantList{}
	if err := reader.List(ctx, tenants, opts...); err != nil {
		return nil, fmt.Errorf("failed to list the tenants of SaaSProduct %s: %w", product, err)
	}
	var holders []string
	for i := range tenants.Items {
		if t := &tenants.Items[i]; t.Spec.ProductName == product && tenantHoldsProduct(t) {
			holders = append(holders, "SaaSTenant "+t.Name)
		}
	}
	licences := &saasv1alpha1.LicenseList{}
	if err := reader.List(ctx, licences, opts...); err != nil {
		return nil, fmt.Errorf("failed to list the licences of SaaSProduct %s: %w", product, err)
	}
	for i := range licences.Items {
		if l := &licences.Items[i]; l.Spec.ProductName == product && licenceHoldsProduct(l) {
			holders = append(holders, "License "+l.Name)
		}
	}
	return holders, nil
}

// indexes remembers the field indexes each running manager has: several
// controllers list by the same fields, and an informer refuses a second
// index of a name. A manager's entries go when it stops, so the map never
// keeps a stopped manager's cache alive.
var indexes sync.Map // indexKey → struct{}

type indexKey struct {
	indexer client.FieldIndexer
	kind    string
}

// indexOnce registers a field index of obj's kind unless the manager has it.
func indexOnce(mgr ctrl.Manager, obj client.Object, field string, extract client.IndexerFunc) error {
	key := indexKey{indexer: mgr.GetFieldIndexer(), kind: fmt.Sprintf("%T/%s", obj, field)}
	if _, done := indexes.LoadOrStore(key, struct{}{}); done {
		return nil
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, field, extract); err != nil {
		indexes.Delete(key)
		return fmt.Errorf("failed to index %T by %s: %w", obj, field, err)
	}
	return mgr.Add(forgetIndexOnStop(key))
}

// forgetIndexOnStop is a runnable that removes key from indexes when its
// manager stops. It runs on every replica, leader or not.
type forgetIndexOnStop indexKey

func (k forgetIndexOnStop) Start(ctx context.Context) error {
	<-ctx.Done()
	indexes.Delete(indexKey(k))
	return nil
}

func (forgetIndexOnStop) NeedLeaderElection() bool { return false }

// indexByProduct indexes tenants and licences by the product they name.
func indexByProduct(mgr ctrl.Manager) error {
	err := indexOnce(mgr, &saasv1alpha1.SaaSTenant{}, productNameIndex,
		func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.SaaSTenant).Spec.ProductName} })
	if err != nil {
		return err
	}
	return indexOnce(mgr, &saasv1alpha1.License{}, productNameIndex,
		func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.License).Spec.ProductName} })
}

// indexByKeysSecret indexes products by the keys Secret they name.
func indexByKeysSecret(mgr ctrl.Manager) error {
	return indexOnce(mgr, &saasv1alpha1.SaaSProduct{}, keysSecretNameIndex,
		func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.SaaSProduct).Spec.KeysSecretName} })
}
