// Package e2enode is kooper's real-node lane: the local cluster's control
// plane with one real node (containerd 2 with runc and the CNI bridge,
// kubelet, kube-proxy, and kube-router enforcing NetworkPolicy) in a network
// namespace of its own, the chart installing kooper as real pods from its
// image, and tenants running the sample app's image through their real
// probes, isolation, freeze and release.
//
// It runs with `make e2e-node` (root; the images, the node's tools and
// Debian packages first), which builds this test and runs it inside
// hack/e2e-node/netns.sh; plain `go test ./...` skips it.
package e2enode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localcluster"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/testenv"
)

var enabled = flag.Bool("e2e-node", false, "run the real-node lane (make e2e-node)")

// basicSKU is the sample product's Basic plan (config/samples).
const basicSKU = "0a4d1578-5295-46a7-92d4-7c803dccc51d"

// env is what the steps share.
type env struct {
	ctx   context.Context
	stack *localstack.Stack
	// logf is the running step's t.Logf: what each check saw.
	logf func(format string, args ...any)
	// a and b are two tenants' instanceIds: a is driven through freeze and
	// release, b is the other side of the isolation checks.
	a, b string
}

func TestRealNode(t *testing.T) {
	if !*enabled {
		t.Skip("the real-node lane runs with make e2e-node")
	}
	SetDefaultEventuallyTimeout(3 * time.Minute)
	SetDefaultEventuallyPollingInterval(time.Second)
	// Ctrl-C or SIGTERM stops the node as a failure does: its pods, shims and
	// cgroups go and the kernel tunables its kubelet changed are put back.
	// Without this the test binary died on the spot and left them so.
	signalled, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	// Last of the cleanups: a signal during the stack's Stop is still caught.
	t.Cleanup(func() { close(finished); stopSignals() })
	ctx, cancel := context.WithTimeout(signalled, 20*time.Minute)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "bin", "e2e-node")
	start := time.Now()
	stack, err := localstack.Start(ctx, localstack.Options{
		Root: root, Dir: dir, Logf: t.Logf,
		Node: localcluster.LaneNode(filepath.Join(dir, "cluster"), filepath.Join(root, "bin", "e2e-node-images")),
		Values: map[string]any{
			"image": map[string]any{"repository": "kooper.local/kooper", "tag": localcluster.NodeImageTag, "pullPolicy": "Never"},
			// One receiver: the node has two cores to share with everything else.
			"replicaCount": 1,
		},
	})
	if err != nil {
		if stack != nil {
			fmt.Fprint(os.Stderr, stack.DumpLogs(80))
		}
		t.Fatalf("failed to start the stack on a real node: %v", err)
	}
	stopStack := sync.OnceValue(stack.Stop)
	go func() {
		select {
		case <-finished:
		case <-signalled.Done():
			// The steps' Eventually would poll on for minutes: stop here and now.
			fmt.Fprintln(os.Stderr, "e2e-node: interrupted: stopping the node and putting its kernel tunables back")
			if err := stopStack(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e-node: failed to stop the stack: %v\n", err)
			}
			fmt.Fprintln(os.Stderr, "e2e-node: stopped")
			os.Exit(1)
		}
	}()
	t.Logf("the control plane, the node and the chart's pods were up in %s", time.Since(start).Round(time.Second))
	e := &env{ctx: ctx, stack: stack, logf: t.Logf}
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpState()
		}
		if err := stopStack(); err != nil {
			t.Errorf("failed to stop the stack: %v", err)
		}
	})
	steps := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"kooper runs as real pods from its image: probes pass, non-root, read-only root filesystem", testOperatorPods},
		{"a purchase makes a tenant whose sample-app pod is Ready through its readiness probe", testPurchase},
		{"NetworkPolicy is enforced: tenant A reaches neither tenant B nor kooper's metrics; B reaches itself; A reaches B without the policies", testIsolation},
		{"a freeze stops the pod, an unfreeze brings it back with its volume's file intact", testFreezeUnfreeze},
		{"a release removes the pod", testRelease},
	}
	for _, s := range steps {
		stepStart := time.Now()
		ok := t.Run(s.name, func(t *testing.T) {
			e.logf = t.Logf
			s.run(t, e)
		})
		t.Logf("step %q: %s", s.name, time.Since(stepStart).Round(time.Second))
		if !ok {
			t.Fatalf("step %q failed; the later steps depend on it", s.name)
		}
	}
}

