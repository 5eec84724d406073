package controllers

import (
	"context"
	"encoding/json"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// revisionReferenceIndex indexes the stored product revisions (the
// ControllerRevisions of kooper's namespace, docs/rollout.md) by the
// Secrets and ConfigMaps of that namespace their workload names
// (secretReference, configMapReference). A tenant a rollout has not
// reached reads those names from its revision, not from the product's
// spec (selectRevision): without this index, a Secret or ConfigMap that
// only an older revision names changed, or was created again, and none of
// its tenants heard of it.
const revisionReferenceIndex = "data.workload.references"

// indexRevisionsByReference registers revisionReferenceIndex. The
// indexes of products by the names their spec gives (configMapNameIndex,
// copiedSecretNameIndex) register it with them, as every watch that reads
// one reads the other.
func indexRevisionsByReference(mgr ctrl.Manager) error {
	return indexOnce(mgr, &appsv1.ControllerRevision{}, revisionReferenceIndex, revisionReferences)
}

// secretReference and configMapReference are revisionReferenceIndex
// values: one index for both kinds decodes each revision once, and the
// kind keeps a Secret from waking the tenants of a ConfigMap of its name.
func secretReference(name string) string    { return "Secret/" + name }
func configMapReference(name string) string { return "ConfigMap/" + name }

// revisionWorkload is the part of a stored revision (rollout.Revision's
// encoding) that names Secrets and ConfigMaps. Decoding only it leaves the
// chart archive a revision may hold (up to about 1.4 MB) undecoded.
type revisionWorkload struct {
	Workload *saasv1alpha1.WorkloadTemplate `json:"workload,omitempty"`
}

// revisionReferences are a stored revision's revisionReferenceIndex values:
// the Secrets it copies to its tenants (copiedSecrets) and the ConfigMap
// its configuration files come from. A revision that does not decode names
// nothing: its tenants stall on it (selectRevision), and read no names.
func revisionReferences(obj client.Object) []string {
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok || cr.Labels[saasv1alpha1.ProductLabel] == "" {
		return nil
	}
	var rev revisionWorkload
	if err := json.Unmarshal(cr.Data.Raw, &rev); err != nil || rev.Workload == nil {
		return nil
	}
	product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{Workload: rev.Workload}}
	var references []string
	for _, name := range copiedSecretNames(product) {
		references = append(references, secretReference(name))
	}
	if cfg := rev.Workload.Config; cfg != nil && cfg.ConfigMapName != "" {
		references = append(references, configMapReference(cfg.ConfigMapName))
	}
	return references
}

// tenantsReading maps a Secret or ConfigMap of kooper's namespace, obj, to
// the tenants of every product that may read it: those whose spec names it
// (productIndex, a product index by the names of obj's kind) and those
// with a stored revision that names it (reference, its
// revisionReferenceIndex value), which is what a tenant a rollout has not
// reached reads. Both lists are indexed reads of the cache, without
// copies: their cost is that of the products that name obj, not of the
// fleet.
func (r *SaaSTenantReconciler) tenantsReading(ctx context.Context, obj client.Object, productIndex, reference string) []reconcile.Request {
	log := ctrl.LoggerFrom(ctx)
	var names []string
	products := &saasv1alpha1.SaaSProductList{}
	if err := r.List(ctx, products, client.MatchingFields{productIndex: obj.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		log.Error(err, "Failed to list the products that name an object of kooper's namespace", "name", obj.GetName(), "index", productIndex)
	}
	for i := range products.Items {
		names = append(names, products.Items[i].Name)
	}
	revisions := &appsv1.ControllerRevisionList{}
	if err := r.List(ctx, revisions, client.InNamespace(r.Options.SecretNamespace),
		client.MatchingFields{revisionReferenceIndex: reference}, client.UnsafeDisableDeepCopy); err != nil {
		log.Error(err, "Failed to list the product revisions that name an object of kooper's namespace", "reference", reference)
	}
	for i := range revisions.Items {
		if product := revisions.Items[i].Labels[saasv1alpha1.ProductLabel]; product != "" {
			names = append(names, product)
		}
	}
	// A product whose spec and revisions name obj is read once.
	slices.Sort(names)
	var requests []reconcile.Request
	for _, name := range slices.Compact(names) {
		requests = append(requests, r.tenantsOfProduct(ctx, &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name}})...)
	}
	return requests
}
