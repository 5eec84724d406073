// Command bench is kooper's benchmark (make bench). It measures the
// receiver, provisioning throughput and a 10,000-tenant scale run on the
// local cluster, each next to a baseline measured in the same run on the
// same machine: absolute times on shared machines are noise, ratios are
// not. It writes a markdown report and a plot into --out.
//
// Knobs come from flags, each defaulting to a BENCH_* environment variable.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localcluster"
	"github.com/kooper-io/kooper/internal/testenv"
)

// config holds the knobs.
type config struct {
	out          string
	tenants      int
	rounds       int
	helmTenants  int
	chartTenants int
	scale        int
	rates        []int
	rateDuration time.Duration
	concurrency  int
	operatorQPS  int
	reconciles   int
	memoryLimit  string
	// gcPercent is both kooper processes' --gc-percent; 0 keeps kooper's default.
	gcPercent int
	// provisionedDelay is the chart's provisionedStatusDelay ("" keeps its default).
	provisionedDelay string
	// tlsCertificate is the bench product's ingress.tlsCertificate:
	// Copied (the sample's copy of its TLS Secret) or IngressController.
	tlsCertificate string
	nodes          int
	clusterQPS     int
	// cacheConsistencyCheck is kube-apiserver's DetectCacheInconsistency
	// feature gate (cacheConsistencyGate).
	cacheConsistencyCheck bool
	goBench               bool
	// cpus is where the provisioning phases run each process: cpusSplit
	// or cpusShared (cpus.go).
	cpus string
}

