package localcluster

import (
	"context"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kooper-io/kooper/internal/testenv"
)

// What was written before etcd was killed is read back after its restart,
// through the same kube-apiserver, which reconnected by itself.
func TestKillEtcdAndRestartItOnTheSameData(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	env, err := testenv.StartWith(func(e *envtest.Environment) {
		e.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(dir, "etcd")}
	})
	if err != nil {
		t.Skipf("no envtest binaries: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c := &Cluster{env: env.Environment, dir: dir, logf: t.Logf}
	clients, err := kubernetes.NewForConfig(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()
	configMaps := clients.CoreV1().ConfigMaps("default")
	before := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-the-kill"}}
	_, err = configMaps.Create(ctx, before, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(c.KillEtcd()).To(Succeed())
	pids, err := findProcesses(dir, "etcd")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pids).To(BeEmpty())
	g.Expect(c.KillEtcd()).To(MatchError(ContainSubstring("found 0")))

	g.Expect(c.RestartEtcd()).To(Succeed())
	g.Eventually(func() error {
		_, err := configMaps.Get(ctx, before.Name, metav1.GetOptions{})
		return err
	}, "30s").Should(Succeed())
	_, err = configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-the-restart"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
}

func TestKillEtcdNeedsARunningCluster(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&Cluster{}).KillEtcd()).To(MatchError(ContainSubstring("not running")))
	g.Expect((&Cluster{}).RestartEtcd()).To(MatchError(ContainSubstring("not running")))
}