// testOperatorPods checks the chart's pods as the node runs them: Ready
// (their probes pass), and each kooper process, seen from the node, runs as
// the image's non-root user on a read-only root filesystem.
func testOperatorPods(t *testing.T, e *env) {
	g := NewWithT(t)
	pods := &corev1.PodList{}
	g.Expect(e.stack.Client.List(e.ctx, pods, client.InNamespace(localstack.Namespace))).To(Succeed())
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		running++
		g.Expect(podReady(p)).To(BeTrue(), "pod %s is not Ready", p.Name)
		for _, c := range p.Spec.Containers {
			g.Expect(c.Image).To(Equal(localcluster.NodeImage("kooper")), p.Name)
			g.Expect(c.ReadinessProbe).NotTo(BeNil(), p.Name)
			g.Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()), p.Name)
		}
		for _, s := range p.Status.ContainerStatuses {
			g.Expect(s.Ready).To(BeTrue(), p.Name)
			g.Expect(s.RestartCount).To(BeZero(), "%s restarted", p.Name)
		}
	}
	g.Expect(running).To(Equal(2), "one receiver and one controllers pod")
	procs := kooperProcesses(g)
	g.Expect(procs).To(HaveLen(2), "the node runs one kooper process per pod")
	for _, pid := range procs {
		g.Expect(processUID(g, pid)).To(Equal("65532"), "kooper (pid %d) runs as root", pid)
		g.Expect(rootMountReadOnly(g, pid)).To(BeTrue(), "kooper (pid %d) has a writable root filesystem", pid)
	}
}

func testPurchase(t *testing.T, e *env) {
	e.a = buyReady(t, e, "A")
	e.b = buyReady(t, e, "B")
	for _, tenant := range []string{e.a, e.b} {
		pod := appPod(NewWithT(t), e, tenant)
		g := NewWithT(t)
		g.Expect(pod.Spec.Containers[0].Image).To(Equal(localcluster.NodeImage("sample-app")))
		g.Expect(pod.Spec.Containers[0].ReadinessProbe.HTTPGet.Path).To(Equal("/ready"))
		g.Expect(pod.Status.PodIP).NotTo(BeEmpty())
	}
}