func parseFlags() (config, error) {
	c := config{}
	cacheConsistencyCheck, cacheConsistencyErr := envBool("BENCH_CACHE_CONSISTENCY_CHECK", false)
	flag.StringVar(&c.out, "out", envOr("BENCH_OUT", "bin/bench"), "directory for the report, the plot and the cluster's state (BENCH_OUT)")
	flag.IntVar(&c.tenants, "tenants", envInt("BENCH_TENANTS", 1000), "tenants bought through the receiver for the throughput run (BENCH_TENANTS)")
	flag.IntVar(&c.rounds, "rounds", envInt("BENCH_ROUNDS", 1), "rounds of the throughput run and of the chart phase: each buys --tenants (--chart-tenants) tenants through the receiver, then creates as many directly and as many with their records; the report gives each round's ratios and their median, since the machine's speed drifts between the ways of one round less than across a whole run; each round after the first starts one way further on, so that no way always runs first (BENCH_ROUNDS)")
	flag.IntVar(&c.helmTenants, "helm-tenants", envInt("BENCH_HELM_TENANTS", 50), "tenants installed with one helm install each (BENCH_HELM_TENANTS)")
	flag.IntVar(&c.chartTenants, "chart-tenants", envInt("BENCH_CHART_TENANTS", 150), "tenants of the chart sample product bought through the receiver, created directly, and created directly with their records (kooper's controllers stopped); helm installs min(this, --helm-tenants) of them; 0 skips the chart phase. Each has two pods, which --nodes 0 makes room for (BENCH_CHART_TENANTS)")
	flag.IntVar(&c.scale, "scale", envInt("BENCH_SCALE", 10000), "tenants in the cluster for the scale run; 0 skips it (BENCH_SCALE)")
	rates := flag.String("rates", envOr("BENCH_RATES", "10,50,200,500"), "newInstance arrival rates per second; none skips them (BENCH_RATES)")
	flag.DurationVar(&c.rateDuration, "rate-duration", envDuration("BENCH_RATE_DURATION", 5*time.Second), "how long each way runs at each rate (below 200/s in two runs of half as long, pooled), stretched to at least 100 requests; each request leaves a tenant, and these count towards --scale (BENCH_RATE_DURATION)")
	flag.IntVar(&c.concurrency, "concurrency", envInt("BENCH_CONCURRENCY", 8), "purchases in flight in the throughput run, and workers of its baselines; the chart's maxConcurrentReconciles is 8 (BENCH_CONCURRENCY)")
	flag.IntVar(&c.reconciles, "reconciles", envInt("BENCH_RECONCILES", 8), "the operator's maxConcurrentReconciles, the chart's default 8: the tenants provisioned at once, as the direct creates' workers are --concurrency (BENCH_RECONCILES)")
	flag.IntVar(&c.gcPercent, "gc-percent", envInt("BENCH_GC_PERCENT", 0), "both kooper processes' --gc-percent (GOGC while they work), given as the chart's extraArgs; 0 (the default) keeps kooper's default (BENCH_GC_PERCENT)")
	flag.StringVar(&c.memoryLimit, "memory-limit", envOr("BENCH_MEMORY_LIMIT", "none"), "the operator containers' memory limit (resources.limits.memory), of which each process gets 90% as its Go memory limit, as kooper sets itself in its pod; none (the default, as runs before 2026-12-01) leaves both unlimited (BENCH_MEMORY_LIMIT)")
	flag.StringVar(&c.provisionedDelay, "provisioned-status-delay", envOr("BENCH_PROVISIONED_STATUS_DELAY", ""), "the operator's --provisioned-status-delay (the chart's provisionedStatusDelay), e.g. 0s to write a new tenant's Provisioned at once, as before 2026-12-02; empty keeps the chart's default (BENCH_PROVISIONED_STATUS_DELAY)")
	flag.StringVar(&c.tlsCertificate, "tls-certificate", envOr("BENCH_TLS_CERTIFICATE", string(saasv1alpha1.TLSCertificateCopied)), "the bench product's ingress.tlsCertificate: Copied (the default, as the sample: its TLS Secret copied into each tenant namespace) or IngressController (the ingress controller's own certificate, nothing copied) (BENCH_TLS_CERTIFICATE)")
	flag.IntVar(&c.operatorQPS, "operator-qps", envInt("BENCH_OPERATOR_QPS", 0), "the controllers' --kube-api-qps (burst is twice it); 0 (the default) runs the chart's kubeAPI, as installed (no client-side limit since 2026-12-04; 200, burst 400, from 2026-12-02); runs before 2026-12-02 used 1000, since the chart's 50 of then made the client's rate limiter, not the operator, the subject (BENCH_OPERATOR_QPS). The receiver runs with the chart's receiver.kubeAPI")
	flag.IntVar(&c.clusterQPS, "cluster-qps", envInt("BENCH_CLUSTER_QPS", 1000), "client QPS of kube-controller-manager and kube-scheduler; their defaults (20, 50) would cap every way of provisioning alike; 0 keeps them (BENCH_CLUSTER_QPS)")
	flag.IntVar(&c.nodes, "nodes", envInt("BENCH_NODES", 0), "kwok nodes, each holding 250 pods; 0 (the default) is enough for every pod of the run with a tenth to spare: 18 with the other defaults (BENCH_NODES)")
	flag.BoolVar(&c.cacheConsistencyCheck, "cache-consistency-check", cacheConsistencyCheck, "run kube-apiserver with its watch-cache consistency check (the DetectCacheInconsistency feature gate, on by default since Kubernetes 1.34): every 5 to 7.5 minutes it reads each resource whole from etcd, about 10 s of CPU per 10,000 SaaSTenants here, landing in whichever way runs; off (the default since 2026-12-04) keeps that lump out of the ways' ratios (BENCH_CACHE_CONSISTENCY_CHECK: true or false)")
	flag.StringVar(&c.cpus, "cpus", envOr("BENCH_CPUS", cpusSplit), "where the provisioning phases (throughput, chart tenants) run each process: split (the default since 2026-12-05) puts the control plane (kube-apiserver, etcd, kube-controller-manager, kube-scheduler) on the first half of the CPUs and kooper, kwok and the bench on the rest, as a cluster whose control plane has nodes of its own (CCE's) runs them, so that their ratios are of the control plane's capacity; shared (every run before) lets every process use every CPU, so that kooper's own CPU is taken from the API server's. The receiver's rates and the scale run are always shared (BENCH_CPUS)")
	flag.BoolVar(&c.goBench, "go-bench", envOr("BENCH_GO", "1") != "0", "run the go test benchmarks of ./webhook and ./controllers first (BENCH_GO=0 skips them)")
	flag.Parse()
	if cacheConsistencyErr != nil {
		return c, cacheConsistencyErr
	}
	c.rounds = max(c.rounds, 1)
	for _, r := range strings.Split(*rates, ",") {
		if *rates == "none" {
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			return c, fmt.Errorf("--rates must be positive integers separated by commas, got %q", *rates)
		}
		c.rates = append(c.rates, n)
	}
	if c.nodes <= 0 {
		c.nodes = c.nodesNeeded()
	}
	switch saasv1alpha1.IngressTLSCertificate(c.tlsCertificate) {
	case saasv1alpha1.TLSCertificateCopied, saasv1alpha1.TLSCertificateIngressController:
	default:
		return c, fmt.Errorf("--tls-certificate must be Copied or IngressController, got %q", c.tlsCertificate)
	}
	if c.cpus != cpusSplit && c.cpus != cpusShared {
		return c, fmt.Errorf("--cpus must be %s or %s, got %q", cpusSplit, cpusShared, c.cpus)
	}
	if c.memoryLimit != "none" {
		if _, err := resource.ParseQuantity(c.memoryLimit); err != nil {
			return c, fmt.Errorf("--memory-limit must be none or a quantity such as 384Mi: %w", err)
		}
	}
	return c, nil
}

