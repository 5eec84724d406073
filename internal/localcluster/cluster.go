// Package localcluster runs a small but real Kubernetes cluster on loopback:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
// with a few fake kwok nodes, from the binaries hack/build-tools.sh builds.
// Deployments become Available, namespaces finish deleting and PVCs bind,
// as on a real cluster, without running a container. The demo and the
// end-to-end test run on it.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kooper-io/kooper/internal/procstat"
)

// The cluster's address ranges: the Services' ClusterIPs and the pods' (kwok's
// fake pod IPs, or the real node's, which gets the first /24).
const (
	ServiceCIDR = "10.96.0.0/16"
	// kubernetesServiceIP is the kubernetes Service's ClusterIP (ServiceCIDR's first).
	kubernetesServiceIP = "10.96.0.1"
	PodCIDR             = "10.244.0.0/16"
)

// Binaries names every executable the cluster starts, for KillLeftovers.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// Options configure a local cluster.
type Options struct {
	// Root is the repository root: tools come from Root/bin.
	Root string
	// Dir holds the cluster's state: kubeconfigs, logs, etcd data and
	// certificates. It is emptied when the cluster starts.
	Dir string
	// Nodes is the number of kwok nodes (default 3).
	Nodes int
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
	// ComponentQPS, when set, is the client QPS of kube-controller-manager
	// and kube-scheduler (burst twice it). Their defaults (20 and 50) cap
	// how fast Deployments become Available, whoever creates them; the
	// benchmark raises them to measure the API server instead.
	ComponentQPS int
	// ReadyAgain makes kwok set a Running pod Ready again after the node
	// lifecycle controller marked it not Ready (its node's heartbeat was
	// late, e.g. during an API server outage), as a real kubelet's next
	// status sync does; kwok's own stages only ready Pending pods. The
	// chaos suite sets it.
	ReadyAgain bool
	// Node, when set, runs the cluster on one real node (node.go:
	// containerd, kubelet, kube-proxy and kube-router) instead of kwok's
	// fake ones; Nodes and ReadyAgain are then ignored.
	Node *NodeOptions
	// APIServerFeatureGates are kube-apiserver's --feature-gates, by gate
	// name; nil leaves every gate at its default. The benchmark turns off
	// DetectCacheInconsistency (docs/benchmarks.md says why).
	APIServerFeatureGates map[string]bool
}

// featureGatesFlag is gates as a --feature-gates value, sorted by name
// ("A=true,B=false"); "" for none.
func featureGatesFlag(gates map[string]bool) string {
	names := slices.Sorted(maps.Keys(gates))
	pairs := make([]string, len(names))
	for i, name := range names {
		pairs[i] = fmt.Sprintf("%s=%t", name, gates[name])
	}
	return strings.Join(pairs, ",")
}

// Cluster is a running local cluster.
type Cluster struct {
	// Kubeconfig is the path of an administrator's kubeconfig.
	Kubeconfig string
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Tools are the binaries the cluster runs, with kubectl and Helm.
	Tools Tools
	// LogDir holds one log file per component.
	LogDir string

	dir string
	env *envtest.Environment
	// apiServerFeatureGates is Options.APIServerFeatureGates.
	apiServerFeatureGates map[string]bool
	procs                 []*Process
	logf                  func(format string, args ...any)
	// node is Options.Node, when the cluster runs on a real node.
	node *NodeOptions
	// sysctls are the machine's kernel tunables before the kubelet started.
	sysctls map[string]string
}

// Start starts every component and waits until the nodes are Ready. On
// failure it stops whatever it started.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	tools, err := FindTools(o.Root)
	if err != nil {
		return nil, err
	}
	c = &Cluster{Tools: tools, dir: o.Dir, LogDir: filepath.Join(o.Dir, "logs"), logf: o.Logf, node: o.Node,
		apiServerFeatureGates: o.APIServerFeatureGates}
	if c.node != nil {
		// First the node's leftovers, whose files are under the directory.
		if err := c.prepareNode(o.Root); err != nil {
			return nil, err
		}
	}
	if err := resetDir(o.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if err := c.startControlPlane(); err != nil {
		return c, err
	}
	if err := c.startComponents(tools, o.ComponentQPS, o.ReadyAgain); err != nil {
		return c, err
	}
	if err := c.waitForControllers(ctx); err != nil {
		return c, err
	}
	if c.node != nil {
		return c, c.startNode(ctx)
	}
	return c, c.addNodes(ctx, o.Nodes)
}

