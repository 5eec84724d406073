package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kooper-io/kooper/internal/localstack"
)

// testHelmTestHook runs the installed release's `helm test` hook as its Pod
// would, with the Pod's own arguments: kwok runs no container, so the
// command runs here, against the stack's receiver in place of the Service
// address the Pod would use. It must answer 000003 and exit 0.
func testHelmTestHook(t *testing.T, e *env) {
	g := NewWithT(t)
	hooks, err := e.stack.Helm(e.ctx, "get", "hooks", localstack.Release, "--namespace", localstack.Namespace)
	g.Expect(err).NotTo(HaveOccurred())
	var pod *corev1.Pod
	for _, doc := range strings.Split(hooks, "\n---") {
		candidate := &corev1.Pod{}
		if yaml.Unmarshal([]byte(doc), candidate) == nil && candidate.Kind == "Pod" && candidate.Annotations["helm.sh/hook"] == "test" {
			pod = candidate
		}
	}
	g.Expect(pod).NotTo(BeNil(), "the release has a helm test Pod:\n%s", hooks)
	g.Expect(pod.Spec.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
	g.Expect(pod.Spec.Volumes[0].Secret.SecretName).To(Equal("crm-marketplace-keys"))

	keyFile := filepath.Join(t.TempDir(), "basicKey")
	g.Expect(os.WriteFile(keyFile, []byte(localstack.BasicKey), 0o600)).To(Succeed())
	args := pod.Spec.Containers[0].Args
	for i, arg := range args {
		switch {
		case strings.HasPrefix(arg, "--url="):
			g.Expect(arg).To(HaveSuffix("/koogallery/" + localstack.Product))
			args[i] = "--url=" + e.stack.ReceiverURL
		case strings.HasPrefix(arg, "--key-file="):
			args[i] = "--key-file=" + keyFile
		}
	}
	out, err := exec.CommandContext(e.ctx, e.stack.Binary("kooper"), args...).CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "kooper %v: %s", args, out)
	g.Expect(string(out)).To(And(HavePrefix("PASS"), ContainSubstring("answered 000003")))
}
