package v1alpha1_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kooper-io/kooper/internal/testenv"
)

func TestEverySampleIsAccepted(t *testing.T) {
	g := NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty())

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kooper-system"}}
	if err := k8sClient.Create(ctx(t), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		for _, obj := range readObjects(t, file) {
			t.Run(filepath.Base(file)+"/"+obj.GetName(), func(t *testing.T) {
				NewWithT(t).Expect(k8sClient.Create(ctx(t), obj)).To(Succeed())
			})
			kinds[obj.GetKind()] = true
		}
	}
	g.Expect(kinds).To(HaveKey("SaaSProduct"))
	g.Expect(kinds).To(HaveKey("SaaSTenant"))
	g.Expect(kinds).To(HaveKey("License"))
}

func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objects
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}

// runKubectl runs the kubectl that hack/build-tools.sh built against the test
// API server, as an administrator.
func runKubectl(args ...string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "kubectl-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	cmd, err := user.Kubectl()
	if err != nil {
		return "", err
	}
	stdout, stderr, err := cmd.Run(args...)
	if err != nil {
		msg, _ := io.ReadAll(stderr)
		return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	out, err := io.ReadAll(stdout)
	return string(out), err
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runKubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKubectlReportsTheBuiltServerVersion(t *testing.T) {
	NewWithT(t).Expect(kubectl(t, "version")).To(ContainSubstring("Server Version: v1.37.2"))
}

func TestKubectlExplainShowsDocumentedFields(t *testing.T) {
	g := NewWithT(t)
	// kubectl explain reads the OpenAPI the CRD publishes, which the API
	// server builds shortly after the CRD is established.
	g.Eventually(func() (string, error) { return runKubectl("explain", "saastenant.spec") }).Should(And(
		ContainSubstring("instanceId\t<string> -required-"),
		ContainSubstring("the marketplace instance ID kooper issued"),
		ContainSubstring("orders\t<[]Object>"),
		ContainSubstring("state\t<string>"),
		ContainSubstring("enum: Active, Frozen, Released"),
	))
	g.Expect(kubectl(t, "explain", "saasproduct.spec.plans.replicas")).To(ContainSubstring("number of workload replicas"))
}