// resetDir kills what a killed earlier run left behind and empties dir.
func resetDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("the cluster directory must be an absolute path, got %q", dir)
	}
	if _, err := KillLeftovers(dir, Binaries...); err != nil {
		return fmt.Errorf("failed to stop the processes of an earlier run: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
}

// startControlPlane starts etcd and kube-apiserver through envtest's
// launcher, which also makes the certificates, and writes the kubeconfigs.
func (c *Cluster) startControlPlane() error {
	c.logf("Starting etcd and kube-apiserver")
	etcdLog, err := os.Create(filepath.Join(c.LogDir, "etcd.log"))
	if err != nil {
		return err
	}
	apiLog, err := os.Create(filepath.Join(c.LogDir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    c.Tools.EnvtestDir,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  controlPlaneStopTimeout,
	}
	c.env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(c.dir, "etcd"), Out: etcdLog, Err: etcdLog}
	api := c.env.ControlPlane.GetAPIServer()
	api.CertDir = filepath.Join(c.dir, "apiserver")
	api.Out, api.Err = apiLog, apiLog
	api.Configure().
		// envtest turns the ServiceAccount admission plugin off; a real
		// cluster has it, and it rejects pods whose ServiceAccount is missing.
		Set("disable-admission-plugins", "").
		Set("service-cluster-ip-range", ServiceCIDR)
	if gates := featureGatesFlag(c.apiServerFeatureGates); gates != "" {
		api.Configure().Set("feature-gates", gates)
	}
	if c.node != nil {
		// Pods reach the API server through the kubernetes Service, whose
		// endpoint is the advertised address: the node's, not loopback. In
		// the lane's own network namespace, a fixed port is free.
		api.SecureServing.ListenAddr.Address, api.SecureServing.ListenAddr.Port = c.node.IP, "6443"
		if err := os.MkdirAll(api.CertDir, 0o700); err != nil {
			return err
		}
		ca, err := writeServingCerts(api.CertDir, c.node.IP, kubernetesServiceIP)
		if err != nil {
			return err
		}
		api.SecureServing.CA = ca
		api.Configure().Set("advertise-address", c.node.IP).
			// The node's name resolves nowhere: exec and logs go to its address.
			Set("kubelet-preferred-address-types", "InternalIP")
	}
	for _, d := range []string{api.CertDir, c.env.ControlPlane.Etcd.DataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if _, err := c.env.Start(); err != nil {
		return fmt.Errorf("failed to start etcd and kube-apiserver (logs in %s): %w", c.LogDir, err)
	}
	admin, err := c.writeKubeconfig("kubeconfig", "kooper-admin")
	if err != nil {
		return err
	}
	c.Kubeconfig, c.Config = admin.path, admin.config
	return nil
}

type kubeconfig struct {
	path   string
	config *rest.Config
}

// writeKubeconfig writes a kubeconfig for a member of system:masters. The
// controller-manager and scheduler use one too: their own narrower
// identities would need the client certificates a real installer makes,
// and what kooper is tested for is its own RBAC, not theirs.
func (c *Cluster) writeKubeconfig(file, user string) (kubeconfig, error) {
	u, err := c.env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return kubeconfig{}, fmt.Errorf("failed to create user %s: %w", user, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return kubeconfig{}, err
	}
	path := filepath.Join(c.dir, file)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return kubeconfig{}, err
	}
	return kubeconfig{path: path, config: u.Config()}, nil
}

// startComponents starts the controller-manager, the scheduler and kwok.
func (c *Cluster) startComponents(tools Tools, qps int, readyAgain bool) error {
	kcm, err := c.writeKubeconfig("kube-controller-manager.kubeconfig", "kube-controller-manager")
	if err != nil {
		return err
	}
	scheduler, err := c.writeKubeconfig("kube-scheduler.kubeconfig", "kube-scheduler")
	if err != nil {
		return err
	}
	kcmArgs := []string{
		"--kubeconfig=" + kcm.path, "--leader-elect=false", "--secure-port=0",
		// All default controllers, node lifecycle among them: without it
		// kwok's nodes keep their not-ready taint and nothing schedules.
		"--controllers=*",
		"--service-account-private-key-file=" + filepath.Join(c.dir, "apiserver", "sa-signer.key"),
	}
	if c.node != nil {
		// The real node gets its pod range from the controller-manager,
		// as kube-router reads it there.
		kcmArgs = append(kcmArgs, "--allocate-node-cidrs", "--cluster-cidr="+PodCIDR, "--node-cidr-mask-size=24",
			"--service-cluster-ip-range="+ServiceCIDR)
		return c.startProcesses(qps, []component{
			{"kube-controller-manager", tools.KubeControllerManager, kcmArgs},
			{"kube-scheduler", tools.KubeScheduler, []string{"--kubeconfig=" + scheduler.path, "--leader-elect=false", "--secure-port=0"}},
		})
	}
	stages, err := writeStages(c.dir, tools.KwokVersion, readyAgain)
	if err != nil {
		return err
	}
	kwok, err := c.writeKubeconfig("kwok.kubeconfig", "kwok")
	if err != nil {
		return err
	}
	c.logf("Starting kube-controller-manager, kube-scheduler and kwok")
	return c.startProcesses(qps, []component{
		{"kube-controller-manager", tools.KubeControllerManager, kcmArgs},
		{"kube-scheduler", tools.KubeScheduler, []string{
			"--kubeconfig=" + scheduler.path, "--leader-elect=false", "--secure-port=0",
		}},
		{"kwok", tools.Kwok, append([]string{
			"--kubeconfig=" + kwok.path,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
			"--cidr=" + PodCIDR, "--node-ip=127.0.0.1",
		}, configFlags(stages)...)},
	})
}

// component is a process of the cluster: its name (and log file's), binary and arguments.
type component struct {
	name, binary string
	args         []string
}

// startProcesses starts components; qps, when set, is the client QPS of
// all but kwok.
func (c *Cluster) startProcesses(qps int, components []component) error {
	for _, comp := range components {
		if qps > 0 && comp.name != "kwok" {
			comp.args = append(comp.args, fmt.Sprintf("--kube-api-qps=%d", qps), fmt.Sprintf("--kube-api-burst=%d", 2*qps))
		}
		p, err := StartProcess(comp.name, c.LogDir, comp.binary, comp.args)
		if err != nil {
			return err
		}
		c.procs = append(c.procs, p)
	}
	return nil
}

func configFlags(files []string) []string {
	flags := make([]string, 0, len(files))
	for _, f := range files {
		flags = append(flags, "--config="+f)
	}
	return flags
}

// Clientset returns an administrator's clientset.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.Config)
}

