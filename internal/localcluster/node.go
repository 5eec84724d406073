package localcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// NodeOptions configure the one real node of a cluster (Options.Node):
// containerd 2 with Debian's runc and CNI plugins, kubelet, kube-proxy
// (iptables) and kube-router (firewall only: NetworkPolicy).
//
// The node changes its network namespace's iptables rules, ipsets, bridge
// and sysctls, so it must run in a network namespace of its own, never the
// machine's: hack/e2e-node/netns.sh makes one, with the bridge and IP below,
// and runs the lane inside it. Its cgroups are under /<CgroupRoot> in every
// cgroup v1 hierarchy, and everything else under the cluster's directory.
type NodeOptions struct {
	// Name is the node's name.
	Name string
	// IP is the node's address, on Bridge: the API server listens there,
	// and the pods reach it, and anything the caller serves there, through
	// the bridge.
	IP string
	// Bridge is the Linux bridge the pods attach to. It must exist, up,
	// with IP/24 on it (the first /24 of PodCIDR: IP is its gateway).
	Bridge string
	// CgroupRoot is the kubelet's cgroup root (a single path element).
	CgroupRoot string
	// Images are the OCI archives imported into containerd's k8s.io
	// namespace, each under the image name it maps to (name:tag).
	Images map[string]string
	// PauseImage is the pods' sandbox image: one of Images.
	PauseImage string
	// DebianContainerd runs Debian's containerd package (1.6, in /usr/bin)
	// instead of the containerd 2 hack/build-tools.sh builds. Kubelet 1.37
	// accepts it, logging that it lacks the RuntimeConfig call (so the
	// cgroup driver comes from the kubelet's configuration, as here).
	DebianContainerd bool
}

// NodeBinaries are the executables a real node runs, for KillLeftovers.
var NodeBinaries = []string{"containerd", "containerd-shim-runc-v2", "kubelet", "kube-proxy", "kube-router"}

// nodeTools are the real node's binaries.
type nodeTools struct {
	containerdDir, kubelet, kubeProxy, kubeRouter, runc, cniDir string
}

func findNodeTools(root string, debianContainerd bool) (nodeTools, error) {
	versions, err := readVersions(filepath.Join(root, "hack", "versions.env"))
	if err != nil {
		return nodeTools{}, err
	}
	bin := filepath.Join(root, "bin")
	node := filepath.Join(bin, "kubernetes-node-"+versions["KUBERNETES_VERSION"])
	t := nodeTools{
		containerdDir: filepath.Join(bin, "containerd-"+versions["CONTAINERD_VERSION"]),
		kubelet:       filepath.Join(node, "kubelet"),
		kubeProxy:     filepath.Join(node, "kube-proxy"),
		kubeRouter:    filepath.Join(bin, "kube-router-"+versions["KUBE_ROUTER_VERSION"], "kube-router"),
		runc:          "/usr/sbin/runc",
		cniDir:        "/usr/lib/cni",
	}
	if debianContainerd {
		t.containerdDir = "/usr/bin"
	}
	for _, p := range []string{
		filepath.Join(t.containerdDir, "containerd"), filepath.Join(t.containerdDir, "ctr"),
		filepath.Join(t.containerdDir, "containerd-shim-runc-v2"), t.kubelet, t.kubeProxy, t.kubeRouter,
	} {
		if _, err := os.Stat(p); err != nil {
			return nodeTools{}, fmt.Errorf("%s is missing: run 'hack/build-tools.sh kubernetes-node containerd kube-router' "+
				"(or, for Debian's containerd, hack/install-runtime.sh --node) first", p)
		}
	}
	for _, p := range []string{t.runc, filepath.Join(t.cniDir, "bridge"), filepath.Join(t.cniDir, "host-local"),
		filepath.Join(t.cniDir, "loopback"), filepath.Join(t.cniDir, "portmap")} {
		if _, err := os.Stat(p); err != nil {
			return nodeTools{}, fmt.Errorf("%s is missing: run hack/install-runtime.sh --node first", p)
		}
	}
	for _, cmd := range []string{"iptables", "ipset"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return nodeTools{}, fmt.Errorf("%s is missing: run hack/install-runtime.sh --node first", cmd)
		}
	}
	return t, nil
}

