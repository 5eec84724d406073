package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A tenant's configuration files (spec.workload.config): rendered from the
// product's templates, written into one ConfigMap in the tenant namespace
// and mounted read-only.
const (
	configMapName    = "kooper-config"
	configVolumeName = "kooper-config"
	// maxConfigBytes bounds the rendered files, names included: the API
	// server refuses a ConfigMap whose data passes 1 MiB.
	maxConfigBytes = 1 << 20
)

// configData is what configuration templates may use: what URL templates
// may, and the plan's skuCode. URL templates do not get the skuCode: a
// tenant's URLs, and the Ingress host in them, must not change when the
// buyer changes plan.
type configData struct {
	urlData
	SKUCode string
}

// configSource is a product's configuration files before rendering:
// templates, and binary files copied as they are.
type configSource struct {
	templates map[string]string
	binary    map[string][]byte
	// origin names where they come from, for messages.
	origin string
}

// renderedConfig is a tenant's configuration files, rendered, and the
// SHA-256 of their content.
type renderedConfig struct {
	data     map[string]string
	binary   map[string][]byte
	checksum string
}

// configProblem is why a tenant's configuration files cannot be rendered;
// reason is a condition reason.
type configProblem struct {
	reason, message string
}

// errConfigTooLarge stops a template whose output passes the budget.
var errConfigTooLarge = errors.New("configuration files too large")

// renderConfig renders every template of source with data, within
// maxConfigBytes in all, names and binary files included.
func renderConfig(source configSource, data configData) (*renderedConfig, *configProblem) {
	room := maxConfigBytes
	for name, content := range source.binary {
		room -= len(name) + len(content)
	}
	if room < 0 {
		return nil, tooLarge(source, "its binary files")
	}
	rendered := &renderedConfig{data: map[string]string{}, binary: source.binary}
	for _, name := range slices.Sorted(maps.Keys(source.templates)) {
		room -= len(name)
		out := &cappedBuffer{room: room}
		err := renderFile(name, source.templates[name], data, out)
		if errors.Is(err, errConfigTooLarge) || room < 0 {
			return nil, tooLarge(source, fmt.Sprintf("file %q", name))
		}
		if err != nil {
			return nil, &configProblem{reason: saasv1alpha1.ConfigTemplateInvalidReason,
				message: fmt.Sprintf("configuration file %q of %s does not render: %v", name, source.origin, err)}
		}
		rendered.data[name] = out.String()
		room = out.room
	}
	rendered.checksum = configChecksum(rendered)
	return rendered, nil
}

func renderFile(name, text string, data configData, out *cappedBuffer) error {
	tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return err
	}
	return tmpl.Execute(out, data)
}

func tooLarge(source configSource, what string) *configProblem {
	return &configProblem{reason: saasv1alpha1.ConfigTooLargeReason, message: fmt.Sprintf(
		"the configuration files of %s, rendered, pass 1 MiB (names included) at %s; a ConfigMap holds at most 1 MiB",
		source.origin, what)}
}

// cappedBuffer is a buffer that refuses to grow past room bytes, so a
// template cannot render (and kooper hold) more than a ConfigMap can take.
type cappedBuffer struct {
	bytes.Buffer
	room int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if len(p) > b.room {
		return 0, errConfigTooLarge
	}
	b.room -= len(p)
	return b.Buffer.Write(p)
}

// configChecksum is the SHA-256 of the rendered files; JSON writes map keys
// in order, so equal content always gives an equal sum.
func configChecksum(c *renderedConfig) string {
	content, _ := json.Marshal(struct { // maps of strings and bytes always marshal
		Data   map[string]string `json:"data"`
		Binary map[string][]byte `json:"binaryData"`
	}{c.data, c.binary})
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// configMap is the tenant's ConfigMap of rendered files (empty when only
// named, to be removed). It carries the checksum too: the applier skips an
// object whose fields all have their values, which a ConfigMap that still
// holds a file the product dropped would pass; its checksum would not, and
// the apply then drops the file.
func (d *desiredTenant) configMap() *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: d.meta(configMapName),
	}
	if d.config != nil {
		cm.Annotations = map[string]string{saasv1alpha1.ConfigChecksumAnnotation: d.config.checksum}
		cm.Data, cm.BinaryData = d.config.data, d.config.binary
	}
	return cm
}

