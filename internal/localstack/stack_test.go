package localstack

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kooper-io/kooper/internal/koogallery"
)

func TestLocalArgsExpandsTheNamespaceAndMovesTheListeners(t *testing.T) {
	g := NewWithT(t)
	got := localArgs([]string{
		"--leader-elect=true",
		"--namespace=$(POD_NAMESPACE)",
		"--receiver-bind-address=:8082",
		"--metrics-bind-address=:8080",
		"--marketplace-url=http://127.0.0.1:9099",
	}, map[string]string{
		"--receiver-bind-address": "127.0.0.1:41000",
		"--metrics-bind-address":  "127.0.0.1:41001",
	})
	g.Expect(got).To(Equal([]string{
		"--leader-elect=true",
		"--namespace=" + Namespace,
		"--receiver-bind-address=127.0.0.1:41000",
		"--metrics-bind-address=127.0.0.1:41001",
		"--marketplace-url=http://127.0.0.1:9099",
	}))
}

// A process gets the Go memory limit kooper would set itself in its pod:
// 90% of the container's memory limit, none without one.
func TestAProcessGetsItsPodsMemoryLimit(t *testing.T) {
	g := NewWithT(t)
	limited := corev1.Container{Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("400Mi")}}}
	g.Expect(podMemoryEnv(limited)).To(Equal([]string{"GOMEMLIMIT=377487360"}))
	g.Expect(podMemoryEnv(corev1.Container{})).To(BeEmpty())
}

// A component's kubeconfig keeps the cluster and carries the
// ServiceAccount's token alone: no client certificate, no impersonation.
func TestAComponentsKubeconfigAuthenticatesWithItsToken(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	admin := clientcmdapi.NewConfig()
	admin.Clusters["local"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443"}
	admin.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert"), ClientKeyData: []byte("key")}
	admin.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	admin.CurrentContext = "local"
	from, to := filepath.Join(dir, "admin"), filepath.Join(dir, "operator")
	g.Expect(clientcmd.WriteToFile(*admin, from)).To(Succeed())

	g.Expect(writeTokenKubeconfig(from, to, "the-token")).To(Succeed())
	cfg, err := clientcmd.BuildConfigFromFlags("", to)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.BearerToken).To(Equal("the-token"))
	g.Expect(cfg.CertData).To(BeEmpty())
	g.Expect(cfg.KeyData).To(BeEmpty())
	g.Expect(cfg.Impersonate.UserName).To(BeEmpty())
	g.Expect(cfg.Host).To(Equal("https://127.0.0.1:6443"))
}

func TestTailKeepsTheLastLines(t *testing.T) {
	g := NewWithT(t)
	path := filepath.Join(t.TempDir(), "x.log")
	g.Expect(os.WriteFile(path, []byte("1\n2\n3\n4\n"), 0o644)).To(Succeed())
	g.Expect(tail(path, 2)).To(Equal("3\n4\n"))
	g.Expect(tail(path, 10)).To(Equal("1\n2\n3\n4\n"))
}

func TestReplicasNameTheirProcessesAndDefaultToOne(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&component{name: Receiver}).processName()).To(Equal("kooper-receiver"))
	g.Expect((&component{name: Controllers, replica: 1}).processName()).To(Equal("kooper-controllers-1"))
	o := Options{Replicas: map[string]int{Receiver: 2}}
	g.Expect(o.replicas(Receiver)).To(Equal(2))
	g.Expect(o.replicas(Controllers)).To(Equal(1))
	g.Expect(Options{}.replicas(Receiver)).To(Equal(1))
}