// prepareNode checks the node's tools and removes what a killed earlier run
// left: its processes (those still in its network namespace too), its pods'
// (by their cgroups), its shims' sockets and its log links. (Its mounts went with its mount namespace; the kernel
// tunables its kubelet changed are put back from its record of them when
// this node stops: saveKernelTunables.)
func (c *Cluster) prepareNode(root string) error {
	if _, err := findNodeTools(root, c.node.DebianContainerd); err != nil {
		return err
	}
	// Whatever still holds a killed run's network namespace.
	if _, err := killNetns(c.netnsFile()); err != nil {
		return err
	}
	if err := c.removeShimSockets(); err != nil {
		return err
	}
	if _, err := KillLeftovers(c.dir, NodeBinaries...); err != nil {
		return err
	}
	if err := c.removeLogLinks(); err != nil {
		return err
	}
	return killCgroup(c.node.CgroupRoot)
}

func (c *Cluster) nodeDir(parts ...string) string {
	return filepath.Join(append([]string{c.dir, "node"}, parts...)...)
}

// containerdSocket is containerd's gRPC socket (a socket path must stay
// under 108 bytes: the cluster's directory should be short).
func (c *Cluster) containerdSocket() string { return c.nodeDir("containerd.sock") }

// startNode starts containerd, imports the images, starts kubelet,
// kube-router and kube-proxy, and waits until the node is Ready,
// kube-router enforces NetworkPolicy and kube-proxy serves the API
// server's Service.
func (c *Cluster) startNode(ctx context.Context) error {
	root := filepath.Dir(filepath.Dir(c.Tools.EnvtestDir))
	tools, err := findNodeTools(root, c.node.DebianContainerd)
	if err != nil {
		return err
	}
	if err := c.saveNetns(); err != nil {
		return err
	}
	if err := makeCgroup(c.node.CgroupRoot); err != nil {
		return err
	}
	if err := c.startContainerd(ctx, tools); err != nil {
		return err
	}
	if err := c.importImages(ctx, tools); err != nil {
		return err
	}
	if err := c.startKubelet(tools); err != nil {
		return err
	}
	if err := c.waitForNode(ctx); err != nil {
		return err
	}
	if err := c.startKubeRouter(ctx, tools); err != nil {
		return err
	}
	// kube-proxy after kube-router's first rules: started beside it, its
	// first sync could fail while kube-router wrote its chains, and in
	// CI on 2026-12-06 it then did not sync again within two minutes.
	if err := c.startKubeProxy(tools); err != nil {
		return err
	}
	return c.waitForServiceProxy(ctx)
}

// waitForServiceProxy waits until kube-proxy has written the API server's
// Service: a pod started before then cannot reach the API server, and
// kooper's exit and restart for it would fail the tests that no kooper pod
// restarts. kube-proxy starts once kube-router has written its chains:
// a sync of kube-proxy's while kube-router writes them fails ("Chain
// 'KUBE-FORWARD' does not exist").
func (c *Cluster) waitForServiceProxy(ctx context.Context) error {
	return c.poll(ctx, "kube-proxy's rules for the API server's Service", func(ctx context.Context) (bool, error) {
		out, err := exec.CommandContext(ctx, "iptables", "-t", "nat", "-S", "KUBE-SERVICES").CombinedOutput()
		return err == nil && strings.Contains(string(out), "default/kubernetes:https cluster IP"), nil
	})
}