func configVolume() corev1.Volume {
	return corev1.Volume{Name: configVolumeName, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMapName}}}}
}

func configMount(mountPath string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: configVolumeName, MountPath: mountPath, ReadOnly: true}
}

// tenantConfig renders the product's configuration files for the tenant
// into d, or, when the product has none, notes whether the Deployment
// still mounts some (the cached Deployment's checksum annotation says so,
// at no API request). A missing ConfigMap, a template that does not render
// or files too large stall provisioning; only a change of the product or
// of the ConfigMap can help, and both trigger a reconcile.
func (r *SaaSTenantReconciler) tenantConfig(ctx context.Context, s *tenantState, d *desiredTenant) error {
	w := s.product.Spec.Workload
	if w.Config == nil || d.simulated {
		deployment, err := r.deployment(ctx, d.namespace)
		d.staleConfig = deployment != nil && deployment.Spec.Template.Annotations[saasv1alpha1.ConfigChecksumAnnotation] != ""
		return err
	}
	source, err := r.configSource(ctx, s)
	if err != nil {
		return err
	}
	data := configData{urlData: urlData{InstanceID: s.tenant.Spec.InstanceID, Namespace: d.namespace, Product: s.product.Name},
		SKUCode: s.plan.SKUCode}
	rendered, p := renderConfig(*source, data)
	if p != nil {
		return r.stall(s.tenant, p.reason, "SaaSProduct %q: %s", s.product.Name, p.message)
	}
	d.config = rendered
	return nil
}

// configSource reads the product's configuration files: inline, or from a
// ConfigMap in kooper's namespace, read through the cache (which holds
// every ConfigMap there but directory shards), so rendering costs no API
// request and a change of the ConfigMap reaches the tenants by the watch.
func (r *SaaSTenantReconciler) configSource(ctx context.Context, s *tenantState) (*configSource, error) {
	product := s.product
	cfg := product.Spec.Workload.Config
	if cfg.ConfigMapName == "" {
		source := &configSource{templates: map[string]string{}, origin: "spec.workload.config.files"}
		for _, f := range cfg.Files {
			source.templates[f.Name] = f.Content
		}
		return source, nil
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
		return nil, fmt.Errorf("failed to read ConfigMap %s named by SaaSProduct %s: %w", key, product.Name, err)
	}
	return &configSource{templates: cm.Data, binary: cm.BinaryData, origin: "ConfigMap " + key.String()}, nil
}

// configMapNameIndex indexes products by the ConfigMap their configuration
// files come from, so a change of it reaches their tenants without a scan.
const configMapNameIndex = "spec.workload.config.configMapName"

func indexByConfigMap(mgr ctrl.Manager) error {
	return indexOnce(mgr, &saasv1alpha1.SaaSProduct{}, configMapNameIndex, func(obj client.Object) []string {
		if w := obj.(*saasv1alpha1.SaaSProduct).Spec.Workload; w != nil && w.Config != nil && w.Config.ConfigMapName != "" {
			return []string{w.Config.ConfigMapName}
		}
		return nil
	})
}

// tenantsOfConfigMap maps a ConfigMap in kooper's namespace to the tenants
// of every product whose configuration files come from it: their files are
// rendered again, and only those whose content changed roll.
func (r *SaaSTenantReconciler) tenantsOfConfigMap(ctx context.Context, cm client.Object) []reconcile.Request {
	if cm.GetNamespace() != r.Options.SecretNamespace {
		return nil
	}
	products := &saasv1alpha1.SaaSProductList{}
	if err := r.List(ctx, products, client.MatchingFields{configMapNameIndex: cm.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the products of a ConfigMap", "ConfigMap", client.ObjectKeyFromObject(cm))
		return nil
	}
	var requests []reconcile.Request
	for i := range products.Items {
		requests = append(requests, r.tenantsOfProduct(ctx, &products.Items[i])...)
	}
	return requests
}
