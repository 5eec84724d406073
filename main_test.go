package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kooper-io/kooper/internal/testenv"
)

var env *testenv.Env

// capturedLogs is everything the operators these tests run have logged:
// kooper's logger as main sets it (newLogger), in development mode, at the
// highest verbosity (-zap-log-level=10). TestNoPersonalData greps it.
var capturedLogs = &syncBuffer{}

func TestMain(m *testing.M) {
	if os.Getenv(printSystemRootsEnv) == "1" {
		printSystemRootsAndExit()
	}
	ctrl.SetLogger(newLogger(&zap.Options{Development: true, Level: zapcore.Level(-10), DestWriter: capturedLogs}))
	code := testenv.RunTests(m, func(_ context.Context, e *testenv.Env) error {
		env = e
		return nil
	})
	removeBuiltOperator()
	os.Exit(code)
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestOperatorServesProbesMetricsAndReceiverAndTakesTheLease runs the
// operator as main.go wires it, against a real API server.
func TestOperatorServesProbesMetricsAndReceiverAndTakesTheLease(t *testing.T) {
	g := NewWithT(t)
	k8sClient, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	// A generated name: with -count=2 the test runs again against the same
	// API server, which never removes a namespace (no namespace controller).
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-main-test-"}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())

	o := options{
		metricsAddr: freeAddr(t), probeAddr: freeAddr(t), receiverAddr: freeAddr(t),
		leaderElect: true, namespace: ns.Name, leaderElectionNS: ns.Name,
		components: componentSet{componentReceiver: true, componentControllers: true},
		kubeAPIQPS: 50, kubeAPIBurst: 100,
		signatureWindow: time.Minute, bodySign: true, pendingResultCode: "000000",
		// With -count=2 the other tests' managers (and this test's first
		// run) registered the same controllers in this process already.
		skipNameValidation: true,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env.Config, o) }()
	defer func() {
		cancel()
		g.Eventually(done).Should(Receive(BeNil()))
	}()

	for _, path := range []string{"/healthz", "/readyz"} {
		g.Eventually(func() (int, error) {
			code, _, err := get(fmt.Sprintf("http://%s%s", o.probeAddr, path))
			return code, err
		}).Should(Equal(http.StatusOK), path)
	}
	g.Eventually(func() (string, error) {
		_, body, err := get(fmt.Sprintf("http://%s/metrics", o.metricsAddr))
		return body, err
	}).Should(ContainSubstring("controller_runtime_reconcile_total"))
	_, body, err := get(fmt.Sprintf("http://%s/metrics", o.metricsAddr))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(body).To(ContainSubstring(`kooper_api_requests_total{resource="coordination.k8s.io/leases"`), "API requests by verb and resource")
	code, _, err := get(fmt.Sprintf("http://%s/debug/pprof/heap", o.metricsAddr))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusNotFound), "no profiles without --profiling")
	g.Eventually(func() (string, error) {
		_, body, err := get(fmt.Sprintf("http://%s/koogallery/crm", o.receiverAddr))
		return body, err
	}).Should(ContainSubstring(`"resultCode":"000002"`), "the receiver must answer callbacks")

	g.Eventually(func(g Gomega) {
		lease := &coordinationv1.Lease{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: "kooper.saas.kooper.io"}, lease)).To(Succeed())
		g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
	}).Should(Succeed())
}

// A receiver-only process (the chart's receiver Deployment) answers
// callbacks, is ready once it listens, and never takes the controllers'
// Lease; a controllers-only process serves no callbacks.
func TestEachComponentRunsAlone(t *testing.T) {
	g := NewWithT(t)
	k8sClient, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-components-test-"}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	base := options{
		leaderElect: true, namespace: ns.Name, leaderElectionNS: ns.Name, kubeAPIQPS: 50, kubeAPIBurst: 100,
		signatureWindow: time.Minute, bodySign: true, pendingResultCode: "000000",
		skipNameValidation: true, // the other test's manager registered the same controllers
	}
	start := func(components componentSet) options {
		o := base
		o.metricsAddr, o.probeAddr, o.receiverAddr, o.components = freeAddr(t), freeAddr(t), freeAddr(t), components
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, env.Config, o) }()
		t.Cleanup(func() {
			cancel()
			g.Eventually(done).WithTimeout(time.Minute).Should(Receive(BeNil()))
		})
		g.Eventually(func() (int, error) {
			code, _, err := get(fmt.Sprintf("http://%s/readyz", o.probeAddr))
			return code, err
		}).WithTimeout(time.Minute).Should(Equal(http.StatusOK))
		return o
	}

	receiver := start(componentSet{componentReceiver: true})
	_, body, err := get(fmt.Sprintf("http://%s/koogallery/crm", receiver.receiverAddr))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(body).To(ContainSubstring(`"resultCode":"000002"`))
	lease := &coordinationv1.Lease{}
	g.Consistently(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns.Name, Name: "kooper.saas.kooper.io"}, lease))
	}).Should(BeTrue(), "the receiver is not leader-elected")

	controllersOnly := start(componentSet{componentControllers: true})
	_, _, err = get(fmt.Sprintf("http://%s/koogallery/crm", controllersOnly.receiverAddr))
	g.Expect(err).To(HaveOccurred(), "no receiver listens")
	g.Eventually(func() error {
		return k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns.Name, Name: "kooper.saas.kooper.io"}, lease)
	}).WithTimeout(time.Minute).Should(Succeed(), "the controllers are leader-elected")
}