// CheckComponents returns an error naming the first component that exited.
func (c *Cluster) CheckComponents() error {
	for _, p := range c.procs {
		select {
		case <-p.Exited():
			return p.ExitError()
		default:
		}
	}
	return nil
}

// AnyExited returns a channel closed when any component ends.
func (c *Cluster) AnyExited() <-chan struct{} {
	ended := make(chan struct{})
	var once sync.Once
	for _, p := range c.procs {
		go func() {
			<-p.Exited()
			once.Do(func() { close(ended) })
		}()
	}
	return ended
}

// ControlPlanePIDs are the process IDs of kube-apiserver and etcd, for
// reading their CPU time from /proc (hack/bench). It fails when either is
// not running.
func (c *Cluster) ControlPlanePIDs() (apiServer, etcd int, err error) {
	api := c.env.ControlPlane.APIServer
	if api == nil || api.SecureServing.ListenAddr.Port == "" {
		return 0, 0, fmt.Errorf("kube-apiserver is not started")
	}
	if apiServer, err = procstat.FindPID("kube-apiserver", "--secure-port="+api.SecureServing.ListenAddr.Port); err != nil {
		return 0, 0, err
	}
	etcd, err = procstat.FindPID("etcd", "--data-dir="+c.env.ControlPlane.Etcd.DataDir)
	return apiServer, etcd, err
}

