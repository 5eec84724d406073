package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
	"github.com/kooper-io/kooper/webhook"
)

// The simulator is tested against the real kooper receiver: on a manager
// shaped like main.go's, behind its HTTP server, against a real API server.
// No tenant controller runs; tests that need a serving tenant fake it.
const operatorNamespace = "kooper-sim-test"

// productKey is the test products' basic key: distinctive, so a test can
// check that no output ever contains it.
const productKey = "sim-basic-key-Zq81xW"

var (
	k8sClient   client.Client
	receiverURL string
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	// With -artifacts, m.Run exits at once (os.Exit, past RunTests's
	// deferred envtest stop) when it cannot make <outputdir>/_artifacts:
	// the directory is made before envtest starts, or the run ends here.
	flag.Parse()
	if err := ensureOutputDir(flag.Lookup("test.artifacts").Value.String() == "true", flag.Lookup("test.outputdir").Value.String()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(testenv.RunTests(m, startReceiver))
}

// ensureOutputDir makes the -outputdir that -artifacts writes to, when it
// is missing (go test needs it to exist).
func ensureOutputDir(artifacts bool, outputDir string) error {
	if !artifacts || outputDir == "" {
		return nil
	}
	if err := os.MkdirAll(outputDir, 0o755); err != nil {
		return fmt.Errorf("-outputdir %s cannot be made: %w", outputDir, err)
	}
	return nil
}

// startReceiver starts a manager with kooper's receiver on a loopback port.
func startReceiver(ctx context.Context, env *testenv.Env) error {
	var err error
	if k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		return err
	}
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{operatorNamespace: {}}},
		}},
	})
	if err != nil {
		return err
	}
	opts := webhook.DefaultOptions()
	opts.Namespace = operatorNamespace
	serverOpts := webhook.DefaultServerOptions()
	serverOpts.Addr = "127.0.0.1:0"
	_, server, err := webhook.Setup(mgr, opts, serverOpts)
	if err != nil {
		return err
	}
	receiverURL, err = testenv.StartServing(ctx, mgr, server.Addr)
	return err
}

var productSeq atomic.Int64

// newProduct creates a SaaS product with its keys Secret in the operator
// namespace and returns its production URL.
func newProduct(t *testing.T) (name, productionURL string) {
	t.Helper()
	return newProductOfType(t, saasv1alpha1.ProductTypeSaaS)
}

// newProductOfType creates a SaaS or License product with two plans, the
// mock SKU and "pro".
func newProductOfType(t *testing.T, productType saasv1alpha1.ProductType) (name, productionURL string) {
	t.Helper()
	g := NewWithT(t)
	name = fmt.Sprintf("sim-product-%d", productSeq.Add(1))
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name + "-keys"},
		StringData: map[string]string{
			saasv1alpha1.BasicKeySecretKey:        productKey,
			saasv1alpha1.AccessKeyIDSecretKey:     defaultAccessKeyID,
			saasv1alpha1.SecretAccessKeySecretKey: defaultSecretAccessKey,
			saasv1alpha1.KitKeySecretKey:          productKitKey,
			saasv1alpha1.RSAPrivateKeySecretKey:   string(merchantKeyPEM(t)),
		},
	}
	g.Expect(k8sClient.Create(ctxFor(t), secret)).To(Succeed())
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: mockProductID, Type: productType, KeysSecretName: secret.Name,
			Plans: []saasv1alpha1.Plan{{SKUCode: mockSKU}, {SKUCode: "pro"}},
		},
	}
	if productType == saasv1alpha1.ProductTypeLicense {
		for i := range product.Spec.Plans {
			product.Spec.Plans[i].License = &saasv1alpha1.LicenseTerms{Features: []string{"export"}}
		}
	} else {
		product.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.app.example.com"}
		product.Spec.Workload = &saasv1alpha1.WorkloadTemplate{
			Image: "registry.example.com/app:1.0",
			Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
		}
	}
	g.Expect(k8sClient.Create(ctxFor(t), product)).To(Succeed())
	return name, receiverURL + webhook.CallbackPathPrefix + name
}

// tenantsOf lists the product's tenants.
func tenantsOf(t *testing.T, product string) []saasv1alpha1.SaaSTenant {
	t.Helper()
	list := &saasv1alpha1.SaaSTenantList{}
	NewWithT(t).Expect(k8sClient.List(ctxFor(t), list, client.MatchingLabels{saasv1alpha1.ProductLabel: product})).To(Succeed())
	return list.Items
}

// makeServing stands in for the tenant controller, as webhook's tests do:
// it gives the tenant a namespace, a credentials Secret, URLs and Ready=True.
func makeServing(t *testing.T, tenant saasv1alpha1.SaaSTenant) {
	t.Helper()
	g := NewWithT(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-" + tenant.Name}}
	g.Expect(k8sClient.Create(ctxFor(t), ns)).To(Succeed())
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "kooper-credentials"},
		StringData: map[string]string{saasv1alpha1.CredentialsUsernameKey: "admin", saasv1alpha1.CredentialsPasswordKey: "s3cret-P4ss"},
	}
	g.Expect(k8sClient.Create(ctxFor(t), creds)).To(Succeed())
	// The controller's copy in kooper's namespace, which the receiver reads.
	copied := creds.DeepCopy()
	copied.ObjectMeta = metav1.ObjectMeta{Namespace: operatorNamespace, Name: saasv1alpha1.CredentialsCopyName(tenant.Name)}
	g.Expect(k8sClient.Create(ctxFor(t), copied)).To(Succeed())
	tenant.Status.Namespace = ns.Name
	tenant.Status.CredentialsSecretName = creds.Name
	tenant.Status.FrontEndURL = "https://" + tenant.Name + ".app.example.com"
	apimeta.SetStatusCondition(&tenant.Status.Conditions, metav1.Condition{
		Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.SucceededReason, Message: "ready"})
	g.Expect(k8sClient.Status().Update(ctxFor(t), &tenant)).To(Succeed())
}

// ctxFor is a context that ends with the test.
func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is the outcome of one command line.
type result struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs a command line in-process with the given environment.
func runCLI(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr syncBuffer
	code := runCLIWith(ctx, env, &stdout, &stderr, args...)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runCLIWith runs a command line writing to the given buffers.
func runCLIWith(ctx context.Context, env map[string]string, stdout, stderr *syncBuffer, args ...string) int {
	getenv := func(name string) string { return env[name] }
	return run(ctx, args, newCLI(getenv, stdout, stderr))
}

// keyEnv is an environment that supplies the key, as the README advises.
func keyEnv() map[string]string {
	return map[string]string{envKey: productKey}
}

// combined is stdout and stderr, for assertions on everything printed.
func (r result) combined() string {
	return strings.Join([]string{r.stdout, r.stderr}, "\n")
}