// testIsolation dials, from inside the tenants' own pods, tenant B's
// Service and kooper's metrics Service: the kooper-isolation policies and
// kooper's own keep tenant A out, while tenant B reaches its own Service
// (the positive control), and tenant A reaches it too once the two tenants'
// policies are deleted, with the controllers scaled to zero so that nothing
// puts them back; once the controllers are back, so are the policies, and
// tenant A is kept out again.
func testIsolation(t *testing.T, e *env) {
	g := NewWithT(t)
	bService := serviceAddress(g, e, namespaceOf(g, e, e.b), "app", "")
	metrics := serviceAddress(g, e, localstack.Namespace, "kooper-controllers-metrics", "https-metrics")
	receiverMetrics := serviceAddress(g, e, localstack.Namespace, "kooper-receiver-metrics", "https-metrics")

	// The positive controls come first, and are waited for: a Ready pod is
	// not yet a routed Service, nor a new pod an admitted source, until the
	// node's proxy and policy agent catch up. Once they pass, a refusal
	// below is the policies', not a route still missing.
	g.Eventually(func() error { return e.dial("tenant B", e.b, bService, "B's own Service") }).Should(Succeed(),
		"tenant B cannot reach its own Service")
	// The metrics' positive control: a pod in the monitoring namespace,
	// which kooper's own policies admit, reaches both.
	monitor := startMonitor(g, e)
	g.Eventually(func() error {
		return dialFrom(e, "the monitoring namespace", monitor.Namespace, "pod/"+monitor.Name, metrics, "the controllers' metrics")
	}).Should(Succeed(), "the monitoring namespace cannot reach the controllers' metrics")
	g.Eventually(func() error {
		return dialFrom(e, "the monitoring namespace", monitor.Namespace, "pod/"+monitor.Name, receiverMetrics, "the receiver's metrics")
	}).Should(Succeed(), "the monitoring namespace cannot reach the receiver's metrics")

	g.Expect(e.dial("tenant A", e.a, bService, "B's Service")).To(MatchError(errRefused), "tenant A reached tenant B's Service")
	g.Expect(e.dial("tenant A", e.a, metrics, "the controllers' metrics")).To(MatchError(errRefused), "tenant A reached the controllers' metrics")
	g.Expect(e.dial("tenant A", e.a, receiverMetrics, "the receiver's metrics")).To(MatchError(errRefused), "tenant A reached the receiver's metrics")

	e.scaleControllers(g, 0)
	for _, tenant := range []string{e.a, e.b} {
		np := &networkingv1.NetworkPolicy{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: namespaceOf(g, e, tenant), Name: "kooper-isolation"}, np)).To(Succeed())
		g.Expect(e.stack.Client.Delete(e.ctx, np)).To(Succeed())
	}
	g.Eventually(func() error { return e.dial("tenant A, no policies", e.a, bService, "B's Service") }).Should(Succeed(),
		"tenant A cannot reach tenant B even without the policies")

	e.scaleControllers(g, 1)
	g.Eventually(func(g Gomega) {
		for _, tenant := range []string{e.a, e.b} {
			g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: namespaceOf(g, e, tenant), Name: "kooper-isolation"},
				&networkingv1.NetworkPolicy{})).To(Succeed())
		}
	}).Should(Succeed())
	g.Eventually(func() error { return e.dial("tenant A, policies back", e.a, bService, "B's Service") }).Should(MatchError(errRefused),
		"tenant A still reaches tenant B once the policies are back")
}

func testFreezeUnfreeze(t *testing.T, e *env) {
	g := NewWithT(t)
	ns := namespaceOf(g, e, e.a)
	out, err := e.exec(e.a, "/sample-app", "record", "e2e-node-before-freeze")
	g.Expect(err).NotTo(HaveOccurred(), out)
	e.logf("pod %s wrote the line e2e-node-before-freeze to its volume", appPod(g, e, e.a).Name)

	_, err = e.stack.Sim(e.ctx, "freeze", "--instance-id", e.a)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, e.a)
		g.Expect(apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeTrue())
		g.Expect(podsIn(g, e, ns)).To(BeEmpty(), "the frozen tenant's pod still exists")
	}).Should(Succeed())

	_, err = e.stack.Sim(e.ctx, "unfreeze", "--instance-id", e.a)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		g.Expect(isReady(getTenant(g, e, e.a))).To(BeTrue())
		g.Expect(podReady(*appPod(g, e, e.a))).To(BeTrue())
	}).Should(Succeed())
	out, err = e.exec(e.a, "/sample-app", "visits")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("e2e-node-before-freeze"), "the file written before the freeze is gone")
	e.logf("after the unfreeze, pod %s's volume still holds the line written before the freeze: %s",
		appPod(g, e, e.a).Name, strings.TrimSpace(out))
}

func testRelease(t *testing.T, e *env) {
	g := NewWithT(t)
	ns := namespaceOf(g, e, e.a)
	_, err := e.stack.Sim(e.ctx, "release-instance", "--instance-id", e.a)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		tenant := getTenant(g, e, e.a)
		g.Expect(apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.ReleasedCondition)).To(BeTrue())
		g.Expect(podsIn(g, e, ns)).To(BeEmpty(), "the released tenant's pod still exists")
	}).Should(Succeed())
	// Tenant B is untouched.
	g.Expect(podReady(*appPod(g, e, e.b))).To(BeTrue())
}

// buyReady buys the Basic plan and waits until the tenant is Ready (its
// Deployment Available: its pod passed the real readiness probe).
func buyReady(t *testing.T, e *env, what string) string {
	g := NewWithT(t)
	order := fmt.Sprintf("E2ENODE%s%d", what, time.Now().UnixNano())
	out, err := e.stack.Buy(e.ctx, order, basicSKU, 0)
	g.Expect(err).NotTo(HaveOccurred(), out)
	var tenant *saasv1alpha1.SaaSTenant
	g.Eventually(func(g Gomega) {
		tenant, err = e.stack.TenantForOrder(e.ctx, order)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(tenant).NotTo(BeNil())
		g.Expect(isReady(tenant)).To(BeTrue())
	}).Should(Succeed())
	g.Expect(podReady(*appPod(g, e, tenant.Name))).To(BeTrue())
	return tenant.Name
}