// ComponentPID is the process ID of the running component the cluster
// started by name (kube-controller-manager, kube-scheduler, kwok), or 0
// when none of that name runs.
func (c *Cluster) ComponentPID(name string) int {
	for _, p := range c.procs {
		if p.Name != name {
			continue
		}
		select {
		case <-p.Exited():
		default:
			return p.PID()
		}
	}
	return 0
}

// StopAPIServer stops kube-apiserver (SIGTERM, as envtest stops it) and
// leaves etcd and every other component running: clients see connections
// refused until StartAPIServer.
func (c *Cluster) StopAPIServer() error {
	if c.env == nil {
		return fmt.Errorf("the cluster is not running")
	}
	c.logf("Stopping kube-apiserver")
	return c.env.ControlPlane.APIServer.Stop()
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the
// same port with the same certificates and users, so every kubeconfig
// still works, and returns once it answers /healthz.
func (c *Cluster) StartAPIServer() error {
	if c.env == nil {
		return fmt.Errorf("the cluster is not running")
	}
	c.logf("Starting kube-apiserver again")
	return c.env.ControlPlane.APIServer.Start()
}

// RestartComponents stops the named components (kube-controller-manager,
// kube-scheduler, kwok) and starts them again with the same arguments,
// keeping the stopped run's log as <log>.previous. On a real control plane
// kube-controller-manager and kube-scheduler run leader-elected and exit
// when an API server outage outlasts their renew deadline, and the kubelet
// restarts them; here they run without leader election, and this does it.
func (c *Cluster) RestartComponents(names ...string) error {
	for i, p := range c.procs {
		if !slices.Contains(names, p.Name) {
			continue
		}
		c.logf("Restarting %s", p.Name)
		if err := p.Stop(10 * time.Second); err != nil {
			return err
		}
		_ = os.Rename(p.LogPath, p.LogPath+".previous")
		np, err := StartProcess(p.Name, c.LogDir, p.cmd.Path, p.cmd.Args[1:])
		if err != nil {
			return err
		}
		c.procs[i] = np
	}
	return nil
}

// Stop stops every component, the last started first.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].Stop(10*time.Second))
	}
	c.procs = nil
	errs = append(errs, c.stopNode())
	if c.env != nil {
		c.logf("Stopping kube-apiserver and etcd")
		errs = append(errs, killedIsStopped(c.env.Stop(), c.logf))
		c.env = nil
	}
	return errors.Join(errs...)
}

// controlPlaneStopTimeout is how long envtest waits for kube-apiserver and
// etcd to stop after SIGTERM before it kills them.
const controlPlaneStopTimeout = 10 * time.Second

// killedIsStopped takes out of err, envtest's stop of the control plane,
// each process envtest killed because it had not stopped within
// ControlPlaneStopTimeout of SIGTERM, and logs it: a kube-apiserver
// draining many watches (a demo after a burst of purchases) can take
// longer, and a local cluster is thrown away whole, so a kill is a stop,
// not a failure of make demo. A process envtest could not kill stays an
// error, as does any other.
func killedIsStopped(err error, logf func(string, ...any)) error {
	return kerrors.FilterOut(err, func(e error) bool {
		name, timedOut := strings.CutPrefix(e.Error(), "timeout waiting for process ")
		name, stopping := strings.CutSuffix(name, " to stop")
		if !timedOut || !stopping || strings.Contains(name, "\n") {
			return false
		}
		logf("%s had not stopped %s after SIGTERM: killed", name, controlPlaneStopTimeout)
		return true
	})
}
