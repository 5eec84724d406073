package controllers

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// copiedSecret is a Secret of kooper's namespace that a product has copied
// into each tenant's namespace, under the name target.
type copiedSecret struct {
	name, target string
	// types are the Secret types the copy's use accepts.
	types []corev1.SecretType
}

// copiedSecrets lists the Secrets product copies to its tenants: the
// Ingress certificate and the image-pull credentials.
func copiedSecrets(product *saasv1alpha1.SaaSProduct) []copiedSecret {
	w := product.Spec.Workload
	if w == nil {
		return nil
	}
	var sources []copiedSecret
	if w.Ingress != nil && w.Ingress.TLSSecretName != "" {
		sources = append(sources, copiedSecret{name: w.Ingress.TLSSecretName, target: tenantobjects.TLSSecretName,
			types: []corev1.SecretType{corev1.SecretTypeTLS}})
	}
	if w.ImagePullSecretName != "" {
		sources = append(sources, copiedSecret{name: w.ImagePullSecretName, target: tenantobjects.ImagePullSecretName,
			types: []corev1.SecretType{corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg}})
	}
	return sources
}

// refuse says why secret may not be copied, or "": it must carry the
// merchant's copy-to-tenants label and be of a type its use accepts.
func (c copiedSecret) refuse(secret *corev1.Secret) string {
	if secret.Labels[saasv1alpha1.CopyToTenantsLabel] != "true" {
		return "lacks the label " + saasv1alpha1.CopyToTenantsLabel + `: "true", which lets kooper copy it into tenant namespaces`
	}
	if !slices.Contains(c.types, secret.Type) {
		return "has type " + string(secret.Type) + "; a " + c.target + " copy must be of type " + string(c.types[0])
	}
	return ""
}

// tenantsOfSecret maps a Secret to the tenants that must see its change:
// a Secret of kooper's namespace to the tenants of the products that copy
// it, by their spec or by an older revision a paused rollout keeps
// tenants on, so labelling, fixing or rotating it reaches every copy; the
// credentials copy there of a tenant an earlier kooper made, and any
// Secret kooper made in a tenant namespace
// (credentials, the TLS and image-pull copies, a chart's), to its tenant,
// so one edited or deleted by hand is put back.
func (r *SaaSTenantReconciler) tenantsOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	if secret.GetNamespace() != r.Options.SecretNamespace {
		return tenantOfChild(ctx, secret)
	}
	if id := secret.GetLabels()[saasv1alpha1.CredentialsCopyLabel]; id != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: id}}}
	}
	// Only the products that copy it, by their spec or by a stored revision
	// a tenant may still run, are read (copiedSecretNameIndex,
	// revisionReferenceIndex): a restart brings an event for each Secret of
	// the namespace, licence keys among them (one for each licence), and
	// none of those is any product's.
	return r.tenantsReading(ctx, secret, copiedSecretNameIndex, secretReference(secret.GetName()))
}

// copiedSecretNameIndex indexes products by the Secrets of kooper's
// namespace they copy to their tenants (copiedSecrets), so that a Secret's
// event finds its products without reading every product.
const copiedSecretNameIndex = "spec.workload.copiedSecretNames"

func indexByCopiedSecret(mgr ctrl.Manager) error {
	if err := indexRevisionsByReference(mgr); err != nil {
		return err
	}
	return indexOnce(mgr, &saasv1alpha1.SaaSProduct{}, copiedSecretNameIndex, copiedSecretNames)
}

// copiedSecretNames are a product's copiedSecretNameIndex values.
func copiedSecretNames(obj client.Object) []string {
	var names []string
	for _, c := range copiedSecrets(obj.(*saasv1alpha1.SaaSProduct)) {
		if !slices.Contains(names, c.name) {
			names = append(names, c.name)
		}
	}
	return names
}