func TestComponentsFlag(t *testing.T) {
	for _, tc := range []struct {
		value, want string
		fails       bool
	}{
		{value: "receiver", want: "receiver"},
		{value: "controllers", want: "controllers"},
		{value: "controllers, receiver", want: "receiver,controllers"},
		{value: "", fails: true},
		{value: "webhook", fails: true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			g := NewWithT(t)
			c := componentSet{}
			err := c.Set(tc.value)
			if tc.fails {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.String()).To(Equal(tc.want))
		})
	}
}

// With --metrics-secure the metrics answer over HTTPS only to a caller the
// API server authenticates and authorises for GET /metrics: no token is
// refused (401), a ServiceAccount's token without the metrics-reader rule
// is forbidden (403), and one bound to it reads the metrics.
func TestSecureMetricsNeedAnAuthorisedToken(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	k8sClient, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-secure-metrics-test-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())

	o := options{
		metricsAddr: freeAddr(t), metricsSecure: true, profiling: true, probeAddr: freeAddr(t), receiverAddr: freeAddr(t),
		namespace: ns.Name, components: componentSet{componentReceiver: true}, kubeAPIQPS: 50, kubeAPIBurst: 100,
		signatureWindow: time.Minute, bodySign: true, pendingResultCode: "000000", skipNameValidation: true,
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, env.Config, o) }()
	defer func() {
		cancel()
		g.Eventually(done).WithTimeout(time.Minute).Should(Receive(BeNil()))
	}()

	token := func(name string) string {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name}}
		g.Expect(k8sClient.Create(ctx, sa)).To(Succeed())
		tr := &authenticationv1.TokenRequest{}
		g.Expect(k8sClient.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
		return tr.Status.Token
	}
	scraper, stranger := token("scraper"), token("stranger")
	reader := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-secure-metrics-test-reader-"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	g.Expect(k8sClient.Create(ctx, reader)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: reader.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns.Name, Name: "scraper"}}})).To(Succeed())

	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the self-signed certificate
	fetch := func(token, path string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+o.metricsAddr+path, nil)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpsClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	scrape := func(token string) (int, string, error) { return fetch(token, "/metrics") }
	g.Eventually(func() (int, error) {
		code, _, err := scrape("")
		return code, err
	}).WithTimeout(time.Minute).Should(Equal(http.StatusUnauthorized), "no token")
	code, _, err := scrape("not-a-token")
	g.Expect(err).NotTo(HaveOccurred())
	// controller-runtime's filter answers 500 when the TokenReview itself
	// fails, as it does for a token that is not a JWT: refused either way.
	g.Expect(code).To(BeElementOf(http.StatusUnauthorized, http.StatusInternalServerError), "a token the API server does not know")
	code, _, err = scrape(stranger)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusForbidden), "a token without get on /metrics")
	g.Eventually(func() (string, error) {
		code, body, err := scrape(scraper)
		if code != http.StatusOK {
			return fmt.Sprint(code, body), err
		}
		return body, err
	}).Should(ContainSubstring("go_goroutines"), "a token bound to get on /metrics")
	code, body, _ := get("http://" + o.metricsAddr + "/metrics")
	g.Expect(code).To(Equal(http.StatusBadRequest), "no plain HTTP")
	g.Expect(body).NotTo(ContainSubstring("go_goroutines"))
	// --profiling serves the profiles behind the same checks: a token
	// allowed only /metrics may not read them.
	code, _, err = fetch(scraper, "/debug/pprof/heap")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusForbidden), "a token allowed /metrics only")
	code, _, err = fetch("", "/debug/pprof/heap")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusUnauthorized), "no token")
}

// The test-only metering flags parse, and -help does not list them.
func TestTestOnlyFlagsParseButAreLeftOutOfHelp(t *testing.T) {
	g := NewWithT(t)
	fs := flag.NewFlagSet("kooper", flag.ContinueOnError)
	var help strings.Builder
	fs.SetOutput(&help)
	o := options{}
	fs.StringVar(&o.namespace, "namespace", "kooper-system", "kooper's own namespace.")
	bindTestOnlyFlags(fs, &o)

	g.Expect(fs.Parse([]string{"--metering-clock-offset=42m", "--metering-push-spread=20s"})).To(Succeed())
	g.Expect(o.meteringClockOffset).To(Equal(42 * time.Minute))
	g.Expect(o.meteringPushSpread).To(Equal(20 * time.Second))

	g.Expect(fs.Parse([]string{"-help"})).To(MatchError(flag.ErrHelp))
	g.Expect(help.String()).To(ContainSubstring("-namespace"))
	g.Expect(help.String()).NotTo(ContainSubstring("metering"))
}

