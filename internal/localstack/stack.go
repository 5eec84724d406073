// Package localstack runs kooper the way a merchant does, on the local
// cluster: the Helm chart installed with Helm, its two components (the
// receiver and the controllers) each running as its own ServiceAccount,
// and the marketplace simulator in KooGallery's place. The demo, the
// end-to-end test and the benchmark start it.
//
// Each component runs as a local process rather than in a pod (kwok fakes
// pods; it runs no containers). It uses its chart Deployment's own
// arguments and authenticates with a token of that Deployment's
// ServiceAccount, as its pod would, so what is exercised is the chart's
// split RBAC and configuration.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/localcluster"
	"github.com/kooper-io/kooper/internal/testenv"
)

// Fixed names of the stack.
const (
	Namespace = "kooper-system"
	Release   = "kooper"
	// Product is the sample SaaSProduct (config/samples) the chart installs.
	Product = "crm"
	// BasicKey is the sample keys Secret's basicKey: the spec's test value.
	BasicKey = "test-access-key"
	// KitKey is the joint-operation sync key the stack adds to it.
	KitKey = "local-kit-key"
)

// Options configure a stack.
type Options struct {
	// Root is the repository root.
	Root string
	// Dir holds the cluster's and the stack's state and logs.
	Dir string
	// Nodes is the number of kwok nodes.
	Nodes int
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
	// Values are extra chart values, merged over the stack's own at the
	// top level (the benchmark raises the operator's API client limits).
	Values map[string]any
	// ComponentQPS is passed to localcluster.Options.
	ComponentQPS int
	// Replicas is how many processes run each component (Receiver,
	// Controllers), as the chart's replica counts: one when unset. The
	// chaos suite runs two of each.
	Replicas map[string]int
	// ReadyAgain is passed to localcluster.Options.
	ReadyAgain bool
	// MeteringClock, when set, starts the controllers with the test-only
	// --metering-clock-offset and --metering-push-spread (main.go), which
	// the chart never sets; SetMeteringClock changes it later.
	MeteringClock *MeteringClock
	// Profiling starts every process with --profiling: Go's profiles on
	// its metrics endpoint (the benchmark's CPU and heap profiles).
	Profiling bool
	// Node runs the cluster on a real node (localcluster.NodeOptions): the
	// chart's Deployments then run kooper as real pods from its image (Values
	// must name it), the simulator listens on the node's address, where the
	// pods reach it, and the data volumes are hostPath directories the
	// kubelet creates. Nodes and the operator's process options are ignored.
	Node *localcluster.NodeOptions
	// APIServerFeatureGates is passed to localcluster.Options.
	APIServerFeatureGates map[string]bool
}

// MeteringClock is the controllers' metering clock under test: moved by
// Offset, with the usage pushes spread over PushSpread after each hour.
type MeteringClock struct {
	Offset, PushSpread time.Duration
}

// args are the controllers' test-only flags for the clock.
func (m *MeteringClock) args() []string {
	if m == nil {
		return nil
	}
	return []string{"--metering-clock-offset=" + m.Offset.String(), "--metering-push-spread=" + m.PushSpread.String()}
}

// Stack is a running local installation of kooper.
type Stack struct {
	Cluster *localcluster.Cluster
	// Client reaches the cluster as an administrator.
	Client client.Client
	// ReceiverURL is the production URL of the sample product.
	ReceiverURL string
	// SimURL is the simulator's open-API base URL.
	SimURL string
	// MetricsURL is the receiver's Prometheus endpoint.
	MetricsURL string
	// ControllersMetricsURL is the controllers' Prometheus endpoint.
	ControllersMetricsURL string

	root string
	dir  string
	bin  string
	logf func(format string, args ...any)
	// components are the receiver's and the controllers' replicas, by name.
	components map[string][]*component
	// processMu guards each component's process: the chaos suite's kubelet
	// (RestartExited) runs beside the scenario that kills replicas, and
	// must not restart a replica that KillReplica is killing.
	processMu sync.Mutex
	// replicas is Options.Replicas, kept for Reinstall.
	replicas map[string]int
	// meteringClock is Options.MeteringClock, or SetMeteringClock's.
	meteringClock *MeteringClock
	// profiling is Options.Profiling, kept for Reinstall.
	profiling bool
	simulator *localcluster.Process
	// node is Options.Node.
	node *localcluster.NodeOptions
}