func (c *Cluster) startContainerd(ctx context.Context, t nodeTools) error {
	c.logf("Starting containerd")
	for _, d := range []string{"containerd/root", "containerd/state", "cni/net.d", "cni/ipam"} {
		if err := os.MkdirAll(c.nodeDir(d), 0o700); err != nil {
			return err
		}
	}
	config := fmt.Sprintf(`version = 3
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins]
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %q
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "overlayfs"
  # This machine's root lacks CAP_SYS_RESOURCE: no process may lower its
  # oom_score_adj, and runc fails the pause container's -998 ("failed to
  # update /proc/self/oom_score_adj: Permission denied"). Clamp to containerd's own.
  [plugins."io.containerd.cri.v1.runtime"]
    restrict_oom_score_adj = true
    # Pods' network namespaces pinned under the state directory, not the
    # machine's /var/run/netns.
    netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%q]
    conf_dir = %q
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
    BinaryName = %q
    Root = %q
    SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri"]
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`, c.nodeDir("containerd", "root"), c.nodeDir("containerd", "state"), c.containerdSocket(), c.nodeDir("containerd-ttrpc.sock"),
		c.node.PauseImage, t.cniDir, c.nodeDir("cni", "net.d"), t.runc, c.nodeDir("containerd", "runc"))
	if c.node.DebianContainerd {
		// containerd 1.6's configuration: version 2, the CRI plugin in one piece.
		config = fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    BinaryName = %q
    Root = %q
    SystemdCgroup = false
`, c.nodeDir("containerd", "root"), c.nodeDir("containerd", "state"), c.containerdSocket(), c.nodeDir("containerd-ttrpc.sock"),
			c.node.PauseImage, t.cniDir, c.nodeDir("cni", "net.d"), t.runc, c.nodeDir("containerd", "runc"))
	}
	configPath := c.nodeDir("containerd.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return err
	}
	cni, err := json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0", "name": "kooper-node",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": c.node.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podSubnet(c.node.IP), "gateway": c.node.IP}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": c.nodeDir("cni", "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.nodeDir("cni", "net.d", "10-kooper-node.conflist"), cni, 0o644); err != nil {
		return err
	}
	// The runc shim is found on PATH.
	p, err := StartProcess("containerd", c.LogDir, filepath.Join(t.containerdDir, "containerd"),
		[]string{"--config", configPath}, "PATH="+t.containerdDir+":"+os.Getenv("PATH"))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return c.poll(ctx, "containerd", func(ctx context.Context) (bool, error) {
		if err := c.CheckComponents(); err != nil {
			return false, err
		}
		_, err := c.ctr(ctx, t, "version")
		return err == nil, nil
	})
}

// podSubnet is the /24 of ip.
func podSubnet(ip string) string {
	i := strings.LastIndex(ip, ".")
	return ip[:i] + ".0/24"
}

// ctr runs containerd's ctr in the k8s.io namespace.
func (c *Cluster) ctr(ctx context.Context, t nodeTools, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(t.containerdDir, "ctr"),
		append([]string{"--address", c.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// importImages imports each OCI archive under its image name, unpacked for
// this machine's platform.
func (c *Cluster) importImages(ctx context.Context, t nodeTools) error {
	for archive, name := range c.node.Images {
		c.logf("Importing %s as %s", filepath.Base(archive), name)
		// An OCI archive's ref name is only a tag (the images' version):
		// --base-name puts the repository before it, and imports nothing else.
		repository, tag, _ := strings.Cut(name, ":")
		if _, err := c.ctr(ctx, t, "images", "import", "--base-name", repository, "--platform", "linux/amd64", archive); err != nil {
			return err
		}
		out, err := c.ctr(ctx, t, "images", "ls", "--quiet")
		if err != nil {
			return err
		}
		if !slices.Contains(strings.Fields(out), name) {
			return fmt.Errorf("%s holds no image tagged %s (it has: %s): build it with -version %s (make e2e-node)",
				archive, tag, strings.Join(strings.Fields(out), " "), tag)
		}
	}
	return nil
}

// kernelTunables are the machine-wide sysctls the kubelet sets when it starts
// (its container manager's kernel defaults): the node puts them back when it stops.
var kernelTunables = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// tunablesFile keeps the machine's kernelTunables from before the kubelet
// changed them, beside the cluster's directory (which each start empties),
// so that a run killed before it put them back is followed by one that does.
func (c *Cluster) tunablesFile() string { return c.dir + ".kernel-tunables.json" }

// saveKernelTunables records kernelTunables' values, unless a killed run's
// record of them is still there: those are the machine's own.
func (c *Cluster) saveKernelTunables() error {
	if data, err := os.ReadFile(c.tunablesFile()); err == nil {
		if err := json.Unmarshal(data, &c.sysctls); err == nil {
			return nil
		}
	}
	c.sysctls = map[string]string{}
	for _, k := range kernelTunables {
		if v, err := os.ReadFile(filepath.Join(procSys, k)); err == nil {
			c.sysctls[k] = string(v)
		}
	}
	data, err := json.Marshal(c.sysctls)
	if err != nil {
		return err
	}
	return os.WriteFile(c.tunablesFile(), data, 0o600)
}

// procSys is where the kernel's tunables are read and written (a test's
// directory in tests).
var procSys = "/proc/sys"

// restoreKernelTunables writes back the values saveKernelTunables read, and
// forgets them once they are back.
func (c *Cluster) restoreKernelTunables() error {
	if c.sysctls == nil {
		return nil
	}
	if err := writeTunables(c.sysctls); err != nil {
		return err
	}
	c.sysctls = nil
	return os.Remove(c.tunablesFile())
}

// writeTunables writes each tunable's value unless it has it already.
func writeTunables(values map[string]string) error {
	var errs []error
	for k, v := range values {
		if now, err := os.ReadFile(filepath.Join(procSys, k)); err == nil && string(now) == v {
			continue
		}
		if err := os.WriteFile(filepath.Join(procSys, k), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("failed to restore sysctl %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// RestoreKernelTunables puts back the kernel tunables a node's record file
// (a killed run's: saveKernelTunables) holds, and removes the file once they
// are back. It returns the tunables it changed; no file, nothing to do.
func RestoreKernelTunables(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	if err := json.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var changed []string
	for k, v := range values {
		if now, err := os.ReadFile(filepath.Join(procSys, k)); err != nil || string(now) != v {
			changed = append(changed, strings.ReplaceAll(k, "/", ".")+"="+strings.TrimSpace(v))
		}
	}
	slices.Sort(changed)
	if err := writeTunables(values); err != nil {
		return nil, err
	}
	return changed, os.Remove(file)
}

func (c *Cluster) startKubelet(t nodeTools) error {
	c.logf("Starting kubelet")
	if err := c.saveKernelTunables(); err != nil {
		return err
	}
	kc, err := c.writeNodeKubeconfig("kubelet.kubeconfig", "system:node:"+c.node.Name, "system:nodes")
	if err != nil {
		return err
	}
	config := map[string]any{
		"apiVersion":               "kubelet.config.k8s.io/v1beta1",
		"kind":                     "KubeletConfiguration",
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               "/" + c.node.CgroupRoot,
		"failCgroupV1":             false,
		"containerRuntimeEndpoint": "unix://" + c.containerdSocket(),
		"address":                  c.node.IP,
		"port":                     10250,
		"readOnlyPort":             0,
		"healthzBindAddress":       "127.0.0.1",
		"authentication": map[string]any{
			"anonymous": map[string]bool{"enabled": true},
			"webhook":   map[string]bool{"enabled": false},
		},
		"authorization":       map[string]string{"mode": "AlwaysAllow"},
		"failSwapOn":          false,
		"podLogsDir":          c.nodeDir("pod-logs"),
		"resolvConf":          "/etc/resolv.conf",
		"serializeImagePulls": false,
		// The machine's disk is shared: never evict or collect this lane's images.
		"evictionHard":                map[string]string{"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"podPidsLimit":                4096,
		// Not -999: root lacks CAP_SYS_RESOURCE here (see containerd's restrict_oom_score_adj).
		"oomScoreAdj":               0,
		"maxPods":                   60,
		"syncFrequency":             "10s",
		"fileCheckFrequency":        "10s",
		"nodeStatusUpdateFrequency": "5s",
	}
	data, err := json.Marshal(config)
	if err != nil {
		return err
	}
	configPath := c.nodeDir("kubelet-config.json")
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		return err
	}
	p, err := StartProcess("kubelet", c.LogDir, t.kubelet, []string{
		"--config=" + configPath, "--kubeconfig=" + kc,
		"--root-dir=" + c.nodeDir("kubelet"), "--cert-dir=" + c.nodeDir("kubelet-pki"),
		"--hostname-override=" + c.node.Name, "--node-ip=" + c.node.IP, "--v=2",
	}, "PATH="+t.containerdDir+":"+os.Getenv("PATH"))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

func (c *Cluster) startKubeProxy(t nodeTools) error {
	c.logf("Starting kube-proxy")
	kc, err := c.writeNodeKubeconfig("kube-proxy.kubeconfig", "system:kube-proxy", "system:node-proxier")
	if err != nil {
		return err
	}
	p, err := StartProcess("kube-proxy", c.LogDir, t.kubeProxy, []string{
		"--kubeconfig=" + kc, "--hostname-override=" + c.node.Name, "--proxy-mode=iptables",
		"--cluster-cidr=" + PodCIDR,
		// A network namespace's conntrack table size is not its own to set.
		"--conntrack-max-per-core=0", "--oom-score-adj=0",
		"--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=127.0.0.1:10249",
	})
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// startKubeRouter starts kube-router as NetworkPolicy engine only and waits
// until it has written its first rules.
func (c *Cluster) startKubeRouter(ctx context.Context, t nodeTools) error {
	c.logf("Starting kube-router (firewall only)")
	kc, err := c.writeNodeKubeconfig("kube-router.kubeconfig", "kube-router", "system:masters")
	if err != nil {
		return err
	}
	p, err := StartProcess("kube-router", c.LogDir, t.kubeRouter, []string{
		"--kubeconfig=" + kc, "--hostname-override=" + c.node.Name,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
		"--enable-ipv4=true", "--enable-ipv6=false",
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--metrics-port=0", "--health-port=20244", "--v=2",
	})
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return c.poll(ctx, "kube-router's NetworkPolicy chains", func(ctx context.Context) (bool, error) {
		if err := c.CheckComponents(); err != nil {
			return false, err
		}
		out, err := exec.CommandContext(ctx, "iptables", "-S", "KUBE-ROUTER-FORWARD").CombinedOutput()
		return err == nil && strings.Contains(string(out), "KUBE-ROUTER-FORWARD"), nil
	})
}

// writeNodeKubeconfig writes a kubeconfig for a node component, in
// system:masters as the other components are (writeKubeconfig).
func (c *Cluster) writeNodeKubeconfig(file, user string, groups ...string) (string, error) {
	u, err := c.env.AddUser(envtest.User{Name: user, Groups: append(groups, "system:masters")}, nil)
	if err != nil {
		return "", fmt.Errorf("failed to create user %s: %w", user, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, file)
	return path, os.WriteFile(path, data, 0o600)
}

// waitForNode waits until the kubelet's node is Ready and schedulable.
func (c *Cluster) waitForNode(ctx context.Context) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.poll(ctx, "the node to be Ready", func(ctx context.Context) (bool, error) {
		if err := c.CheckComponents(); err != nil {
			return false, err
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, c.node.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return schedulable(node) && node.Spec.PodCIDR != "", nil
	})
}

// stopNode kills the node's pods (every process in its cgroups) and the
// containerd shims, once containerd and the kubelet are stopped.
func (c *Cluster) stopNode() error {
	if c.node == nil {
		return nil
	}
	errs := []error{killCgroup(c.node.CgroupRoot), c.restoreKernelTunables(), c.removeShimSockets()}
	if _, err := KillLeftovers(c.dir, NodeBinaries...); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(c.netnsFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, c.removeLogLinks())...)
}

// shimSocketDir is where containerd's shims listen, whatever containerd's
// configuration (defaults.DefaultStateDir + "/s").
const shimSocketDir = "/run/containerd/s"

// removeShimSockets kills the containerd shims of this node and removes the
// sockets a killed shim leaves in shimSocketDir: each one's name is the
// SHA-256 of <containerd's address>/<namespace>/<id> (containerd's
// pkg/shim.SocketAddress), from the shim's own flags.
func (c *Cluster) removeShimSockets() error {
	pids, err := findProcesses(c.dir, "containerd-shim-runc-v2")
	if err != nil {
		return err
	}
	var errs []error
	for _, pid := range pids {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		flags := map[string]string{}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if strings.HasPrefix(args[i], "-") {
				flags[strings.TrimLeft(args[i], "-")] = args[i+1]
			}
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		path := filepath.Join(flags["address"], flags["namespace"], flags["id"])
		for _, p := range []string{path, filepath.Join(path, "debug")} {
			socket := filepath.Join(shimSocketDir, fmt.Sprintf("%x", sha256.Sum256([]byte(p))))
			if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	// Its directory and /run/containerd, if this node made them and nothing else uses them.
	_ = os.Remove(shimSocketDir)
	_ = os.Remove(filepath.Dir(shimSocketDir))
	return errors.Join(errs...)
}

// containerLogLinks is where the kubelet links each container's log, whatever
// its configuration.
const containerLogLinks = "/var/log/containers"

// removeLogLinks removes the kubelet's links to this node's pod logs.
func (c *Cluster) removeLogLinks() error {
	entries, err := os.ReadDir(containerLogLinks)
	if err != nil {
		return nil //nolint:nilerr // no links at all
	}
	var errs []error
	for _, e := range entries {
		link := filepath.Join(containerLogLinks, e.Name())
		if target, err := os.Readlink(link); err == nil && strings.HasPrefix(target, c.nodeDir("pod-logs")+string(filepath.Separator)) {
			if err := os.Remove(link); err != nil {
				errs = append(errs, err)
			}
		}
	}
	_ = os.Remove(containerLogLinks) // if this node made it and it is empty now
	return errors.Join(errs...)
}

// cgroupHierarchies are the cgroup v1 hierarchies mounted under /sys/fs/cgroup.
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		d := filepath.Join("/sys/fs/cgroup", e.Name())
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}

// makeCgroup creates /name in every hierarchy (the kubelet wants its
// cgroup root to exist), with the parent's CPUs and memory nodes in cpuset.
func makeCgroup(name string) error {
	dirs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				if err := os.WriteFile(filepath.Join(p, f), v, 0o644); err != nil {
					return fmt.Errorf("failed to set %s of %s: %w", f, p, err)
				}
			}
		}
	}
	return nil
}

// killCgroup kills every process in /name and below, in every hierarchy,
// and removes those cgroups.
func killCgroup(name string) error {
	if name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid cgroup root %q", name)
	}
	dirs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for range 20 {
		left := 0
		for _, d := range dirs {
			_ = filepath.WalkDir(filepath.Join(d, name), func(path string, e os.DirEntry, err error) error {
				if err != nil || !e.IsDir() {
					return nil
				}
				data, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
				for _, f := range strings.Fields(string(data)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
						left++
					}
				}
				return nil
			})
		}
		if left == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	var errs []error
	for _, d := range dirs {
		root := filepath.Join(d, name)
		var paths []string
		_ = filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				paths = append(paths, path)
			}
			return nil
		})
		for i := len(paths) - 1; i >= 0; i-- {
			if err := os.Remove(paths[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// NodeImageTag tags the images a lane node imports: kooper.local/NAME:e2e-node.
const NodeImageTag = "e2e-node"

// NodeImage is the name a lane node gives the image of archive NAME.oci.tar.
func NodeImage(name string) string { return "kooper.local/" + name + ":" + NodeImageTag }

// LaneNode returns the real-node lane's node for the cluster directory dir
// (make e2e-node): its bridge and address as hack/e2e-node/netns.sh made
// them (KOOPER_NODE_BRIDGE, KOOPER_NODE_IP), Debian's containerd when
// KOOPER_NODE_CONTAINERD is "debian" (make e2e-node E2E_NODE_CONTAINERD=debian),
// a cgroup root of its own for
// dir, and the images kooper, sample-app and pause of imagesDir (make
// e2e-node builds them in bin/e2e-node-images, tagged NodeImageTag).
func LaneNode(dir, imagesDir string) *NodeOptions {
	ip, bridge := os.Getenv("KOOPER_NODE_IP"), os.Getenv("KOOPER_NODE_BRIDGE")
	if ip == "" {
		ip = "10.244.0.1"
	}
	if bridge == "" {
		bridge = "kooper0"
	}
	sum := sha256.Sum256([]byte(dir))
	images := map[string]string{}
	for _, name := range []string{"kooper", "sample-app", "pause"} {
		images[filepath.Join(imagesDir, name+".oci.tar")] = NodeImage(name)
	}
	return &NodeOptions{
		Name: "kooper-node", IP: ip, Bridge: bridge, CgroupRoot: "kooper-node-" + hex.EncodeToString(sum[:4]),
		Images: images, PauseImage: NodeImage("pause"),
		DebianContainerd: os.Getenv("KOOPER_NODE_CONTAINERD") == "debian",
	}
}