// A controllers process whose --prometheus-http-config-file is missing or
// invalid does not start, and says which flag and file are wrong; the file
// is read before any controller runs.
func TestBadPrometheusHTTPConfigFileFailsStartUp(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "http-config.yaml")
	if err := os.WriteFile(invalid, []byte("bearer_tokn_file: /token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{invalid, filepath.Join(dir, "missing.yaml")} {
		g := NewWithT(t)
		o := options{
			metricsAddr: "0", probeAddr: "0", namespace: "kooper-system", kubeAPIQPS: 50, kubeAPIBurst: 100,
			components:           componentSet{componentControllers: true},
			prometheusHTTPConfig: file, skipNameValidation: true,
		}
		err := run(context.Background(), env.Config, o)
		g.Expect(err).To(MatchError(And(ContainSubstring("--prometheus-http-config-file"), ContainSubstring(file))))
	}
}

// The operator's requests do not ask the API server to compress its
// answers unless --kube-api-compression does: compressing a list of 10,000
// tenants costs both sides CPU that the cluster's network does not need.
func TestAPIResponsesAreNotCompressedUnlessAsked(t *testing.T) {
	g := NewWithT(t)
	encodings := make(chan string, 1)
	// TLS, as an API server serves: client-go drops DisableCompression for
	// a plain-HTTP server, to which it talks through http.DefaultTransport.
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings <- r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	defer server.Close()
	acceptEncoding := func(compression bool) string {
		cfg, err := options{kubeAPIQPS: 10, kubeAPIBurst: 20, kubeAPICompression: compression}.apiClientConfig(&rest.Config{Host: server.URL,
			TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cfg.QPS).To(BeNumerically("==", 10))
		g.Expect(cfg.Burst).To(Equal(20))
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = dc.ServerVersion()
		g.Expect(err).NotTo(HaveOccurred())
		return <-encodings
	}
	g.Expect(acceptEncoding(false)).NotTo(ContainSubstring("gzip"), "the default")
	g.Expect(acceptEncoding(true)).To(ContainSubstring("gzip"), "with --kube-api-compression")
}

// By default the operator's clients have no client-side rate limiter, so
// the API server's Priority and Fairness alone paces them: the chart's
// 200 a second of 2026-12-02 held provisioning to about 16 tenants a
// second once the API server could do more. A positive --kube-api-qps
// still sets a limiter, and 0 (client-go's "use my default of 5") is
// refused.
func TestTheOperatorsClientsHaveNoClientSideLimitUnlessAsked(t *testing.T) {
	g := NewWithT(t)
	limiter := func(qps float64) (flowcontrol.RateLimiter, error) {
		cfg, err := options{kubeAPIQPS: qps, kubeAPIBurst: 100}.apiClientConfig(&rest.Config{Host: "https://127.0.0.1:1"})
		if err != nil {
			return nil, err
		}
		c, err := rest.RESTClientFor(withCoreV1(cfg))
		g.Expect(err).NotTo(HaveOccurred())
		return c.GetRateLimiter(), nil
	}

	none, err := limiter(defaultKubeAPIQPS)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(none).To(BeNil(), "the default sets no limiter")

	some, err := limiter(200)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(some).NotTo(BeNil(), "--kube-api-qps=200")
	g.Expect(some.QPS()).To(BeNumerically("==", 200))

	_, err = limiter(0)
	g.Expect(err).To(MatchError(errZeroKubeAPIQPS))
}

// withCoreV1 gives cfg what rest.RESTClientFor needs of a group version.
func withCoreV1(cfg *rest.Config) *rest.Config {
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	return cfg
}

// TestNamespacesTheChartRefusesAreRefusedByTheBinaryToo: kooper run by hand
// or by another tool than the chart took --namespace=kube-system (the
// controllers' Secret writes there) and a directory namespace equal to its
// own (the receiver's Secret writes beside the keys) or kube-system; the
// chart refuses each, the binary now does as well, before it starts.
func TestNamespacesTheChartRefusesAreRefusedByTheBinaryToo(t *testing.T) {
	for _, tc := range []struct {
		namespace, directory, refusal string
	}{
		{"kube-system", "kooper-directory", "--namespace=kube-system"},
		{"kooper-system", "kube-system", "--directory-namespace=kube-system"},
		{"kooper-system", "kube-public", "--directory-namespace=kube-public"},
		{"kooper-system", "default", "--directory-namespace=default"},
		{"kooper-system", "kooper-system", "--directory-namespace must differ from --namespace"},
	} {
		t.Run(tc.namespace+" "+tc.directory, func(t *testing.T) {
			g := NewWithT(t)
			o := options{namespace: tc.namespace, directoryNamespace: tc.directory}
			err := run(context.Background(), &rest.Config{Host: "https://127.0.0.1:1"}, o)
			g.Expect(err).To(MatchError(ContainSubstring(tc.refusal)))
		})
	}
	g := NewWithT(t)
	g.Expect(options{namespace: "kooper-system", directoryNamespace: "kooper-system-directory"}.checkNamespaces()).To(Succeed())
	g.Expect(options{namespace: "default", directoryNamespace: "default-directory"}.checkNamespaces()).To(Succeed(),
		"the chart installs into default too")
}

// forwardTo makes the API server reachable at addr again, as it is when it
// comes back after an outage: it listens on addr and copies each
// connection to and from target (host:port). Everything stops with the
// test.
func forwardTo(t *testing.T, addr, target string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			t.Cleanup(func() { _ = in.Close(); _ = out.Close() })
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
}

// stillRunning fails g's attempt for good when run has returned: a process
// that exits while the API server is down is restarted by the kubelet with
// a back-off that reaches 5 minutes.
func stillRunning(done <-chan error) {
	select {
	case err := <-done:
		StopTrying("run returned while the API server was down").Wrap(fmt.Errorf("%v", err)).Now()
	default:
	}
}

// TestAProcessStartedWhileTheAPIServerIsDownStartsWhenItComesBack: a
// controllers process started during a kube-apiserver outage (the leader
// lost its Lease and exited, and the kubelet restarted it) exited at once,
// so each restart failed again and the kubelet's back-off grew to 5
// minutes: after the outage the controllers stayed down for up to that
// long. It now waits for the API server, answering /healthz (so the
// liveness probe does not restart it either) but not /readyz, and starts
// the moment the API server answers.
func TestAProcessStartedWhileTheAPIServerIsDownStartsWhenItComesBack(t *testing.T) {
	g := NewWithT(t)
	k8sClient, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-outage-test-"}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	apiServer := freeAddr(t) // nothing listens there yet: the API server is down
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + apiServer
	o := options{
		metricsAddr: freeAddr(t), probeAddr: freeAddr(t), receiverAddr: freeAddr(t),
		leaderElect: true, namespace: ns.Name, leaderElectionNS: ns.Name, kubeAPIQPS: 50, kubeAPIBurst: 100,
		components:         componentSet{componentControllers: true},
		skipNameValidation: true, // the other tests' managers registered the same controllers
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, o) }()
	defer func() {
		cancel()
		g.Eventually(done).WithTimeout(time.Minute).Should(Receive(BeNil()))
	}()

	probe := func(path string) func() (int, error) {
		return func() (int, error) {
			code, _, err := get(fmt.Sprintf("http://%s%s", o.probeAddr, path))
			return code, err
		}
	}
	g.Eventually(func(g Gomega) {
		stillRunning(done)
		g.Expect(probe("/healthz")()).To(Equal(http.StatusOK))
	}).Should(Succeed(), "alive while it waits for the API server")
	g.Expect(probe("/readyz")()).NotTo(Equal(http.StatusOK), "not ready before the API server answers")

	u, err := url.Parse(env.Config.Host)
	g.Expect(err).NotTo(HaveOccurred())
	forwardTo(t, apiServer, u.Host)
	g.Eventually(probe("/readyz")).WithTimeout(time.Minute).Should(Equal(http.StatusOK), "ready once the API server is back")
	g.Eventually(func(g Gomega) {
		lease := &coordinationv1.Lease{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: "kooper.saas.kooper.io"}, lease)).To(Succeed())
		g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
	}).WithTimeout(time.Minute).Should(Succeed(), "the controllers lead")
}

// A process told to stop while it waits for the API server (a rollout, a
// drain) stops at once and cleanly, as it does once started.
func TestAProcessToldToStopWhileTheAPIServerIsDownStopsCleanly(t *testing.T) {
	g := NewWithT(t)
	o := options{
		metricsAddr: "0", probeAddr: freeAddr(t), namespace: "kooper-system", kubeAPIQPS: 50, kubeAPIBurst: 100,
		components: componentSet{componentControllers: true}, skipNameValidation: true,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, &rest.Config{Host: "https://" + freeAddr(t)}, o) }()
	g.Eventually(func(g Gomega) {
		stillRunning(done)
		code, _, err := get(fmt.Sprintf("http://%s/healthz", o.probeAddr))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusOK))
	}).Should(Succeed())
	cancel()
	g.Eventually(done).Should(Receive(BeNil()))
}