// Start builds the binaries, starts the cluster, installs the chart and
// starts the simulator and the operator. On failure it stops what it
// started; the logs stay in Dir.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	s = &Stack{root: o.Root, dir: o.Dir, bin: filepath.Join(o.Dir, "bin"), logf: o.Logf}
	if _, err := localcluster.KillLeftovers(o.Dir, stackBinaries...); err != nil {
		return nil, err
	}
	if err := s.build(ctx, o.Node != nil); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()
	s.node = o.Node
	steps := []func(context.Context, Options) error{s.startCluster, s.startSimulator, s.installChart, s.startOperator}
	if o.Node != nil {
		steps[3] = s.findChartPods
	}
	for _, step := range steps {
		if err := step(ctx, o); err != nil {
			return s, err
		}
	}
	return s, nil
}

// stackBinaries are the processes the stack starts besides the cluster.
var stackBinaries = []string{"kooper", "marketplace-sim"}

func (s *Stack) startCluster(ctx context.Context, o Options) error {
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Root: o.Root, Dir: filepath.Join(o.Dir, "cluster"), Nodes: o.Nodes, Logf: o.Logf, ComponentQPS: o.ComponentQPS,
		ReadyAgain: o.ReadyAgain, Node: o.Node, APIServerFeatureGates: o.APIServerFeatureGates,
	})
	if err != nil {
		return err
	}
	s.Cluster = cluster
	scheme, err := testenv.NewScheme()
	if err != nil {
		return err
	}
	s.Client, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	return err
}

// Stop stops the operator's components, the simulator and the cluster.
func (s *Stack) Stop() error {
	errs := []error{s.stopOperator(10 * time.Second)}
	if s.simulator != nil {
		errs = append(errs, s.simulator.Stop(10*time.Second))
	}
	s.simulator = nil
	if s.Cluster != nil {
		errs = append(errs, s.Cluster.Stop())
		s.Cluster = nil
	}
	return errors.Join(errs...)
}

// AnyExited is closed when a component of the operator, the simulator or
// a cluster component ends.
func (s *Stack) AnyExited() <-chan struct{} {
	ended := make(chan struct{})
	var once sync.Once
	watch := func(exited <-chan struct{}) {
		go func() {
			<-exited
			once.Do(func() { close(ended) })
		}()
	}
	for _, p := range s.processes() {
		watch(p.Exited())
	}
	if s.Cluster != nil {
		watch(s.Cluster.AnyExited())
	}
	return ended
}

// CheckProcesses returns an error naming the first process that exited.
func (s *Stack) CheckProcesses() error {
	for _, p := range s.processes() {
		select {
		case <-p.Exited():
			return p.ExitError()
		default:
		}
	}
	if s.Cluster != nil {
		return s.Cluster.CheckComponents()
	}
	return nil
}

// processes are the stack's own running processes: the components and the simulator.
func (s *Stack) processes() []*localcluster.Process {
	ps := s.operatorProcesses()
	if s.simulator != nil {
		ps = append(ps, s.simulator)
	}
	return ps
}

// LogDir holds one log file per process.
func (s *Stack) LogDir() string { return filepath.Join(s.dir, "cluster", "logs") }

// DumpLogs writes the last lines of every process's log, for a failed test.
func (s *Stack) DumpLogs(lines int) string {
	files, _ := filepath.Glob(filepath.Join(s.LogDir(), "*.log"))
	out := ""
	for _, f := range files {
		out += fmt.Sprintf("\n===== %s (last %d lines) =====\n%s", f, lines, tail(f, lines))
	}
	return out
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	end := len(data)
	for i := len(data) - 1; i >= 0 && lines >= 0; i-- {
		if data[i] == '\n' {
			lines--
			if lines < 0 {
				return string(data[i+1 : end])
			}
		}
	}
	return string(data)
}
