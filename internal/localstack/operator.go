package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localcluster"
)

// The chart's two components, each a Deployment of its own (labelled
// app.kubernetes.io/component) under a ServiceAccount of its own.
const (
	Receiver    = "receiver"
	Controllers = "controllers"
)

// Components are the chart's components, in the order the stack starts them.
var Components = []string{Controllers, Receiver}

// A component is one replica of one of the chart's Deployments run as a
// local process.
type component struct {
	name string
	// replica numbers the component's processes from 0; each runs alike
	// with addresses of its own, as the Deployment's pods do.
	replica int
	// account is the Deployment's ServiceAccount as a user name,
	// system:serviceaccount:<namespace>:<name>; kubeconfig authenticates
	// as it, with a token the API server issued for it.
	account    string
	kubeconfig string
	// args, probesURL and receiverAddress let a restart start it again
	// alike; receiverAddress is empty for the controllers.
	args []string
	// env holds what the pod's own runtime would set: GOMEMLIMIT from the
	// container's memory limit (podMemoryEnv).
	env             []string
	probesURL       string
	receiverAddress string
	metricsURL      string
	process         *localcluster.Process
}

// processName is the component's process and log name: kooper-<component>
// for the first replica (as before replicas existed), then
// kooper-<component>-<replica>.
func (c *component) processName() string {
	if c.replica == 0 {
		return "kooper-" + c.name
	}
	return fmt.Sprintf("kooper-%s-%d", c.name, c.replica)
}

// replicas is how many processes run a component: o.Replicas's, or one.
func (o Options) replicas(name string) int {
	if n := o.Replicas[name]; n > 0 {
		return n
	}
	return 1
}

// startOperator runs each of the chart's Deployments as local processes
// (one per replica), with its Deployment's arguments, as its Deployment's
// ServiceAccount.
func (s *Stack) startOperator(ctx context.Context, o Options) error {
	if o.Replicas != nil {
		s.replicas = o.Replicas
	}
	if o.MeteringClock != nil {
		s.meteringClock = o.MeteringClock
	}
	s.profiling = s.profiling || o.Profiling
	o.Replicas = s.replicas
	total := 0
	for _, name := range Components {
		total += o.replicas(name)
	}
	// Every listen address at once: ports freed by one call could come back
	// from the next before the first process binds them.
	ports, err := freePorts(3 * total)
	if err != nil {
		return err
	}
	s.components = map[string][]*component{}
	for _, name := range Components {
		for replica := range o.replicas(name) {
			c, err := s.prepareComponent(ctx, name, ports[:3])
			if err != nil {
				return err
			}
			ports = ports[3:]
			c.replica = replica
			s.components[name] = append(s.components[name], c)
			s.logf("Starting the %s (%s) as %s", name, c.processName(), c.account)
			if err := s.runComponent(c); err != nil {
				return err
			}
		}
	}
	s.logf("Waiting for every process to be ready and for the controllers to read the product's keys")
	if err := s.waitAllReady(ctx); err != nil {
		return err
	}
	s.ReceiverURL = s.ReceiverURLs()[0]
	s.MetricsURL = s.first(Receiver).metricsURL
	s.ControllersMetricsURL = s.first(Controllers).metricsURL
	return s.waitFor(ctx, "the controllers to read the product's keys", s.productKeysAvailable)
}

// first is a component's first replica, nil before the operator starts.
func (s *Stack) first(name string) *component {
	if cs := s.components[name]; len(cs) > 0 {
		return cs[0]
	}
	return nil
}

