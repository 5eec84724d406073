package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	"sigs.k8s.io/kwok/pkg/apis/v1alpha1"
	"sigs.k8s.io/kwok/pkg/utils/lifecycle"
	"sigs.k8s.io/yaml"

	"github.com/kooper-io/kooper/internal/testenv"
)

// The stages kwok runs with ready every pod as kwok's stock ones do, but
// none with a container on an image tagged NeverReadyImageTag. The
// selectors are evaluated by kwok's own lifecycle code, at the version
// hack/versions.env builds kwok at.
func TestStagesLeaveNeverReadyPodsAlone(t *testing.T) {
	g := NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	versions, err := readVersions(filepath.Join(root, "hack", "versions.env"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kwokModuleVersion(g)).To(Equal(versions["KWOK_VERSION"]),
		"go.mod's sigs.k8s.io/kwok, whose selectors this test evaluates, is not the kwok hack/versions.env builds")

	dir := t.TempDir()
	files, err := writeStages(dir, versions["KWOK_VERSION"], true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).To(ContainElements(filepath.Join(dir, "pod-ready.yaml"), filepath.Join(dir, "pod-ready-again.yaml")))

	normal, marked := "swr.example.com/acme/crm:1.4.3", "swr.example.com/acme/crm:"+NeverReadyImageTag
	for _, tc := range []struct {
		stage string
		pod   func(images ...string) *corev1.Pod
	}{
		{"pod-ready.yaml", pendingPod},
		{"pod-ready-again.yaml", notReadyRunningPod},
	} {
		stage := loadStage(g, filepath.Join(dir, tc.stage))
		g.Expect(matches(g, stage, tc.pod(normal))).To(BeTrue(), "%s leaves a pod of %s alone", tc.stage, normal)
		g.Expect(matches(g, stage, tc.pod("registry.local:5000/app"))).To(BeTrue(), "%s leaves an untagged image alone", tc.stage)
		g.Expect(matches(g, stage, tc.pod(marked))).To(BeFalse(), "%s readies a pod of %s", tc.stage, marked)
		g.Expect(matches(g, stage, tc.pod(normal, marked))).To(BeFalse(), "%s readies a pod with a container of %s", tc.stage, marked)
	}
}

// kwokModuleVersion is the version of sigs.k8s.io/kwok go.mod requires:
// the one built into the test.
func kwokModuleVersion(g Gomega) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "sigs.k8s.io/kwok").Output()
	g.Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(string(out))
}

// loadStage reads a stage file as kwok does: the v1alpha1 Stage, converted
// to kwok's internal version, as a lifecycle.
func loadStage(g Gomega, path string) lifecycle.Lifecycle {
	data, err := os.ReadFile(filepath.Clean(path))
	g.Expect(err).NotTo(HaveOccurred())
	stage := &v1alpha1.Stage{}
	g.Expect(yaml.UnmarshalStrict(data, stage)).To(Succeed(), path)
	internal, err := internalversion.ConvertToInternalStage(stage)
	g.Expect(err).NotTo(HaveOccurred())
	l, err := lifecycle.NewLifecycle([]*internalversion.Stage{internal})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(l).To(HaveLen(1), "%s has no selector", path)
	return l
}

// matches reports whether the stage applies to pod, as kwok's pod
// controller asks it.
func matches(g Gomega, l lifecycle.Lifecycle, pod *corev1.Pod) bool {
	stage, err := l.Match(context.Background(), &lifecycle.Event{Labels: pod.Labels, Annotations: pod.Annotations, Data: pod})
	g.Expect(err).NotTo(HaveOccurred())
	return stage != nil
}

// pendingPod is a pod just scheduled, one container per image: what
// kwok's pod-ready stage readies.
func pendingPod(images ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app-0", Namespace: "tenant", Labels: map[string]string{"app": "app"}},
		Spec:       corev1.PodSpec{NodeName: "kwok-node-0"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		}},
	}
	for i, image := range images {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: image})
	}
	return pod
}

// notReadyRunningPod is a Running pod the node lifecycle controller
// marked not Ready: what podReadyAgainStage readies.
func notReadyRunningPod(images ...string) *corev1.Pod {
	pod := pendingPod(images...)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse})
	return pod
}
