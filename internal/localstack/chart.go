package localstack

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/localcluster"
)

// DataVolumes is how many PersistentVolumes the stack provides. The local
// cluster has no storage provisioner, so it pre-creates hostPath volumes
// (kwok never mounts them) for the PV controller to bind tenants' claims to.
const DataVolumes = 12

// The sample product's Ingress certificate Secret and domain.
const (
	sampleTLSSecret = "crm-wildcard-tls"
	sampleDomain    = "crm.example.com"
)

// installChart installs the chart the way docs/operations.md tells a merchant to:
// the keys Secret first, then helm install with the sample product.
func (s *Stack) installChart(ctx context.Context, o Options) error {
	s.logf("Installing the Helm chart into %s", Namespace)
	if err := s.createSecrets(ctx); err != nil {
		return err
	}
	if err := s.createDataVolumes(ctx); err != nil {
		return err
	}
	values, err := s.writeValues(o.Values)
	if err != nil {
		return err
	}
	_, err = s.Helm(ctx, "upgrade", "--install", Release, filepath.Join(s.root, "charts", "kooper"),
		"--namespace", Namespace, "--values", values, "--wait", "--timeout", "3m")
	return err
}

// Helm runs Helm against the local cluster and returns its output.
func (s *Stack) Helm(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Cluster.Tools.Helm, append(args, "--kubeconfig", s.Cluster.Kubeconfig)...)
	// Keep Helm's cache and config inside the stack's directory.
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(s.dir, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(s.dir, "helm", "config"),
		"HELM_DATA_HOME="+filepath.Join(s.dir, "helm", "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// createSecrets creates the namespace, the sample keys Secret (the spec's
// test keys, which the simulator signs with) and the sample product's
// Ingress certificate.
func (s *Stack) createSecrets(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if err := s.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create namespace %s: %w", Namespace, err)
	}
	secret := &corev1.Secret{}
	if err := readYAML(filepath.Join(s.root, "config", "samples", "marketplace-keys.example.yaml"), secret); err != nil {
		return err
	}
	if err := s.addKitKeys(secret); err != nil {
		return err
	}
	tls, err := wildcardTLSSecret(sampleTLSSecret, sampleDomain)
	if err != nil {
		return err
	}
	for _, obj := range []*corev1.Secret{secret, tls} {
		if err := s.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create Secret %s: %w", obj.Name, err)
		}
	}
	return nil
}

func (s *Stack) createDataVolumes(ctx context.Context) error {
	for i := range DataVolumes {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("local-data-%02d", i)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource: corev1.PersistentVolumeSource{
					HostPath: &corev1.HostPathVolumeSource{Path: fmt.Sprintf("/var/lib/kooper-local/%02d", i)},
				},
			},
		}
		if s.node != nil {
			// A real kubelet mounts it: a directory of the stack's own, which
			// the tenant's non-root user may write (a hostPath volume has no
			// fsGroup), made again by the kubelet if it is gone.
			dir := filepath.Join(s.dir, "volumes", fmt.Sprintf("%02d", i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(dir, 0o777); err != nil { //nolint:gosec // the test tenants' volume, written by their non-root user
				return err
			}
			pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}
		}
		if err := s.Client.Create(ctx, pv); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create a PersistentVolume: %w", err)
		}
	}
	return nil
}

// writeValues writes the chart values: the sample SaaSProduct, the
// simulator as the marketplace's open-API endpoint, then extra.
func (s *Stack) writeValues(extra map[string]any) (string, error) {
	var product struct {
		Spec map[string]any `json:"spec"`
	}
	if err := readYAML(filepath.Join(s.root, "config", "samples", "saas_v1alpha1_saasproduct.yaml"), &product); err != nil {
		return "", err
	}
	if s.node != nil {
		// The tenants run the sample app, imported into the node's containerd.
		workload, _ := product.Spec["workload"].(map[string]any)
		workload["image"] = localcluster.NodeImage("sample-app")
	}
	values := map[string]any{
		"marketplaceURLs": []string{s.SimURL},
		"product":         map[string]any{"enabled": true, "name": Product, "spec": product.Spec},
	}
	maps.Copy(values, extra)
	data, err := yaml.Marshal(values)
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.dir, "values.yaml")
	return path, os.WriteFile(path, data, 0o644)
}

func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("failed to read %s: %w", path, err)
	}
	return nil
}

// addKitKeys gives the sample product the joint-operation keys: a kit key
// and a fresh RSA key pair, whose public half the simulator encrypts
// clientSecret with (Sim passes both to it).
func (s *Stack) addKitKeys(secret *corev1.Secret) error {
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return err
	}
	private, err := koogallery.PrivateKeyPEM(key)
	if err != nil {
		return err
	}
	public, err := koogallery.PublicKeyPEM(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.kitPublicKeyPath(), public, 0o644); err != nil {
		return err
	}
	secret.StringData[saasv1alpha1.KitKeySecretKey] = KitKey
	secret.StringData[saasv1alpha1.RSAPrivateKeySecretKey] = string(private)
	return nil
}

func (s *Stack) kitPublicKeyPath() string { return filepath.Join(s.dir, "kit-public.pem") }
