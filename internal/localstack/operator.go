package localstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localcluster"
)

// startOperator runs the operator locally with the chart Deployment's
// arguments, as the chart's ServiceAccount.
func (s *Stack) startOperator(ctx context.Context, _ Options) error {
	deployment, err := s.chartDeployment(ctx)
	if err != nil {
		return err
	}
	pod := deployment.Spec.Template.Spec
	serviceAccount := fmt.Sprintf("system:serviceaccount:%s:%s", Namespace, pod.ServiceAccountName)
	s.OperatorKubeconfig = filepath.Join(s.dir, "operator.kubeconfig")
	if err := writeImpersonatingKubeconfig(s.Cluster.Kubeconfig, s.OperatorKubeconfig, serviceAccount); err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	receiver, metrics, probes := ports[0], ports[1], ports[2]
	s.operatorArgs = localArgs(pod.Containers[0].Args, map[string]string{
		"--receiver-bind-address":     receiver,
		"--metrics-bind-address":      metrics,
		"--health-probe-bind-address": probes,
	})
	s.probesURL = "http://" + probes + "/readyz"
	s.receiverAddress = receiver
	s.logf("Starting the operator as %s", serviceAccount)
	if err := s.runOperator(ctx); err != nil {
		return err
	}
	s.ReceiverURL = "http://" + receiver + "/koogallery/" + Product
	s.MetricsURL = "http://" + metrics + "/metrics"
	return s.waitFor(ctx, "the operator to read the product's keys", s.productKeysAvailable)
}

// runOperator starts the operator process and waits until it is ready.
func (s *Stack) runOperator(ctx context.Context) error {
	p, err := localcluster.StartProcess("kooper", s.LogDir(), s.Binary("kooper"), s.operatorArgs, "KUBECONFIG="+s.OperatorKubeconfig)
	if err != nil {
		return err
	}
	s.operator = p
	if err := s.waitFor(ctx, "the operator to be ready", httpOK(s.probesURL)); err != nil {
		return err
	}
	// The readiness probe answers before the receiver, another runnable,
	// has bound its port: a callback sent at once was refused.
	return s.waitFor(ctx, "the receiver to listen", listening(s.receiverAddress))
}

// RestartOperator stops the operator and starts it again with the same
// arguments and addresses, as a pod restart does. It returns once the new
// process answers its readiness probe; its log replaces the old one.
func (s *Stack) RestartOperator(ctx context.Context) error {
	if s.operator == nil {
		return fmt.Errorf("the operator is not running")
	}
	if err := s.operator.Stop(30 * time.Second); err != nil {
		return err
	}
	s.operator = nil
	return s.runOperator(ctx)
}

// Reinstall installs the chart again, after a helm uninstall, and starts
// the operator from it, as a merchant reinstalling kooper does. The
// operator's addresses change; ReceiverURL and MetricsURL follow.
func (s *Stack) Reinstall(ctx context.Context) error {
	if s.operator != nil {
		if err := s.operator.Stop(30 * time.Second); err != nil {
			return err
		}
		s.operator = nil
	}
	if err := s.installChart(ctx, Options{}); err != nil {
		return err
	}
	return s.startOperator(ctx, Options{})
}

// OperatorPID is the operator's process ID, for reading /proc; 0 when it
// is not running.
func (s *Stack) OperatorPID() int {
	if s.operator == nil {
		return 0
	}
	return s.operator.PID()
}

// chartDeployment finds the Deployment the chart installed.
func (s *Stack) chartDeployment(ctx context.Context) (*appsv1.Deployment, error) {
	list := &appsv1.DeploymentList{}
	if err := s.Client.List(ctx, list, client.InNamespace(Namespace),
		client.MatchingLabels{"app.kubernetes.io/instance": Release}); err != nil {
		return nil, err
	}
	if len(list.Items) != 1 || len(list.Items[0].Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("expected one Deployment of release %s in %s, found %d", Release, Namespace, len(list.Items))
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

// writeImpersonatingKubeconfig copies the admin kubeconfig and makes every
// request act as user: the API server then authorises with that user's
// RBAC alone.
func writeImpersonatingKubeconfig(from, to, user string) error {
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		return err
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
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

// listening reports whether something accepts connections at address.
func listening(address string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", address)
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
