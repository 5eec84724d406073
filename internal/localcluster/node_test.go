package localcluster

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

// The lane's node: the netns script's defaults, the images make e2e-node
// builds, and a cgroup root of its own for each checkout.
func TestLaneNode(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("KOOPER_NODE_IP", "")
	t.Setenv("KOOPER_NODE_BRIDGE", "")
	t.Setenv("KOOPER_NODE_CONTAINERD", "")
	n := LaneNode("/work/a/bin/e2e-node/cluster", "/work/a/bin/e2e-node-images")
	g.Expect(n.IP).To(Equal("10.244.0.1"))
	g.Expect(n.Bridge).To(Equal("kooper0"))
	g.Expect(n.PauseImage).To(Equal("kooper.local/pause:e2e-node"))
	g.Expect(n.DebianContainerd).To(BeFalse())
	g.Expect(n.Images).To(Equal(map[string]string{
		"/work/a/bin/e2e-node-images/kooper.oci.tar":     "kooper.local/kooper:e2e-node",
		"/work/a/bin/e2e-node-images/sample-app.oci.tar": "kooper.local/sample-app:e2e-node",
		"/work/a/bin/e2e-node-images/pause.oci.tar":      "kooper.local/pause:e2e-node",
	}))
	other := LaneNode("/work/b/bin/e2e-node/cluster", "/work/b/bin/e2e-node-images")
	g.Expect(n.CgroupRoot).To(MatchRegexp(`^kooper-node-[0-9a-f]{8}$`))
	g.Expect(other.CgroupRoot).NotTo(Equal(n.CgroupRoot))

	t.Setenv("KOOPER_NODE_IP", "10.244.7.1")
	g.Expect(LaneNode("/x", "/y").IP).To(Equal("10.244.7.1"))
	g.Expect(podSubnet("10.244.7.1")).To(Equal("10.244.7.0/24"))
	t.Setenv("KOOPER_NODE_CONTAINERD", "debian")
	g.Expect(LaneNode("/x", "/y").DebianContainerd).To(BeTrue())
}

// killCgroup only ever walks a single path element under the hierarchies.
func TestKillCgroupRefusesPaths(t *testing.T) {
	g := NewWithT(t)
	for _, name := range []string{"", "/", "a/b", "..", ".hidden"} {
		g.Expect(killCgroup(name)).To(MatchError(ContainSubstring("invalid cgroup root")), name)
	}
}

// The API server's certificate names the kubernetes Service's ClusterIP and
// the node's address, which pods and the kubelet check it against.
func TestWriteServingCerts(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	caPEM, err := writeServingCerts(dir, "10.244.0.1", kubernetesServiceIP)
	g.Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(caPEM)).To(BeTrue())
	data, err := os.ReadFile(filepath.Join(dir, "apiserver.crt"))
	g.Expect(err).NotTo(HaveOccurred())
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	g.Expect(err).NotTo(HaveOccurred())
	for _, name := range []string{"127.0.0.1", "10.244.0.1", "10.96.0.1", "localhost", "kubernetes.default.svc"} {
		_, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		g.Expect(err).NotTo(HaveOccurred(), name)
	}
	g.Expect(cert.IPAddresses).To(ContainElement(net.ParseIP("10.96.0.1").To4()))
	for _, f := range []string{"apiserver.key", "sa-signer.crt", "sa-signer.key"} {
		g.Expect(filepath.Join(dir, f)).To(BeAnExistingFile())
	}
}

// A killed run's record of the machine's kernel tunables wins over what the
// machine has now (its kubelet's values), and is forgotten once restored.
func TestKernelTunablesRecordSurvivesAKilledRun(t *testing.T) {
	g := NewWithT(t)
	c := &Cluster{dir: filepath.Join(t.TempDir(), "cluster")}
	g.Expect(os.WriteFile(c.tunablesFile(), []byte(`{"kernel/panic":"1\n"}`), 0o600)).To(Succeed())
	g.Expect(c.saveKernelTunables()).To(Succeed())
	g.Expect(c.sysctls).To(Equal(map[string]string{"kernel/panic": "1\n"}))
	g.Expect((&Cluster{}).restoreKernelTunables()).To(Succeed(), "nothing recorded, nothing to do")
}

// fakeProcSys points procSys at a new directory for the test's length, and
// returns it.
func fakeProcSys(t *testing.T) string {
	t.Helper()
	sys, old := t.TempDir(), procSys
	procSys = sys
	t.Cleanup(func() { procSys = old })
	return sys
}

// A killed node's record of the machine's kernel tunables is what
// local-cluster down puts back; then the record goes.
func TestRestoreKernelTunables(t *testing.T) {
	g := NewWithT(t)
	sys := fakeProcSys(t)
	for k, v := range map[string]string{"vm/overcommit_memory": "1\n", "kernel/panic": "10\n", "kernel/panic_on_oops": "1\n"} {
		g.Expect(os.MkdirAll(filepath.Join(sys, filepath.Dir(k)), 0o755)).To(Succeed())
		g.Expect(os.WriteFile(filepath.Join(sys, k), []byte(v), 0o644)).To(Succeed())
	}
	record := filepath.Join(t.TempDir(), "cluster.kernel-tunables.json")
	g.Expect(os.WriteFile(record, []byte(`{"vm/overcommit_memory":"0\n","kernel/panic":"1\n","kernel/panic_on_oops":"1\n"}`), 0o600)).To(Succeed())

	changed, err := RestoreKernelTunables(record)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(Equal([]string{"kernel.panic=1", "vm.overcommit_memory=0"}))
	for k, v := range map[string]string{"vm/overcommit_memory": "0\n", "kernel/panic": "1\n", "kernel/panic_on_oops": "1\n"} {
		g.Expect(os.ReadFile(filepath.Join(sys, k))).To(BeEquivalentTo(v), k)
	}
	g.Expect(record).NotTo(BeAnExistingFile())

	// No record: nothing to put back.
	changed, err = RestoreKernelTunables(record)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeEmpty())
}

// NodeDown on a killed lane's directory (no process of it left here) puts the
// tunables back from the stack's cluster's record and drops the record of
// its network namespace, never killing the machine's own namespace.
func TestNodeDown(t *testing.T) {
	g := NewWithT(t)
	sys := fakeProcSys(t)
	g.Expect(os.MkdirAll(filepath.Join(sys, "kernel"), 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(sys, "kernel", "panic"), []byte("10\n"), 0o644)).To(Succeed())
	dir := filepath.Join(t.TempDir(), "e2e-node")
	g.Expect(os.MkdirAll(filepath.Join(dir, "cluster"), 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, "cluster.kernel-tunables.json"), []byte(`{"kernel/panic":"1\n"}`), 0o600)).To(Succeed())
	own, err := os.Readlink("/proc/self/ns/net")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "cluster.netns"), []byte(own+"\n"), 0o600)).To(Succeed())

	var logged []string
	g.Expect(NodeDown(dir, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })).To(Succeed())
	g.Expect(os.ReadFile(filepath.Join(sys, "kernel", "panic"))).To(BeEquivalentTo("1\n"))
	g.Expect(filepath.Join(dir, "cluster.kernel-tunables.json")).NotTo(BeAnExistingFile())
	g.Expect(filepath.Join(dir, "cluster.netns")).NotTo(BeAnExistingFile())
	g.Expect(logged).To(Equal([]string{"Put back the kernel tunables a killed node changed: kernel.panic=1"}))
}
