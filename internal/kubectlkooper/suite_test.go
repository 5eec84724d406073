package kubectlkooper

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
	"github.com/kooper-io/kooper/webhook"
)

// kooperNamespace is kooper's namespace in these tests: the real receiver
// runs there (as in production, in this process), reading products' keys.
const kooperNamespace = "kooper-test"

var (
	testEnv     *testenv.Env
	k8sClient   client.Client
	kubeconfig  string // a merchant's kubeconfig, file path
	receiverURL string // the receiver's base URL, e.g. http://127.0.0.1:41234
	// pendingReceiverURL is the base URL of a second receiver, set up as
	// the chart's receiver.pendingResultCode "000004" sets it up: it
	// answers 000004 while a tenant is provisioning.
	pendingReceiverURL string
	seq                atomic.Int64
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(false)))
	os.Exit(testenv.RunTests(m, setup))
}

// setup writes a kubeconfig for the plugin and starts the receiver.
func setup(ctx context.Context, env *testenv.Env) error {
	testEnv = env
	var err error
	if k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		return err
	}
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kooperNamespace}}); err != nil {
		return err
	}
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "merchant", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kubectl-kooper-test")
	if err != nil {
		return err
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		return err
	}
	return startReceiver(ctx, env)
}

// startReceiver runs the receiver as main.go does, on a manager of its
// own, and beside it a receiver with --pending-result-code=000004.
func startReceiver(ctx context.Context, env *testenv.Env) error {
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{kooperNamespace: {}}},
		}},
	})
	if err != nil {
		return err
	}
	opts := webhook.DefaultOptions()
	opts.Namespace, opts.DirectoryNamespace = kooperNamespace, kooperNamespace+"-directory"
	serverOpts := webhook.DefaultServerOptions()
	serverOpts.Addr = "127.0.0.1:0"
	_, server, err := webhook.Setup(mgr, opts, serverOpts)
	if err != nil {
		return err
	}
	pendingOpts := opts
	pendingOpts.PendingResultCode = koogallery.ResultProcessing
	_, pendingServer, err := webhook.Setup(mgr, pendingOpts, serverOpts)
	if err != nil {
		return err
	}
	if receiverURL, err = testenv.StartServing(ctx, mgr, server.Addr); err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	addr, err := pendingServer.Addr(waitCtx)
	if err != nil {
		return err
	}
	pendingReceiverURL = "http://" + addr.String()
	return nil
}

// result is one run of the plugin.
type result struct {
	code        int
	out, errOut string
}

// output is both streams, for assertions on what a person sees.
func (r result) output() string { return r.out + r.errOut }

// kooper runs the plugin with the test kubeconfig and kooper's namespace.
func kooper(args ...string) result {
	return kooperAt(time.Now, "", args...)
}

// kooperAt runs the plugin with a clock and stdin.
func kooperAt(now func() time.Time, stdin string, args ...string) result {
	return kooperWith(now, stdin, append([]string{"-n", kooperNamespace}, args...)...)
}

// kooperWith runs the plugin with the test kubeconfig only.
func kooperWith(now func() time.Time, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	all := append([]string{"--kubeconfig", kubeconfig}, args...)
	code := Run(context.Background(), all, Options{
		Streams: genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut},
		Now:     now, Version: "v0.0.0-test",
	})
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// basicKey is every test product's basicKey.
const basicKey = "test-basic-key"

// newProduct creates a SaaS product with a complete keys Secret in
// kooper's namespace; its name starts with prefix.
func newProduct(t *testing.T, prefix string) *saasv1alpha1.SaaSProduct {
	t.Helper()
	g := NewWithT(t)
	name := fmt.Sprintf("%s-%d", prefix, seq.Add(1))
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: name + "-keys"},
		StringData: map[string]string{saasv1alpha1.BasicKeySecretKey: basicKey,
			saasv1alpha1.AccessKeyIDSecretKey: "ak", saasv1alpha1.SecretAccessKeySecretKey: "sk"},
	}
	g.Expect(k8sClient.Create(ctxFor(t), secret)).To(Succeed())
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI846204237451911168", Type: saasv1alpha1.ProductTypeSaaS, KeysSecretName: secret.Name,
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic"}},
			URLs:  &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.app.example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/app:1.0",
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}}},
		},
	}
	g.Expect(k8sClient.Create(ctxFor(t), product)).To(Succeed())
	return product
}

// newTenant creates a tenant of product in state, and writes status.
func newTenant(t *testing.T, product string, state saasv1alpha1.SubscriptionState, status saasv1alpha1.SaaSTenantStatus) *saasv1alpha1.SaaSTenant {
	t.Helper()
	g := NewWithT(t)
	n := seq.Add(1)
	name := fmt.Sprintf("i-test%012d", n)
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: name, ProductName: product, OrderID: fmt.Sprintf("ORDER%d", n),
			OrderLineID: fmt.Sprintf("ORDER%d-1", n), State: state},
	}
	g.Expect(k8sClient.Create(ctxFor(t), tenant)).To(Succeed())
	tenant.Status = status
	g.Expect(k8sClient.Status().Update(ctxFor(t), tenant)).To(Succeed())
	return tenant
}
