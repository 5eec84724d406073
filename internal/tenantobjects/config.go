package tenantobjects

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/templatebound"
)

// A tenant's configuration files (spec.workload.config): rendered from the
// product's templates, written into one ConfigMap in the tenant namespace
// and mounted read-only.
const (
	// ConfigMapName names the tenant's ConfigMap of rendered files, and
	// ConfigVolumeName its volume in the pod template, mounted read-only at
	// spec.workload.config.mountPath.
	ConfigMapName    = "kooper-config"
	ConfigVolumeName = "kooper-config"
	// maxConfigBytes bounds the rendered files, names included: the API
	// server refuses a ConfigMap whose data passes 1 MiB.
	maxConfigBytes = 1 << 20
)

// ConfigData is what configuration templates may use: what URL templates
// may ({{.InstanceID}}, {{.Namespace}}, {{.Product}}), and the plan's
// {{.SKUCode}}. URL templates do not get the skuCode: a tenant's URLs, and
// the Ingress host in them, must not change when the buyer changes plan.
type ConfigData struct {
	InstanceID, Namespace, Product string
	SKUCode                        string
}

// ConfigSource is a product's configuration files before rendering.
type ConfigSource struct {
	// Templates are text/template sources, keyed by file name.
	Templates map[string]string
	// Binary are files copied as they are, keyed by file name.
	Binary map[string][]byte
	// Origin names where the files come from, for messages, for example
	// "spec.workload.config.files" or "ConfigMap kooper/crm-config".
	Origin string
}

// Config is a tenant's configuration files, rendered (RenderConfig), and
// the SHA-256 of their content.
type Config struct {
	data     map[string]string
	binary   map[string][]byte
	checksum string
}

// ConfigProblem is why a tenant's configuration files cannot be rendered:
// Reason is a condition reason (ConfigTemplateInvalid or ConfigTooLarge),
// Message says which file and why.
type ConfigProblem struct {
	Reason, Message string
}

// RenderConfig renders every template of source with data, in the order
// of their names, within 1 MiB in all, names and binary files included
// (what a ConfigMap holds). A missing key is an error. It returns the
// rendered files, or, when a template does not parse or execute or the
// files pass 1 MiB, a problem the caller stalls the tenant with. A
// template whose run is not bounded by its size (a {{range}},
// templatebound) does not parse.
func RenderConfig(source ConfigSource, data ConfigData) (*Config, *ConfigProblem) {
	room := maxConfigBytes
	for name, content := range source.Binary {
		room -= len(name) + len(content)
	}
	if room < 0 {
		return nil, tooLarge(source, "its binary files")
	}
	rendered := &Config{data: map[string]string{}, binary: source.Binary}
	for _, name := range slices.Sorted(maps.Keys(source.Templates)) {
		room -= len(name)
		if room < 0 {
			return nil, tooLarge(source, fmt.Sprintf("file %q", name))
		}
		out, err := renderFile(name, source.Templates[name], data, room)
		if errors.Is(err, templatebound.ErrTooLong) {
			return nil, tooLarge(source, fmt.Sprintf("file %q", name))
		}
		if err != nil {
			return nil, &ConfigProblem{Reason: saasv1alpha1.ConfigTemplateInvalidReason,
				Message: fmt.Sprintf("configuration file %q of %s does not render: %v", name, source.Origin, err)}
		}
		rendered.data[name] = out
		room -= len(out)
	}
	rendered.checksum = ConfigChecksum(rendered.data, rendered.binary)
	return rendered, nil
}

// renderFile renders one template, refusing (templatebound.ErrTooLong) to
// write more than room bytes: a template cannot render, and kooper hold,
// more than a ConfigMap can take.
func renderFile(name, text string, data ConfigData, room int) (string, error) {
	tmpl, err := templatebound.Parse(name, "a configuration template", text)
	if err != nil {
		return "", err
	}
	return templatebound.Execute(tmpl, data, room)
}

func tooLarge(source ConfigSource, what string) *ConfigProblem {
	return &ConfigProblem{Reason: saasv1alpha1.ConfigTooLargeReason, Message: fmt.Sprintf(
		"the configuration files of %s, rendered, pass 1 MiB (names included) at %s; a ConfigMap holds at most 1 MiB",
		source.Origin, what)}
}

// ConfigChecksum is the SHA-256, as 64 lower-case hex digits, of rendered
// files: data and binary, keyed by file name. It is the value of the
// ConfigChecksumAnnotation on the tenant's ConfigMap and pod template.
// JSON writes map keys in order, so equal content always gives an equal
// sum.
func ConfigChecksum(data map[string]string, binary map[string][]byte) string {
	content, _ := json.Marshal(struct { // maps of strings and bytes always marshal
		Data   map[string]string `json:"data"`
		Binary map[string][]byte `json:"binaryData"`
	}{data, binary})
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// configMap is the tenant's ConfigMap of rendered files (empty when only
// named, to be removed). It carries the checksum too: the applier skips an
// object whose fields all have their values, which a ConfigMap that still
// holds a file the product dropped would pass; its checksum would not, and
// the apply then drops the file.
func (d *Desired) configMap() *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: d.Meta(ConfigMapName),
	}
	if d.Config != nil {
		cm.Annotations = map[string]string{saasv1alpha1.ConfigChecksumAnnotation: d.Config.checksum}
		cm.Data, cm.BinaryData = d.Config.data, d.Config.binary
	}
	return cm
}

func configVolume() corev1.Volume {
	return corev1.Volume{Name: ConfigVolumeName, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName}}}}
}

func configMount(mountPath string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: ConfigVolumeName, MountPath: mountPath, ReadOnly: true}
}
