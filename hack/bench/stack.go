package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/testenv"
)

// The benchmark's own product: the sample product without storage (the
// local cluster has a dozen volumes, not a thousand), whose debug requests
// are Simulated (recorded and answered, no workload) for the receiver and
// scale runs.
const (
	benchProduct   = "bench"
	benchProductID = "BENCH00000000000001"
	basicSKU       = "0a4d1578-5295-46a7-92d4-7c803dccc51d"
)

// bench is the running local stack with what the phases share.
type bench struct {
	cfg   config
	root  string
	stack *localstack.Stack
	// client has no client-side rate limit: the baselines must be limited
	// by the API server alone.
	client      client.WithWatch
	restConfig  *rest.Config
	http        *http.Client
	receiverURL string
	// collectedAt is when kube-apiserver last collected its garbage at the
	// bench's asking (collectAPIServerGarbage).
	collectedAt time.Time
}

func startBench(ctx context.Context, root string, c config) (*bench, error) {
	qps := "the chart's"
	values := map[string]any{"maxConcurrentReconciles": c.reconciles,
		"receiver": map[string]any{"resources": c.resources()}, "controllers": map[string]any{"resources": c.resources()}}
	if c.operatorQPS > 0 {
		qps = fmt.Sprint(c.operatorQPS)
		values["kubeAPI"] = map[string]any{"qps": c.operatorQPS, "burst": 2 * c.operatorQPS}
	}
	logf("Starting the local stack (%d kwok nodes; the controllers with --kube-api-qps %s, the receiver with the chart's)", c.nodes, qps)
	if c.gcPercent > 0 {
		values["extraArgs"] = []string{fmt.Sprintf("--gc-percent=%d", c.gcPercent)}
	}
	if c.provisionedDelay != "" {
		values["provisionedStatusDelay"] = c.provisionedDelay
	}
	stack, err := localstack.Start(ctx, localstack.Options{
		Root: root, Dir: filepath.Join(c.out, "stack"), Nodes: c.nodes, Logf: logf, ComponentQPS: c.clusterQPS,
		Values: values, Profiling: true,
		APIServerFeatureGates: map[string]bool{cacheConsistencyGate: c.cacheConsistencyCheck},
	})
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: c, root: root, stack: stack,
		receiverURL: strings.TrimSuffix(stack.ReceiverURL, localstack.Product) + benchProduct,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}},
	}
	b.restConfig = rest.CopyConfig(stack.Cluster.Config)
	b.restConfig.QPS, b.restConfig.Burst = 1e6, 1e6
	scheme, err := testenv.NewScheme()
	if err != nil {
		b.stop()
		return nil, err
	}
	if b.client, err = client.NewWithWatch(b.restConfig, client.Options{Scheme: scheme}); err != nil {
		b.stop()
		return nil, err
	}
	// Without configuration files (CreateLightProduct leaves them out) the
	// figures stay comparable with earlier runs, and the direct creates,
	// which copy no ConfigMap, do the same work. Debug purchases are simulated.
	debug := func(spec *saasv1alpha1.SaaSProductSpec) {
		spec.Debug = &saasv1alpha1.DebugPolicy{Handling: saasv1alpha1.DebugSimulate, SKUCode: basicSKU}
		if ing := spec.Workload.Ingress; ing != nil && c.tlsCertificate == string(saasv1alpha1.TLSCertificateIngressController) {
			ing.TLSSecretName, ing.TLSCertificate = "", saasv1alpha1.TLSCertificateIngressController
		}
	}
	if err := b.stack.CreateLightProduct(ctx, benchProduct, benchProductID, debug); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// resources are each operator container's chart values (receiver.resources,
// controllers.resources) for --memory-limit: a null limit removes the
// chart's default, so the processes run with no Go memory limit, as the
// runs before the knob did.
func (c config) resources() map[string]any {
	var limit any // null: Helm drops the chart's default
	if c.memoryLimit != "none" {
		limit = c.memoryLimit
	}
	return map[string]any{"limits": map[string]any{"memory": limit}}
}

