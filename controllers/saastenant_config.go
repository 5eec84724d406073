package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// tenantConfig renders the product's configuration files for the tenant
// into d, or, when the product has none, notes whether the Deployment
// still mounts some (the cached Deployment's checksum annotation says so,
// at no API request). A missing ConfigMap, a template that does not render
// or files too large stall provisioning; only a change of the product or
// of the ConfigMap can help, and both trigger a reconcile.
func (r *SaaSTenantReconciler) tenantConfig(ctx context.Context, s *tenantState, d *tenantobjects.Desired, live *appsv1.Deployment) outcome {
	w := s.product.Spec.Workload
	if w == nil {
		return proceed() // a chart product: the chart holds its configuration
	}
	if w.Config == nil || d.Simulated {
		d.StaleConfig = live != nil && live.Spec.Template.Annotations[saasv1alpha1.ConfigChecksumAnnotation] != ""
		return proceed()
	}
	source, o := r.configSource(ctx, s)
	if !o.proceeds() {
		return o
	}
	data := tenantobjects.ConfigData{InstanceID: s.tenant.Spec.InstanceID, Namespace: d.Namespace, Product: s.product.Name,
		SKUCode: s.plan.SKUCode}
	rendered, p := tenantobjects.RenderConfig(*source, data)
	if p != nil {
		return r.stall(s.tenant, p.Reason, "SaaSProduct %q: %s", s.product.Name, p.Message)
	}
	d.Config = rendered
	return proceed()
}

// configSource reads the product's configuration files: inline, or from a
// ConfigMap in kooper's namespace, read through the cache (which holds
// every ConfigMap there but directory shards), so rendering costs no API
// request and a change of the ConfigMap reaches the tenants by the watch.
func (r *SaaSTenantReconciler) configSource(ctx context.Context, s *tenantState) (*tenantobjects.ConfigSource, outcome) {
	product := s.product
	cfg := product.Spec.Workload.Config
	if cfg.ConfigMapName == "" {
		source := &tenantobjects.ConfigSource{Templates: map[string]string{}, Origin: "spec.workload.config.files"}
		for _, f := range cfg.Files {
			source.Templates[f.Name] = f.Content
		}
		return source, proceed()
	}
	key := client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: cfg.ConfigMapName}
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, key, cm)
	if apierrors.IsNotFound(err) {
		return nil, r.stall(s.tenant, saasv1alpha1.ConfigMapNotFoundReason,
			"SaaSProduct %q: ConfigMap %s, named by spec.workload.config.configMapName, does not exist (kooper does not read one labelled %s)",
			product.Name, key, saasv1alpha1.DirectoryLabel)
	}
	if err != nil {
		return nil, failed(fmt.Errorf("failed to read ConfigMap %s named by SaaSProduct %s: %w", key, product.Name, err))
	}
	return &tenantobjects.ConfigSource{Templates: cm.Data, Binary: cm.BinaryData, Origin: "ConfigMap " + key.String()}, proceed()
}

// configMapNameIndex indexes products by the ConfigMap their configuration
// files come from, so a change of it reaches their tenants without a scan.
const configMapNameIndex = "spec.workload.config.configMapName"

func indexByConfigMap(mgr ctrl.Manager) error {
	if err := indexRevisionsByReference(mgr); err != nil {
		return err
	}
	return indexOnce(mgr, &saasv1alpha1.SaaSProduct{}, configMapNameIndex, configMapNames)
}

// configMapNames are a product's configMapNameIndex values.
func configMapNames(obj client.Object) []string {
	if w := obj.(*saasv1alpha1.SaaSProduct).Spec.Workload; w != nil && w.Config != nil && w.Config.ConfigMapName != "" {
		return []string{w.Config.ConfigMapName}
	}
	return nil
}

// tenantsOfConfigMap maps a ConfigMap in kooper's namespace to the tenants
// of every product whose configuration files come from it, by its spec or
// by a stored revision a tenant may still run (a rollout paused keeps
// tenants, new ones among them, on an older revision, which may name
// another ConfigMap): their files are rendered again, and only those whose
// content changed roll; a tenant stalled on its absence resumes.
func (r *SaaSTenantReconciler) tenantsOfConfigMap(ctx context.Context, cm client.Object) []reconcile.Request {
	if cm.GetNamespace() != r.Options.SecretNamespace {
		return nil
	}
	return r.tenantsReading(ctx, cm, configMapNameIndex, configMapReference(cm.GetName()))
}