// waitAllReady waits for every replica of every component.
func (s *Stack) waitAllReady(ctx context.Context) error {
	for _, name := range Components {
		for _, c := range s.components[name] {
			if err := s.waitReady(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReceiverURLs are the sample product's production URLs on each receiver
// replica, as a load balancer's backends.
func (s *Stack) ReceiverURLs() []string {
	var urls []string
	for _, c := range s.components[Receiver] {
		urls = append(urls, "http://"+c.receiverAddress+"/koogallery/"+Product)
	}
	return urls
}

// MetricsURLs are the Prometheus endpoints of a component's replicas.
func (s *Stack) MetricsURLs(name string) []string {
	var urls []string
	for _, c := range s.components[name] {
		urls = append(urls, c.metricsURL)
	}
	return urls
}

// KillReplica kills a replica's process with SIGKILL, as a node failure or
// an OOM kill does: no graceful shutdown, no lease released. RestartExited
// leaves it stopped until RestartReplica or RestartKilled.
func (s *Stack) KillReplica(name string, replica int) error {
	c, err := s.replica(name, replica)
	if err != nil {
		return err
	}
	s.processMu.Lock()
	defer s.processMu.Unlock()
	return c.kill()
}

// KillAll kills every replica of every component with SIGKILL at once, as
// a node holding them all failing does, and returns once all have exited.
func (s *Stack) KillAll() error {
	s.processMu.Lock()
	defer s.processMu.Unlock()
	var running []*component
	for _, name := range Components {
		for _, c := range s.components[name] {
			if c.process != nil {
				running = append(running, c)
			}
		}
	}
	if len(running) == 0 {
		return fmt.Errorf("the operator is not running")
	}
	// One goroutine each: Process.Kill waits for its process to exit, and
	// the next must not wait for that.
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, c := range running {
		wg.Go(func() { errs[i] = c.kill() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// kill kills the component's process and forgets it; the caller holds
// processMu.
func (c *component) kill() error {
	if c.process == nil {
		return fmt.Errorf("%s is not running", c.processName())
	}
	err := c.process.Kill()
	c.process = nil
	return err
}

// RestartReplica starts a replica's process again, with the same arguments
// and addresses, as the kubelet restarts a killed container, and waits
// until it is ready.
func (s *Stack) RestartReplica(ctx context.Context, name string, replica int) error {
	c, err := s.replica(name, replica)
	if err != nil {
		return err
	}
	if err := s.startStopped(c); err != nil {
		return err
	}
	return s.waitReady(ctx, c)
}

// RestartKilled starts again every replica KillReplica or KillAll left
// stopped, all at once as the kubelet restarts a node's containers, and
// waits until each is ready. It returns their process names.
func (s *Stack) RestartKilled(ctx context.Context) ([]string, error) {
	var started []*component
	var names []string
	s.processMu.Lock()
	for _, name := range Components {
		for _, c := range s.components[name] {
			if c.process != nil {
				continue
			}
			if err := s.runComponent(c); err != nil {
				s.processMu.Unlock()
				return names, err
			}
			started = append(started, c)
			names = append(names, c.processName())
		}
	}
	s.processMu.Unlock()
	for _, c := range started {
		if err := s.waitReady(ctx, c); err != nil {
			return names, err
		}
	}
	return names, nil
}

// startStopped starts a stopped replica's process.
func (s *Stack) startStopped(c *component) error {
	s.processMu.Lock()
	defer s.processMu.Unlock()
	if c.process != nil {
		return fmt.Errorf("%s is still running", c.processName())
	}
	return s.runComponent(c)
}

// RestartExited starts again every replica whose process exited by itself
// (not one KillReplica killed), as the kubelet's restart policy does, and
// returns their process names. A controllers replica exits when it loses
// its leader lease, as when the API server is down for longer than the
// lease's renew deadline. It does not wait for them to be ready.
func (s *Stack) RestartExited() ([]string, error) {
	s.processMu.Lock()
	defer s.processMu.Unlock()
	var restarted []string
	for _, name := range Components {
		for _, c := range s.components[name] {
			if c.process == nil || !exited(c.process) {
				continue
			}
			if err := s.runComponent(c); err != nil {
				return restarted, err
			}
			restarted = append(restarted, c.processName())
		}
	}
	return restarted, nil
}

func exited(p *localcluster.Process) bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

func (s *Stack) replica(name string, replica int) (*component, error) {
	cs := s.components[name]
	if replica < 0 || replica >= len(cs) {
		return nil, fmt.Errorf("no replica %d of the %s", replica, name)
	}
	return cs[replica], nil
}

// prepareComponent reads the component's Deployment and writes its
// kubeconfig; ports are its receiver, metrics and probe addresses.
func (s *Stack) prepareComponent(ctx context.Context, name string, ports []string) (*component, error) {
	deployment, err := s.chartDeployment(ctx, name)
	if err != nil {
		return nil, err
	}
	pod := deployment.Spec.Template.Spec
	c := &component{
		name:       name,
		account:    fmt.Sprintf("system:serviceaccount:%s:%s", Namespace, pod.ServiceAccountName),
		kubeconfig: filepath.Join(s.dir, name+".kubeconfig"),
	}
	token, err := s.serviceAccountToken(ctx, pod.ServiceAccountName)
	if err != nil {
		return nil, err
	}
	if err := writeTokenKubeconfig(s.Cluster.Kubeconfig, c.kubeconfig, token); err != nil {
		return nil, err
	}
	receiver, metrics, probes := ports[0], ports[1], ports[2]
	// The metrics are served over plain HTTP (the last --metrics-secure
	// wins): the demo, the e2e and the bench read them without a token.
	// main_test.go tests the secure serving the chart turns on. A local
	// receiver has no endpoints to leave before it stops, so it does not
	// wait for that (--receiver-drain-delay, webhook's drain tests).
	c.args = append(localArgs(pod.Containers[0].Args, map[string]string{
		"--receiver-bind-address":     receiver,
		"--metrics-bind-address":      metrics,
		"--health-probe-bind-address": probes,
	}), "--metrics-secure=false", "--receiver-drain-delay=0s")
	if name == Controllers {
		c.args = append(c.args, s.meteringClock.args()...)
	}
	if s.profiling {
		c.args = append(c.args, "--profiling")
	}
	c.env = podMemoryEnv(pod.Containers[0])
	c.probesURL = "http://" + probes + "/readyz"
	c.metricsURL = "http://" + metrics + "/metrics"
	if name == Receiver {
		c.receiverAddress = receiver
	}
	return c, nil
}

// PodMemoryRatio is the share of the container's memory limit that kooper
// gives the Go runtime as its soft limit, main's memoryLimitRatio
// (memory.go; main_test.go holds the two equal).
const PodMemoryRatio = 0.9

// podMemoryEnv is the GOMEMLIMIT that kooper sets itself in its pod,
// PodMemoryRatio of container's memory limit, in bytes: a local process
// runs in no cgroup of that limit, where kooper reads it. It is empty when
// the container has no memory limit.
func podMemoryEnv(container corev1.Container) []string {
	limit := container.Resources.Limits.Memory()
	if limit.IsZero() {
		return nil
	}
	return []string{"GOMEMLIMIT=" + strconv.FormatInt(int64(PodMemoryRatio*float64(limit.Value())), 10)}
}

// runComponent starts the component's process; its log is
// <processName>.log, and the previous run's is kept as
// <processName>.log.previous, as kubectl logs --previous shows it.
func (s *Stack) runComponent(c *component) error {
	log := filepath.Join(s.LogDir(), c.processName()+".log")
	_ = os.Rename(log, log+".previous")
	p, err := localcluster.StartProcess(c.processName(), s.LogDir(), s.Binary("kooper"), c.args, append([]string{"KUBECONFIG=" + c.kubeconfig}, c.env...)...)
	if err != nil {
		return err
	}
	c.process = p
	return nil
}

// waitReady waits until the component answers its readiness probe and,
// for the receiver, accepts connections: the probe answers before the
// receiver, another runnable, has bound its port.
func (s *Stack) waitReady(ctx context.Context, c *component) error {
	if err := s.waitFor(ctx, "the "+c.name+" to be ready", httpOK(c.probesURL)); err != nil {
		return err
	}
	if c.receiverAddress == "" {
		return nil
	}
	return s.waitFor(ctx, "the receiver to listen", listening(c.receiverAddress))
}

// stopOperator stops every replica's process.
func (s *Stack) stopOperator(timeout time.Duration) error {
	var errs []error
	for _, cs := range s.components {
		errs = append(errs, s.stopReplicas(timeout, cs))
	}
	return errors.Join(errs...)
}

// stopReplicas stops the running processes of cs gracefully, each within
// timeout.
func (s *Stack) stopReplicas(timeout time.Duration, cs []*component) error {
	s.processMu.Lock()
	defer s.processMu.Unlock()
	var errs []error
	for _, c := range cs {
		if c.process != nil {
			errs = append(errs, c.process.Stop(timeout))
			c.process = nil
		}
	}
	return errors.Join(errs...)
}

// operatorProcesses are the replicas' running processes.
func (s *Stack) operatorProcesses() []*localcluster.Process {
	var ps []*localcluster.Process
	for _, name := range Components {
		for _, c := range s.components[name] {
			if c.process != nil {
				ps = append(ps, c.process)
			}
		}
	}
	return ps
}

// RestartOperator stops both components and starts them again with the
// same arguments and addresses, as pod restarts do. It returns once both
// answer their readiness probes; their logs replace the old ones.
func (s *Stack) RestartOperator(ctx context.Context) error {
	if len(s.operatorProcesses()) == 0 {
		return fmt.Errorf("the operator is not running")
	}
	if err := s.stopOperator(30 * time.Second); err != nil {
		return err
	}
	for _, name := range Components {
		for _, c := range s.components[name] {
			if err := s.runComponent(c); err != nil {
				return err
			}
		}
	}
	return s.waitAllReady(ctx)
}

// RestartComponent stops a component's replicas gracefully (a leader
// releases its Lease) and starts them again with the same arguments and
// addresses, as a rollout of that component's Deployment does; the other
// component keeps running. It returns once the replicas answer their
// readiness probes; their logs replace the old ones.
func (s *Stack) RestartComponent(ctx context.Context, name string) error {
	cs := s.components[name]
	if len(cs) == 0 {
		return fmt.Errorf("the operator has no component %q", name)
	}
	if err := s.stopReplicas(30*time.Second, cs); err != nil {
		return err
	}
	for _, c := range cs {
		if err := s.runComponent(c); err != nil {
			return err
		}
	}
	for _, c := range cs {
		if err := s.waitReady(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// SetMeteringClock restarts the controllers' replicas with their metering
// clock moved by m.Offset and the usage pushes spread over m.PushSpread
// (test-only flags), as a rollout of the Deployment would: each stops
// gracefully, so the leader releases its Lease, and the call returns once
// all answer their readiness probes.
func (s *Stack) SetMeteringClock(ctx context.Context, m MeteringClock) error {
	s.meteringClock = &m
	for _, c := range s.components[Controllers] {
		if p := c.process; p != nil {
			// Out of RestartExited's sight first: this exit is wanted.
			c.process = nil
			if err := p.Stop(30 * time.Second); err != nil {
				return err
			}
		}
		c.args = append(withoutMeteringClock(c.args), m.args()...)
		if err := s.runComponent(c); err != nil {
			return err
		}
	}
	for _, c := range s.components[Controllers] {
		if err := s.waitReady(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// withoutMeteringClock drops the metering clock's flags from args.
func withoutMeteringClock(args []string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(a string) bool {
		return strings.HasPrefix(a, "--metering-clock-offset=") || strings.HasPrefix(a, "--metering-push-spread=")
	})
}

// Reinstall installs the chart again, after a helm uninstall, and starts
// both components from it, as a merchant reinstalling kooper does. Their
// addresses change; ReceiverURL and the metrics URLs follow.
func (s *Stack) Reinstall(ctx context.Context) error {
	if err := s.stopOperator(30 * time.Second); err != nil {
		return err
	}
	if err := s.installChart(ctx, Options{}); err != nil {
		return err
	}
	return s.startOperator(ctx, Options{})
}

// OperatorPID is the process ID of a component (Receiver or Controllers),
// for reading /proc; 0 when it is not running.
func (s *Stack) OperatorPID(name string) int {
	if c := s.first(name); c != nil && c.process != nil {
		return c.process.PID()
	}
	return 0
}

// ServiceAccount is the user a component acts as: its Deployment's
// ServiceAccount, system:serviceaccount:<namespace>:<name>.
func (s *Stack) ServiceAccount(name string) string {
	if c := s.first(name); c != nil {
		return c.account
	}
	return ""
}

// ConfigFor returns the config a component's process runs with: the
// cluster's, authenticated with a token of the component's ServiceAccount.
func (s *Stack) ConfigFor(name string) (*rest.Config, error) {
	c := s.first(name)
	if c == nil {
		return nil, fmt.Errorf("no component %q", name)
	}
	return clientcmd.BuildConfigFromFlags("", c.kubeconfig)
}

// Log returns what a component's process has logged since it last started.
func (s *Stack) Log(name string) (string, error) {
	c := s.first(name)
	if c == nil || c.process == nil {
		return "", fmt.Errorf("the %s is not running", name)
	}
	data, err := os.ReadFile(c.process.LogPath)
	return string(data), err
}

// chartDeployment finds the Deployment the chart installed for a component.
func (s *Stack) chartDeployment(ctx context.Context, name string) (*appsv1.Deployment, error) {
	list := &appsv1.DeploymentList{}
	if err := s.Client.List(ctx, list, client.InNamespace(Namespace),
		client.MatchingLabels{"app.kubernetes.io/instance": Release, "app.kubernetes.io/component": name}); err != nil {
		return nil, err
	}
	if len(list.Items) != 1 || len(list.Items[0].Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("expected one %s Deployment of release %s in %s, found %d", name, Release, Namespace, len(list.Items))
	}
	return &list.Items[0], nil
}

// localArgs adapts the container's arguments to a local process: it
// expands $(POD_NAMESPACE) as the kubelet would and replaces the listen
// addresses, which would clash on one machine.
func localArgs(args []string, addresses map[string]string) []string {
	out := make([]string, 0, len(args))
	for _, arg := range args {
		name, _, _ := strings.Cut(arg, "=")
		if addr, ok := addresses[name]; ok {
			arg = name + "=" + addr
		}
		out = append(out, strings.ReplaceAll(arg, "$(POD_NAMESPACE)", Namespace))
	}
	return out
}

// serviceAccountTokenLifetime is how long the token a component's process
// authenticates with lasts: longer than any local stack runs. Each start
// of the operator (Start, Reinstall) asks for a new one.
const serviceAccountTokenLifetime = 365 * 24 * time.Hour

// serviceAccountToken asks the API server for a token of the
// ServiceAccount name in kooper's namespace (TokenRequest), as the kubelet
// does for a pod's projected token: the process then authenticates as its
// pod would on a real cluster, with a bearer token the API server caches,
// rather than as the administrator impersonating the account (a client
// certificate to verify and impersonation to authorise on every request,
// which no kooper pod pays and which the benchmark would count as
// kooper's).
func (s *Stack) serviceAccountToken(ctx context.Context, name string) (string, error) {
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(serviceAccountTokenLifetime.Seconds()))}}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name}}
	if err := s.Client.SubResource("token").Create(ctx, account, request); err != nil {
		return "", fmt.Errorf("failed to request a token of ServiceAccount %s/%s: %w", Namespace, name, err)
	}
	return request.Status.Token, nil
}

// writeTokenKubeconfig copies the admin kubeconfig with every user's
// credentials replaced by the bearer token alone.
func writeTokenKubeconfig(from, to, token string) error {
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		return err
	}
	for name := range cfg.AuthInfos {
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	}
	return clientcmd.WriteToFile(*cfg, to)
}

func (s *Stack) productKeysAvailable(ctx context.Context) (bool, error) {
	product := &saasv1alpha1.SaaSProduct{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: Product}, product); err != nil {
		return false, nil
	}
	return apimeta.IsStatusConditionTrue(product.Status.Conditions, saasv1alpha1.KeysAvailableCondition), nil
}

func httpOK(url string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}
}

// listening reports whether something accepts connections at address
// within two seconds (a dropped SYN would otherwise hold a poll for minutes).
func listening(address string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", address)
		if err != nil {
			return false, nil
		}
		return true, conn.Close()
	}
}

// freePorts returns n loopback addresses with ports that were free a
// moment ago.
func freePorts(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, l.Addr().String())
		defer l.Close()
	}
	return addrs, nil
}

// findChartPods, on a real node, waits until the chart's pods run (Helm's
// --wait saw their Deployments Available), the receiver's Service routes to
// its pod, and the controllers have read the product's keys, and points
// ReceiverURL at the receiver's Service.
func (s *Stack) findChartPods(ctx context.Context, _ Options) error {
	svc := &corev1.Service{}
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: Release}, svc); err != nil {
		return fmt.Errorf("failed to read the receiver's Service: %w", err)
	}
	address := ""
	for _, p := range svc.Spec.Ports {
		if p.Name == "http-receiver" {
			address = net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port)))
		}
	}
	if address == "" {
		return fmt.Errorf("the receiver's Service %s has no port http-receiver", Release)
	}
	s.ReceiverURL = fmt.Sprintf("http://%s/koogallery/%s", address, Product)
	// A Ready pod is not yet a routed Service: the node's proxy programs the
	// Service's address from the endpoints a moment later, and a purchase
	// sent before that is refused.
	if err := s.waitFor(ctx, "the receiver's Service to route to its pod", listening(address)); err != nil {
		return err
	}
	return s.waitFor(ctx, "the controllers to read the product's keys", s.productKeysAvailable)
}