func (b *bench) stop() {
	if err := b.stack.Stop(); err != nil {
		logf("Stopping the stack: %v", err)
	}
}

// callbackAnswer is the part of a receiver answer the benchmark reads.
type callbackAnswer struct {
	ResultCode string `json:"resultCode"`
	InstanceID string `json:"instanceId"`
}

// newInstance sends a newInstance callback signed as the marketplace signs
// it (spec §2.1.2) and returns the answer.
func (b *bench) newInstance(ctx context.Context, orderID string, debug bool) (callbackAnswer, error) {
	return b.newInstanceAt(ctx, b.receiverURL, orderID, debug)
}

// newInstanceAt is newInstance for the product whose receiver URL is url.
func (b *bench) newInstanceAt(ctx context.Context, receiverURL, orderID string, debug bool) (callbackAnswer, error) {
	body := fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":"%s-000001","businessId":%q`, orderID, orderID, nonce())
	if debug {
		body += `,"testFlag":"1"`
	}
	return b.callback(ctx, receiverURL, body+"}")
}

// queryInstance asks the bench product's receiver for instance id's
// details (spec §3.6), as the marketplace does.
func (b *bench) queryInstance(ctx context.Context, id string) (callbackAnswer, error) {
	return b.callback(ctx, b.receiverURL, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
}

// callback sends body to receiverURL signed as the marketplace signs it
// (spec §2.1.2); an answer other than 000000 or 000004 is an error.
func (b *bench) callback(ctx context.Context, receiverURL, body string) (callbackAnswer, error) {
	canonical, err := koogallery.CanonicalPayload([]byte(body))
	if err != nil {
		return callbackAnswer{}, err
	}
	ts, n := strconv.FormatInt(time.Now().UnixMilli(), 10), nonce()
	q := url.Values{"signature": {koogallery.SignBasic(localstack.BasicKey, n, ts, canonical)}, "timestamp": {ts}, "nonce": {n}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, receiverURL+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		return callbackAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return callbackAnswer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var a callbackAnswer
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	// 000004 means "still provisioning", which the marketplace accepts.
	if a.ResultCode != string(koogallery.ResultSuccess) && a.ResultCode != "000004" {
		return a, fmt.Errorf("resultCode %s", a.ResultCode)
	}
	return a, nil
}

// registerOrder tells the simulator about a purchase, so that the
// operator's Query Order call resolves it.
func (b *bench) registerOrder(ctx context.Context, orderID string) error {
	return b.registerOrderOf(ctx, orderID, benchProductID, basicSKU)
}

// registerOrderOf is registerOrder for another product and SKU.
func (b *bench) registerOrderOf(ctx context.Context, orderID, productID, sku string) error {
	return b.stack.RegisterOrder(ctx, b.http, localstack.SimOrder{OrderID: orderID, ProductID: productID, SKUCode: sku, Customer: "bench"})
}

func nonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// metrics scrapes both components' /metrics, the receiver's and the
// controllers', and sums each named series over its labels (or only those
// whose labels contain match) and over the two.
func (b *bench) metrics(ctx context.Context, match string, names ...string) (map[string]float64, error) {
	sums := map[string]float64{}
	for _, url := range []string{b.stack.MetricsURL, b.stack.ControllersMetricsURL} {
		m, err := b.metricsFrom(ctx, url, match, names...)
		if err != nil {
			return nil, err
		}
		for name, v := range m {
			sums[name] += v
		}
	}
	return sums, nil
}

// metricsFrom scrapes one /metrics endpoint, as metrics does.
func (b *bench) metricsFrom(ctx context.Context, url, match string, names ...string) (map[string]float64, error) {
	lines, err := b.metricLines(ctx, url)
	if err != nil {
		return nil, err
	}
	return sumMetrics(lines, match, names...), nil
}

// metricLines scrapes one /metrics endpoint into its lines, so that one
// scrape answers several questions: a kooper process computes its gauges
// over every tenant on each scrape, which the bench's polls must not
// multiply.
func (b *bench) metricLines(ctx context.Context, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var lines []string
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
	}
	return lines, scanner.Err()
}

// sumMetrics sums, per name, the samples among lines (Prometheus text)
// whose labels contain match.
func sumMetrics(lines []string, match string, names ...string) map[string]float64 {
	sums := map[string]float64{}
	for _, line := range lines {
		for _, name := range names {
			rest, ok := strings.CutPrefix(line, name)
			if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') || !strings.Contains(rest, match) {
				continue
			}
			fields := strings.Fields(rest)
			if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
				sums[name] += v
			}
		}
	}
	return sums
}

