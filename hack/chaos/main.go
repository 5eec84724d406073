// Command chaos injects faults into kooper while the marketplace keeps
// calling, and checks after each that no acknowledged purchase was lost
// and none applied twice (issue 21). It runs the chart's topology on the
// local cluster: two receiver processes and two leader-elected controller
// processes, each as its Deployment's ServiceAccount (internal/localstack).
//
// make chaos runs the full sizes; make chaos-short (CI) 100 tenants. The
// report is bin/chaos/report.md; the exit status is non-zero on any lost
// or duplicated order, or on a fault that touched no traffic.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config sizes a run.
type config struct {
	out string
	// tenants is the number of purchases per scenario.
	tenants int
	// streamRate is the purchases per second of the stream during which
	// the API server is stopped (scenario 3).
	streamRate float64
	// purchaseRate is the pace of scenario 1's purchases.
	purchaseRate float64
	// apiServerDown is how long scenario 3 keeps kube-apiserver stopped.
	apiServerDown time.Duration
	// qorderTenants are scenario 5's purchases, bought over its Query
	// Order outage, qorderOutage, and a few seconds either side.
	qorderTenants int
	qorderOutage  time.Duration
	// settle bounds the wait for every acknowledged tenant to be Ready.
	settle time.Duration
	nodes  int
	// scenarios are the numbers of the scenarios to run, in order.
	scenarios []string
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func main() {
	short := flag.Bool("short", false, "the CI form: 100 tenants per scenario, a 5/s stream")
	c := config{}
	flag.StringVar(&c.out, "out", "bin/chaos", "directory for the stack's state, the logs and report.md")
	flag.IntVar(&c.tenants, "tenants", 0, "purchases per scenario (default 1,000; 100 with -short)")
	flag.DurationVar(&c.apiServerDown, "apiserver-down", 20*time.Second, "how long scenario 3 keeps kube-apiserver stopped")
	only := flag.String("scenarios", "1,3", "the scenarios to run, by the issue's numbers, comma-separated")
	flag.Parse()
	c.scenarios = strings.Split(*only, ",")
	// Scenario 5 lasts as long as its outage (2 minutes, as issue 21
	// asks; 30 s with -short) and buys 2 purchases a second across it.
	c.qorderTenants, c.qorderOutage = 260, 2*time.Minute
	if *short {
		c.qorderTenants, c.qorderOutage = 80, 30*time.Second
	}
	if c.tenants != 0 {
		c.qorderTenants = c.tenants
	}
	// Each tenant runs one pod and a kwok node holds 250: room for both
	// scenarios' tenants.
	c.purchaseRate, c.streamRate, c.settle, c.nodes = 50, 50, 8*time.Minute, 12
	if c.tenants == 0 {
		c.tenants = 1000
		if *short {
			// The stream must outlast the fault's start and cover most of it
			// at 100 tenants: 5/s is a 20 s stream.
			c.tenants, c.purchaseRate, c.streamRate, c.settle, c.nodes = 100, 10, 5, 4*time.Minute, 3
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	os.Exit(run(ctx, c))
}

// run starts the stack, runs each scenario, writes the report and returns
// the exit status.
func run(ctx context.Context, c config) int {
	root, err := os.Getwd()
	if err != nil {
		logf("%v", err)
		return 2
	}
	if !filepath.IsAbs(c.out) {
		c.out = filepath.Join(root, c.out)
	}
	for _, n := range c.scenarios {
		if _, ok := scenarios()[n]; !ok {
			logf("There is no scenario %q (yet)", n)
			return 2
		}
	}
	started := time.Now()
	h, err := startHarness(ctx, root, c)
	if err != nil {
		logf("Starting the stack: %v", err)
		return 2
	}
	defer h.stop()
	kubelet, stopKubelet := context.WithCancel(ctx)
	defer stopKubelet()
	go h.keepRunning(kubelet)
	var rows []row
	for _, n := range c.scenarios {
		s := scenarios()[n]
		logf("Scenario %s", s.name)
		r := s.run(ctx, h)
		logf("%s: %s", s.name, r.summary())
		rows = append(rows, r)
		if ctx.Err() != nil {
			break
		}
	}
	report := renderReport(rows, time.Since(started))
	path := filepath.Join(c.out, "report.md")
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		logf("Writing the report: %v", err)
		return 2
	}
	fmt.Print(report)
	logf("Report written to %s (%s in all)", path, time.Since(started).Round(time.Second))
	for _, r := range rows {
		if !r.pass() {
			return 1
		}
	}
	return 0
}
