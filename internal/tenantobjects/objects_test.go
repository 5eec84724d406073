package tenantobjects

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden files in testdata/ from the current rendering")

// goldenProduct is a product that uses every workload field that existed
// before probes and configuration files, as the API server defaults it.
func goldenProduct() *saasv1alpha1.SaaSProduct {
	return &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "crm"},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI846204237451911168", KeysSecretName: "crm-keys", NamespacePrefix: "tenant",
			URLs: &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.crm.example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{
				Image: "registry.example.com/crm:1.0", ImagePullPolicy: corev1.PullIfNotPresent, ImagePullSecretName: "pull",
				Args:  []string{"--serve"},
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []saasv1alpha1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}},
				Resources: &saasv1alpha1.ContainerResources{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				Storage:   &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data"},
				Ingress:   &saasv1alpha1.IngressTemplate{ClassName: "nginx", TLSSecretName: "tls", Path: "/"},
				Directory: &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"},
			},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 2}},
		},
	}
}

func goldenTenant(product *saasv1alpha1.SaaSProduct) *Desired {
	id := "i-0123456789abcdef0123"
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: product.Name}}
	namespace := NamespaceName(product, id)
	urls, err := RenderURLs(product, id, namespace)
	if err != nil {
		panic(err)
	}
	return &Desired{Tenant: tenant, Product: product, Plan: &product.Spec.Plans[0], Namespace: namespace,
		URLs: urls, IngressNamespace: "ingress-nginx"}
}

// TestRenderingWithoutProbesOrConfigIsUnchanged pins the objects rendered
// for a product that uses neither probes nor configuration files to what
// kooper rendered before those fields existed (testdata/, written by the
// code of that time): any difference in the Deployment's pod template would
// restart every running tenant of every such product on upgrade. Only the
// NetworkPolicy was rewritten since, when it gained egress rules (issue 19):
// a NetworkPolicy is no part of a pod template, so that restarts nothing.
// And the joint-operation directory volume projects Secrets where it
// projected ConfigMaps (issue 20: the users' personal data left the
// ConfigMaps): that rolls joint-operation tenants once, on purpose, as the
// upgrade note in docs/operations.md says.
func TestRenderingWithoutProbesOrConfigIsUnchanged(t *testing.T) {
	g := NewWithT(t)
	present, absent := goldenTenant(goldenProduct()).Objects()
	rendered := map[string][]client.Object{"present": present, "absent": absent}
	got, err := json.MarshalIndent(rendered, "", "  ")
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join("testdata", "tenant-objects-without-probes-or-config.golden.json")
	if *updateGolden {
		g.Expect(os.MkdirAll("testdata", 0o755)).To(Succeed())
		g.Expect(os.WriteFile(path, append(got, '\n'), 0o644)).To(Succeed())
	}
	want, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(got) + "\n").To(Equal(string(want)))
}