// waitQueueEmpty waits until the operator's work queues are empty: the
// phases before have settled and do not load the next one.
func (b *bench) waitQueueEmpty(ctx context.Context, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		m, err := b.metrics(ctx, "", "workqueue_depth")
		if err != nil {
			return false, nil
		}
		return m["workqueue_depth"] == 0, nil
	})
}

// versions describes the machine and the software, for the report.
func (b *bench) versions(ctx context.Context) map[string]string {
	v := machine()
	if dc, err := discovery.NewDiscoveryClientForConfig(b.restConfig); err == nil {
		if sv, err := dc.ServerVersion(); err == nil {
			v["Kubernetes (API server)"] = sv.GitVersion
		}
	}
	v[cacheConsistencyKey] = b.cacheConsistencyCheckState(ctx)
	return v
}

// cacheConsistencyGate is kube-apiserver's feature gate of its watch-cache
// consistency check: every 5 to 7.5 minutes (5 with jitter, after the
// last check ended) each resource's checker lists the resource whole from
// etcd and compares a digest with the watch cache's. Decoding a custom
// resource is costly (JSON, schema coercion): one check of 10,000
// SaaSTenants took about 10 s of CPU, and in run 2026-12-04 C it fell
// inside one way: noise in the ratios, not a cost of the way. The bench
// turns it off unless asked.
const cacheConsistencyGate = "DetectCacheInconsistency"

// cacheConsistencyKey names the check's state among versions' rows.
const cacheConsistencyKey = "Watch-cache consistency check"

// consistencyCheckerEnv turns kube-apiserver's check on whatever the gate
// says (and makes a mismatch panic); kube-apiserver inherits the bench's
// environment.
const consistencyCheckerEnv = "KUBE_WATCHCACHE_CONSISTENCY_CHECKER"

// cacheConsistencyCheckState reads whether kube-apiserver runs the check,
// from its kubernetes_feature_enabled gauge (what it runs with, not what
// the bench asked for), or from consistencyCheckerEnv when that turns it
// on.
func (b *bench) cacheConsistencyCheckState(ctx context.Context) string {
	if on, _ := strconv.ParseBool(os.Getenv(consistencyCheckerEnv)); on {
		return "on (" + consistencyCheckerEnv + "=true in the environment)"
	}
	httpClient, url, err := b.apiServerMetricsClient()
	if err != nil {
		return "unknown: " + err.Error()
	}
	families, err := metricFamilies(ctx, httpClient, url)
	if err != nil {
		return "unknown: " + err.Error()
	}
	return featureGateState(families, cacheConsistencyGate)
}

// featureGateState is "on" or "off", with the gate's name, as
// kubernetes_feature_enabled in families gives it; "unknown" without it.
func featureGateState(families map[string]*dto.MetricFamily, gate string) string {
	for _, m := range families["kubernetes_feature_enabled"].GetMetric() {
		if labelsOf(m)["name"] != gate {
			continue
		}
		if m.GetGauge().GetValue() == 1 {
			return "on (" + gate + "=true)"
		}
		return "off (" + gate + "=false)"
	}
	return "unknown: kube-apiserver reports no " + gate + " gate"
}
