package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// parse parses args as kooper's command line, the flag package's output
// (its error and usage) discarded.
func parse(args ...string) (options, error) {
	fs := flag.NewFlagSet("kooper", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseArgs(fs, args)
}

// TestURLFlagsNeedASchemeAndAHostAtParsing: --marketplace-url and
// --prometheus-url were taken as given, so a URL without its scheme
// (mkt.myhuaweicloud.com) started, and every Query Order or Prometheus
// query failed later, far from the flag. Each is now refused at parsing
// with its flag named; http stays allowed for the marketplace simulator
// (hack/marketplace-sim, internal/localstack) and an in-cluster Prometheus.
func TestURLFlagsNeedASchemeAndAHostAtParsing(t *testing.T) {
	for _, tc := range []struct {
		flag, value string
		refused     bool
	}{
		{"marketplace-url", "https://mkt.myhuaweicloud.com", false},
		{"marketplace-url", "http://127.0.0.1:9099", false},
		{"marketplace-url", "https://mkt.example.com/base/", false},
		{"marketplace-url", "mkt.myhuaweicloud.com", true},
		{"marketplace-url", "mkt.myhuaweicloud.com:443", true},
		{"marketplace-url", "https://", true},
		{"marketplace-url", "https:///open-api", true},
		{"marketplace-url", "ftp://mkt.myhuaweicloud.com", true},
		{"marketplace-url", "", true},
		{"prometheus-url", "http://prometheus.monitoring:9090", false},
		{"prometheus-url", "https://aom.cn-north-4.myhuaweicloud.com/v1/0123456789abcdef", false},
		{"prometheus-url", "", false}, // none: meters name their own
		{"prometheus-url", "prometheus.monitoring:9090", true},
		{"prometheus-url", "http://", true},
		{"prometheus-url", "tcp://prometheus.monitoring:9090", true},
		{"prometheus-credentials-urls", "https://aom.cn-north-4.myhuaweicloud.com/v1/p1,https://aom.cn-east-3.myhuaweicloud.com/v1/p2", false},
		{"prometheus-credentials-urls", "https://aom.cn-north-4.myhuaweicloud.com,aom.cn-east-3.myhuaweicloud.com", true},
	} {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			g := NewWithT(t)
			o, err := parse(fmt.Sprintf("--%s=%s", tc.flag, tc.value))
			if tc.refused {
				g.Expect(err).To(MatchError(ContainSubstring("-" + tc.flag)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			switch tc.flag {
			case "marketplace-url":
				g.Expect(o.marketplaceURLs).To(Equal([]string{tc.value}))
			case "prometheus-credentials-urls":
				g.Expect(o.prometheusCredentialed).To(Equal(strings.Split(tc.value, ",")))
			default:
				g.Expect(o.prometheusURL).To(Equal(tc.value))
			}
		})
	}
}

// TestSignatureWindowFlagRefusesAWindowThatRefusesCallbacksSentInTime:
// --signature-window=0s started the process, whose receiver then stopped
// with "signature window must be positive" without naming the flag, and
// 1ms started a receiver that refused every callback. The marketplace's
// sample merchant accepts a timestamp up to 60 s old (spec 2.1.2 step 3),
// so a window under 60 s refuses callbacks the marketplace sent in time.
func TestSignatureWindowFlagRefusesAWindowThatRefusesCallbacksSentInTime(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration
		refused bool
	}{
		{value: "60s", want: time.Minute},
		{value: "2m", want: 2 * time.Minute},
		{value: "1m30s", want: 90 * time.Second},
		{value: "0s", refused: true},
		{value: "-1m", refused: true},
		{value: "1ms", refused: true},
		{value: "59s", refused: true},
		{value: "a minute", refused: true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			g := NewWithT(t)
			o, err := parse("--signature-window=" + tc.value)
			if tc.refused {
				g.Expect(err).To(MatchError(ContainSubstring("-signature-window")))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(o.signatureWindow).To(Equal(tc.want))
		})
	}
	g := NewWithT(t)
	o, err := parse()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.signatureWindow).To(Equal(time.Minute), "the default")
	g.Expect(o.receiverOptions().Validate()).To(Succeed())
}

// TestAControllersProcessIsReadyOnlyOnceItsCacheSynced: a controllers
// process was Ready (healthz.Ping) a few seconds after it started, so a
// rolling update stopped the old leader before the new pod had listed its
// tenants. Here the process runs as a user who may not list kooper's kinds
// at first, so its cache cannot sync: it must stay unready (while alive),
// where it was ready at once, and become ready once it may list them.
func TestAControllersProcessIsReadyOnlyOnceItsCacheSynced(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	k8sClient, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	// A generated name: with -count=2 the test runs again against the same
	// API server, which never removes a namespace (no namespace controller).
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-cache-sync-test-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	const user = "kooper-cache-sync-test"
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	o := options{
		metricsAddr: "0", probeAddr: freeAddr(t), namespace: ns.Name,
		components: componentSet{componentControllers: true}, kubeAPIQPS: 50, kubeAPIBurst: 100,
		skipNameValidation: true,
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, cfg, o) }()
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
	g.Eventually(probe("/healthz")).Should(Equal(http.StatusOK), "the process serves its probes")
	g.Consistently(probe("/readyz")).WithTimeout(5*time.Second).Should(Equal(http.StatusInternalServerError),
		"not ready while its cache cannot list the tenants")

	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}}
	g.Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	defer func() { g.Expect(k8sClient.Delete(ctx, binding)).To(Succeed()) }()
	g.Eventually(probe("/readyz")).WithTimeout(time.Minute).Should(Equal(http.StatusOK), "ready once its cache synced")
}

// TestRenewalRetryWindowMustBePositive: --renewal-retry-window=0 was taken
// as "keep the default" (24 h) without a word, while its sibling windows
// read 0 as off and the chart refuses it: it is refused at parsing now,
// with the flag named.
func TestRenewalRetryWindowMustBePositive(t *testing.T) {
	g := NewWithT(t)
	o, err := parse()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.renewalRetryWindow).To(BeNumerically(">", 0), "the default")
	for _, bad := range []string{"0", "0s", "-1h"} {
		_, err := parse("--renewal-retry-window=" + bad)
		g.Expect(err).To(MatchError(And(ContainSubstring("-renewal-retry-window"), ContainSubstring("must be positive"))), "%q", bad)
	}
	o, err = parse("--renewal-retry-window=2h")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.renewalRetryWindow).To(Equal(2 * time.Hour))
}

// TestChartFetchTimeoutMustBePositive: --chart-fetch-timeout=0 was taken
// for the default (2 minutes) without a word, and a negative one failed
// every chart pull at once ("did not answer within -1s"), so no tenant of
// any chart product was provisioned: both are refused at parsing, with the
// flag named.
func TestChartFetchTimeoutMustBePositive(t *testing.T) {
	g := NewWithT(t)
	for _, bad := range []string{"0", "0s", "-1s"} {
		_, err := parse("--chart-fetch-timeout=" + bad)
		g.Expect(err).To(MatchError(And(ContainSubstring("-chart-fetch-timeout"), ContainSubstring("must be positive"))), "%q", bad)
	}
	o, err := parse("--chart-fetch-timeout=5m")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.chartFetchTimeout).To(Equal(5 * time.Minute))
}