// The chaos suite's kubelet (RestartExited) restarts a replica that exited
// by itself, and leaves alone those the scenario killed until it restarts
// them; KillAll kills every replica at once.
func TestKilledReplicasStayStoppedUntilRestartedAndExitedOnesRestart(t *testing.T) {
	g := NewWithT(t)
	s := fakeStack(t, map[string]int{Receiver: 2, Controllers: 2})
	g.Expect(s.KillReplica(Receiver, 1)).To(Succeed())
	g.Expect(s.KillReplica(Receiver, 1)).To(MatchError(ContainSubstring("not running")))
	exiting := s.components[Controllers][0].process
	g.Expect(exiting.Stop(5 * time.Second)).To(Succeed())

	restarted, err := s.RestartExited()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(restarted).To(Equal([]string{"kooper-controllers"}))
	g.Expect(s.components[Receiver][1].process).To(BeNil())
	g.Expect(filepath.Join(s.LogDir(), "kooper-controllers.log.previous")).To(BeAnExistingFile())

	g.Expect(s.KillAll()).To(Succeed())
	g.Expect(s.operatorProcesses()).To(BeEmpty())
	g.Expect(s.KillAll()).To(MatchError(ContainSubstring("not running")))
	g.Expect(s.startStopped(s.components[Receiver][1])).To(Succeed())
	g.Expect(s.startStopped(s.components[Receiver][1])).To(MatchError(ContainSubstring("still running")))
	g.Expect(s.operatorProcesses()).To(HaveLen(1))
}

// fakeStack is a stack whose replicas run a stand-in for kooper that only
// waits: enough to kill and restart them.
func fakeStack(t *testing.T, replicas map[string]int) *Stack {
	t.Helper()
	dir := t.TempDir()
	s := &Stack{dir: dir, bin: filepath.Join(dir, "bin"), logf: t.Logf, components: map[string][]*component{}}
	if err := os.MkdirAll(s.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Binary("kooper"), []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range Components {
		for replica := range replicas[name] {
			c := &component{name: name, replica: replica}
			if err := s.runComponent(c); err != nil {
				t.Fatal(err)
			}
			s.components[name] = append(s.components[name], c)
		}
	}
	t.Cleanup(func() { _ = s.stopOperator(time.Second) })
	return s
}

// The controllers' test-only clock flags are replaced, never repeated,
// when the clock is set again.
func TestMeteringClockArgsReplaceEachOther(t *testing.T) {
	g := NewWithT(t)
	var none *MeteringClock
	g.Expect(none.args()).To(BeEmpty(), "without a clock the chart's arguments run as they are")
	args := append([]string{"--components=controllers"}, (&MeteringClock{Offset: 42 * time.Minute, PushSpread: 20 * time.Second}).args()...)
	g.Expect(args).To(Equal([]string{"--components=controllers", "--metering-clock-offset=42m0s", "--metering-push-spread=20s"}))
	args = append(withoutMeteringClock(args), (&MeteringClock{Offset: -time.Minute, PushSpread: time.Second}).args()...)
	g.Expect(args).To(Equal([]string{"--components=controllers", "--metering-clock-offset=-1m0s", "--metering-push-spread=1s"}))
}

func TestSimOrderRegistersAYearPayPerUseOrAPackage(t *testing.T) {
	g := NewWithT(t)
	yearly := SimOrder{OrderID: "O1", ProductID: "P", SKUCode: "S", Customer: "c"}.registration()
	g.Expect(yearly).To(HaveKeyWithValue("chargingMode", koogallery.ChargingPeriod))
	g.Expect(yearly).To(HaveKeyWithValue("periodType", "year"))
	metered := SimOrder{OrderID: "O2", ProductID: "P", SKUCode: "S", Customer: "c", ChargingMode: koogallery.ChargingOnDemand}.registration()
	g.Expect(metered).To(HaveKeyWithValue("chargingMode", koogallery.ChargingOnDemand))
	g.Expect(metered).NotTo(HaveKey("periodType"))
	g.Expect(metered).To(HaveKeyWithValue("orderLineId", "O2-000001"))
	g.Expect(metered).NotTo(HaveKey("linearValue"))
	g.Expect(metered).NotTo(HaveKey("expireTime"))
	pkg := SimOrder{OrderID: "O3", ProductID: "P", SKUCode: "S", Customer: "c", ChargingMode: koogallery.ChargingOnDemandPackage,
		LinearValue: 2, ExpireTime: "20991231235959"}.registration()
	g.Expect(pkg).To(HaveKeyWithValue("chargingMode", koogallery.ChargingOnDemandPackage))
	g.Expect(pkg).To(HaveKeyWithValue("linearValue", 2))
	g.Expect(pkg).To(HaveKeyWithValue("expireTime", "20991231235959"))
	g.Expect(pkg).NotTo(HaveKey("periodType"))
}