func getTenant(g Gomega, e *env, name string) *saasv1alpha1.SaaSTenant {
	tenant := &saasv1alpha1.SaaSTenant{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: name}, tenant)).To(Succeed())
	return tenant
}

func namespaceOf(g Gomega, e *env, tenant string) string {
	ns := getTenant(g, e, tenant).Status.Namespace
	g.Expect(ns).NotTo(BeEmpty())
	return ns
}

func isReady(t *saasv1alpha1.SaaSTenant) bool {
	return apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition)
}

func podsIn(g Gomega, e *env, ns string) []corev1.Pod {
	pods := &corev1.PodList{}
	g.Expect(e.stack.Client.List(e.ctx, pods, client.InNamespace(ns))).To(Succeed())
	return pods.Items
}

// appPod is the tenant's one app pod.
func appPod(g Gomega, e *env, tenant string) *corev1.Pod {
	pods := podsIn(g, e, namespaceOf(g, e, tenant))
	g.Expect(pods).To(HaveLen(1))
	return &pods[0]
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// serviceAddress is ClusterIP:port of a Service's port named port (its
// first port when port is empty). A headless Service (the sample product's
// tenants') has no cluster IP: its address is its first endpoint's, the
// pod's, as its name would resolve to.
func serviceAddress(g Gomega, e *env, ns, name, port string) string {
	svc := &corev1.Service{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: name}, svc)).To(Succeed())
	for _, p := range svc.Spec.Ports {
		if port != "" && p.Name != port {
			continue
		}
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			return endpointAddress(g, e, svc, p.Name)
		}
		return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port)))
	}
	g.Expect(port).To(BeEmpty(), "Service %s/%s has no port %s", ns, name, port)
	return ""
}

// endpointAddress is address:port of the first endpoint of a headless
// Service's port named port, waiting for the EndpointSlice controller.
func endpointAddress(g Gomega, e *env, svc *corev1.Service, port string) string {
	address := ""
	g.Eventually(func(g Gomega) {
		list := &discoveryv1.EndpointSliceList{}
		g.Expect(e.stack.Client.List(e.ctx, list, client.InNamespace(svc.Namespace),
			client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name})).To(Succeed())
		for _, s := range list.Items {
			for _, p := range s.Ports {
				if p.Name == nil || *p.Name != port || p.Port == nil || len(s.Endpoints) == 0 || len(s.Endpoints[0].Addresses) == 0 {
					continue
				}
				address = net.JoinHostPort(s.Endpoints[0].Addresses[0], strconv.Itoa(int(*p.Port)))
			}
		}
		g.Expect(address).NotTo(BeEmpty(), "Service %s/%s has no endpoint on port %s", svc.Namespace, svc.Name, port)
	}).Should(Succeed())
	return address
}

// exec runs a command in the tenant's app container (kubectl exec: the API
// server, the kubelet and containerd's streaming server).
func (e *env) exec(tenant string, command ...string) (string, error) {
	g := NewGomega(func(message string, _ ...int) { panic(message) })
	ns := namespaceOf(g, e, tenant)
	return e.stack.Kubectl(e.ctx, append([]string{"exec", "-n", ns, "deploy/app", "--"}, command...)...)
}

// errRefused is a dial that the network refused or dropped, as against a
// kubectl exec that failed.
var errRefused = errors.New("the connection did not open")

// dial opens a TCP connection to address (what: whose it is) from inside
// the tenant's pod (who: the tenant, as the log names it): nil when it
// opens, errRefused when it does not, another error when the command did not
// run at all (so that a broken exec never passes for isolation).
func (e *env) dial(who, tenant, address, what string) error {
	g := NewGomega(func(message string, _ ...int) { panic(message) })
	ns := namespaceOf(g, e, tenant)
	// The pod's name, for the log; the Deployment's if there is not exactly one.
	target := "deploy/app"
	if pods := (&corev1.PodList{}); e.stack.Client.List(e.ctx, pods, client.InNamespace(ns)) == nil && len(pods.Items) == 1 {
		target = "pod/" + pods.Items[0].Name
	}
	return dialFrom(e, who, ns, target, address, what)
}