// nodesNeeded is the kwok nodes for every pod the run makes, a tenth to
// spare: each stays to the end. A workload tenant has one pod (kooper's, the
// ceiling's, the record ceiling's, helm's), a chart tenant on the basic
// plan two (kooper's, the ceiling's, the record ceiling's, helm's). The rate phase's and the
// scale run's tenants are debug tenants, simulated without pods.
func (c config) nodesNeeded() int {
	pods := 3*c.tenants*max(c.rounds, 1) + c.helmTenants
	if c.chartTenants > 0 {
		pods += 2 * (3*c.chartTenants*max(c.rounds, 1) + min(c.helmTenants, c.chartTenants))
	}
	pods += pods / 10
	return (pods + localcluster.PodsPerNode - 1) / localcluster.PodsPerNode
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// envBool is the environment variable name as strconv.ParseBool reads it,
// or fallback when it is unset; a value it cannot read is an error.
func envBool(name string, fallback bool) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return fallback, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fallback, fmt.Errorf("%s must be true or false (or 1 or 0), got %q", name, v)
	}
	return b, nil
}

func envInt(name string, fallback int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return fallback
}

func envDuration(name string, fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return fallback
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func main() {
	c, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		logf("bench failed: %v", err)
		os.Exit(1) //nolint:gocritic // exitAfterDefer: the deferred call only stops signal notification, which exiting stops too
	}
}

func run(ctx context.Context, c config) error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(c.out) {
		c.out = filepath.Join(root, c.out)
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if err := removeEarlierOutputs(c.out); err != nil {
		return err
	}
	r := &results{Config: c, Started: time.Now(), CPUs: map[string]cpuLayout{}}
	// The go benchmarks start their own envtest API servers: run them before
	// the local cluster, so neither competes with the other for the CPUs.
	if c.goBench {
		logf("Running the go benchmarks of ./webhook and ./controllers")
		r.GoBench, err = runGoBenchmarks(ctx, root)
		if err != nil {
			return err
		}
	}
	b, err := startBench(ctx, root, c)
	if err != nil {
		return err
	}
	defer b.stop()
	r.Versions = b.versions(ctx)
	// The provisioning phases compare ways by their rates, which --cpus
	// decides whose CPU counts against; the others measure absolute times
	// against targets set with every process on every CPU.
	phases := []struct {
		name         string
		run          func(context.Context, *results) error
		placesOnCPUs bool
	}{
		{"receiver latency at fixed arrival rates", b.receiverRates, false},
		{phaseThroughput, b.throughput, true},
		{phaseChart, b.chartRun, true},
		{"scale", b.scaleRun, false},
	}
	for _, p := range phases {
		logf("Phase: %s", p.name)
		restore := func() {}
		if p.placesOnCPUs {
			restore, r.CPUs[p.name] = b.placeCPUs()
		}
		err := p.run(ctx, r)
		restore()
		if err != nil {
			// Keep what was measured: a report with a missing section says
			// more than none.
			r.Failures = append(r.Failures, fmt.Sprintf("%s: %v", p.name, err))
			logf("Phase %s failed: %v", p.name, err)
		}
	}
	r.Finished = time.Now()
	path, err := writeReport(c.out, r)
	if err != nil {
		return err
	}
	logf("Report written to %s", path)
	if len(r.Failures) > 0 {
		return fmt.Errorf("%d phase(s) failed; see the report", len(r.Failures))
	}
	return nil
}

// The provisioning phases' names, under which results.CPUs records how
// each ran.
const (
	phaseThroughput = "provisioning throughput"
	phaseChart      = "chart tenants"
)

// benchOutputs are the names a run writes into its output directory: the
// report, its plots, its profiles and the chart phase's values.
var benchOutputs = []string{"report.md", "*.png", "*.pprof", "*.out", "chart-values"}

// removeEarlierOutputs removes what an earlier run wrote into dir, and
// nothing else: a run that skips a phase would otherwise leave the earlier
// run's profiles of it beside its own report.
func removeEarlierOutputs(dir string) error {
	for _, pattern := range benchOutputs {
		paths, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		for _, path := range paths {
			if err := os.RemoveAll(path); err != nil {
				return err
			}
		}
	}
	return nil
}
