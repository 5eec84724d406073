package localcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestKillLeftoversKillsOnlyTheNamedBinariesOfTheDirectory(t *testing.T) {
	g := NewWithT(t)
	dir, otherDir := t.TempDir(), t.TempDir()
	leftover := startCopyOfSleep(t, dir, "fake-etcd")
	elsewhere := startCopyOfSleep(t, otherDir, "fake-etcd")
	otherBinary := startCopyOfSleep(t, dir, "not-ours")

	killed, err := KillLeftovers(dir, "fake-etcd")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(killed).To(Equal(1))
	g.Eventually(leftover.Exited()).Should(BeClosed())
	g.Consistently(elsewhere.Exited(), 300*time.Millisecond).ShouldNot(BeClosed())
	g.Expect(otherBinary.Exited()).NotTo(BeClosed())
}

func TestProcessLogsAndStops(t *testing.T) {
	g := NewWithT(t)
	logs := t.TempDir()
	p, err := StartProcess("echoer", logs, "sh", []string{"-c", "echo started; exec sleep 60"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() (string, error) {
		data, err := os.ReadFile(filepath.Join(logs, "echoer.log"))
		return string(data), err
	}).Should(Equal("started\n"))
	g.Expect(p.Stop(5 * time.Second)).To(Succeed())
	g.Expect(p.Exited()).To(BeClosed())
	g.Expect(p.ExitError().Error()).To(ContainSubstring("echoer exited"))
}

func TestProcessKillEndsAProcessThatIgnoresSIGTERM(t *testing.T) {
	g := NewWithT(t)
	p, err := StartProcess("stubborn", t.TempDir(), "sh", []string{"-c", "trap '' TERM; echo trapped; while :; do sleep 1; done"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() (string, error) {
		data, err := os.ReadFile(p.LogPath)
		return string(data), err
	}).Should(Equal("trapped\n"))
	g.Expect(p.Kill()).To(Succeed())
	g.Expect(p.Exited()).To(BeClosed())
	g.Expect(p.Kill()).To(MatchError(ContainSubstring("already exited")))
}

func TestReadVersions(t *testing.T) {
	g := NewWithT(t)
	path := filepath.Join(t.TempDir(), "versions.env")
	g.Expect(os.WriteFile(path, []byte("# comment\nKWOK_VERSION=v0.8.0\n\nHELM_VERSION=v3.22.0\n"), 0o644)).To(Succeed())
	versions, err := readVersions(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(versions).To(Equal(map[string]string{"KWOK_VERSION": "v0.8.0", "HELM_VERSION": "v3.22.0"}))
}

func TestFindToolsNamesTheMissingTool(t *testing.T) {
	g := NewWithT(t)
	root := t.TempDir()
	g.Expect(os.MkdirAll(filepath.Join(root, "hack"), 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(root, "hack", "versions.env"), []byte("KUBERNETES_VERSION=v1.37.2\n"), 0o644)).To(Succeed())
	_, err := FindTools(root)
	g.Expect(err).To(MatchError(ContainSubstring("kube-apiserver is missing: run 'make tools'")))
}

// startCopyOfSleep runs a copy of sleep named name from dir: its command
// line names dir, as every component's names the state directory.
func startCopyOfSleep(t *testing.T, dir, name string) *Process {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(dir, name)
	if err := os.WriteFile(binary, data, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := StartProcess(name, filepath.Join(dir, "logs"), binary, []string{"60"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(time.Second) })
	return p
}

func TestFeatureGatesFlagIsSortedAndEmptyWithoutGates(t *testing.T) {
	g := NewWithT(t)
	g.Expect(featureGatesFlag(nil)).To(BeEmpty())
	g.Expect(featureGatesFlag(map[string]bool{"ZGate": true, "DetectCacheInconsistency": false})).
		To(Equal("DetectCacheInconsistency=false,ZGate=true"))
}

func TestComponentPIDIsZeroOnceTheComponentExited(t *testing.T) {
	g := NewWithT(t)
	p, err := StartProcess("kwok", t.TempDir(), "/bin/sh", []string{"-c", "sleep 30"})
	g.Expect(err).NotTo(HaveOccurred())
	c := &Cluster{procs: []*Process{p}}
	g.Expect(c.ComponentPID("kwok")).To(Equal(p.PID()))
	g.Expect(c.ComponentPID("kube-scheduler")).To(BeZero())
	g.Expect(p.Kill()).To(Succeed())
	g.Eventually(func() int { return c.ComponentPID("kwok") }).Should(BeZero())
}