// dialFrom dials address from target (pod/NAME, deploy/NAME) in ns, and
// logs what it saw.
func dialFrom(e *env, who, ns, target, address, what string) error {
	out, err := e.stack.Kubectl(e.ctx, "exec", "-n", ns, target, "--", "/sample-app", "dial", address)
	var result error
	switch {
	case err == nil && strings.Contains(out, "connected to "+address):
	case strings.Contains(out, "sample-app: dial tcp "+address):
		result = fmt.Errorf("%w: %s", errRefused, strings.TrimSpace(out))
	default:
		result = fmt.Errorf("kubectl exec failed: %w", err)
	}
	outcome := "reached"
	if errors.Is(result, errRefused) {
		outcome = "refused (did not open)"
	} else if result != nil {
		outcome = result.Error()
	}
	e.logf("dial %s (%s) from %s, %s in %s: %s", address, what, who, target, ns, outcome)
	return result
}

func (e *env) scaleControllers(g Gomega, replicas int) {
	_, err := e.stack.Kubectl(e.ctx, "scale", "-n", localstack.Namespace, "deploy/kooper-controllers", fmt.Sprintf("--replicas=%d", replicas))
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(e.stack.Client.List(e.ctx, pods, client.InNamespace(localstack.Namespace),
			client.MatchingLabels{"app.kubernetes.io/component": "controllers"})).To(Succeed())
		ready := 0
		for _, p := range pods.Items {
			if podReady(p) {
				ready++
			}
		}
		g.Expect(pods.Items).To(HaveLen(replicas))
		g.Expect(ready).To(Equal(replicas))
	}).Should(Succeed())
}

// startMonitor runs a sample-app pod in the monitoring namespace (the one
// kooper's metrics policies admit, chart value monitoringNamespace's
// default) and waits until it is Ready.
func startMonitor(g Gomega, e *env) *corev1.Pod {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}
	g.Expect(client.IgnoreAlreadyExists(e.stack.Client.Create(e.ctx, ns))).To(Succeed())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "monitor"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			Containers: []corev1.Container{{
				Name: "monitor", Image: localcluster.NodeImage("sample-app"), ImagePullPolicy: corev1.PullNever,
				Env:            []corev1.EnvVar{{Name: "DATA_DIR", Value: "/tmp"}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
			}},
		},
	}
	g.Expect(e.stack.Client.Create(e.ctx, pod)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		g.Expect(podReady(*pod)).To(BeTrue())
	}).Should(Succeed())
	return pod
}

// kooperProcesses are the node's processes whose executable is /kooper
// (as seen from their own mount namespace).
func kooperProcesses(g Gomega) []int {
	entries, err := os.ReadDir("/proc")
	g.Expect(err).NotTo(HaveOccurred())
	var pids []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", entry.Name(), "exe")); err == nil && exe == "/kooper" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processUID is the real UID of a process (/proc/PID/status).
func processUID(g Gomega, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	g.Expect(err).NotTo(HaveOccurred())
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

// rootMountReadOnly reports whether the process's / is mounted read-only.
func rootMountReadOnly(g Gomega, pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	g.Expect(err).NotTo(HaveOccurred())
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			return strings.Split(f[5], ",")[0] == "ro"
		}
	}
	return false
}

// dumpState prints the cluster's view and every log's tail, for a failure.
func (e *env) dumpState() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, args := range [][]string{
		{"get", "saastenants", "-o", "yaml"},
		{"get", "nodes,namespaces,pods,pvc,pv", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, err := e.stack.Kubectl(ctx, args...)
		if err != nil {
			out = err.Error()
		}
		fmt.Fprintf(os.Stderr, "\n===== kubectl %v =====\n%s", args, out)
	}
	fmt.Fprint(os.Stderr, e.stack.DumpLogs(100))
}
