package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// results is everything measured, for the report.
type results struct {
	Config            config
	Started, Finished time.Time
	Versions          map[string]string
	GoBench           []goBenchmark
	Rates             []rateResult
	Provision         []provisionRun
	CeilingObjects    []string
	OperatorRequests  map[string]float64 // API requests per tenant in the throughput run
	RequestKinds      map[string]float64 // the same by "verb resource" (kooper_api_requests_total)
	RequestsAboveRest *float64           // their total above kooper's requests at rest for as long; nil: not measured
	RecordCeiling     *provisionRun      // the direct creates plus the SaaSTenant's create and one status write
	Rounds            []round            // the throughput run's rounds, the first of them the ways above
	Chart             *chartResult
	Scale             *scaleResult
	Failures          []string
	// CPUs is how each phase that placeCPUs placed ran, by its name.
	CPUs map[string]cpuLayout
}

// machine describes the host: CPU model, cores, memory, kernel, Go.
func machine() map[string]string {
	m := map[string]string{"Go": runtime.Version(), "Cores": fmt.Sprint(runtime.NumCPU())}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["CPU"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb float64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err == nil {
					m["RAM"] = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		m["Kernel"] = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// ms prints a duration in milliseconds, or seconds from one second up.
func ms(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// writeReport writes report.md and the plot into dir.
func writeReport(dir string, r *results) (string, error) {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("# kooper benchmark report\n")
	p("Run %s → %s (%s). Every figure is compared with a baseline measured in the same run on the same machine.\n",
		r.Started.UTC().Format(time.RFC3339), r.Finished.UTC().Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	p("| Machine | |\n|---|---|")
	for _, k := range []string{"CPU", "Cores", "RAM", "Kernel", "Go", "Kubernetes (API server)", cacheConsistencyKey} {
		p("| %s | %s |", k, r.Versions[k])
	}
	c := r.Config
	delay := c.provisionedDelay
	if delay == "" {
		delay = "the chart's default"
	}
	gcPercent := "kooper's default"
	if c.gcPercent > 0 {
		gcPercent = fmt.Sprint(c.gcPercent)
	}
	p("\nKnobs: tenants=%d, helm-tenants=%d, chart-tenants=%d, scale=%d, rates=%v, rate-duration=%s, concurrency=%d, operator maxConcurrentReconciles=%d, the controllers' --kube-api-qps=%d (0: the chart's kubeAPI; the receiver's: the chart's receiver.kubeAPI), --provisioned-status-delay %s and memory limit %s, --gc-percent %s, the product's ingress.tlsCertificate %s, "+
		"controller-manager and scheduler --kube-api-qps=%d (0: their defaults), kwok nodes=%d.\n",
		c.tenants, c.helmTenants, c.chartTenants, c.scale, c.rates, c.rateDuration, c.concurrency, c.reconciles, c.operatorQPS, delay, c.memoryLimit, gcPercent, c.tlsCertificate, c.clusterQPS, c.nodes)
	if len(r.Failures) > 0 {
		p("**Failed phases:**\n")
		for _, f := range r.Failures {
			p("- %s", f)
		}
		p("")
	}

	if len(r.GoBench) > 0 {
		p("## Go benchmarks (`go test -bench`, envtest API server)\n")
		p("| Benchmark | ns/op | B/op | allocs/op | ms/tenant |\n|---|---:|---:|---:|---:|")
		for _, b := range r.GoBench {
			cell := func(unit string) string {
				if v, ok := b.Metrics[unit]; ok {
					return fmt.Sprintf("%.0f", v)
				}
				return ""
			}
			p("| %s | %s | %s | %s | %s |", b.Name, cell("ns/op"), cell("B/op"), cell("allocs/op"), cell("ms/tenant"))
		}
		p("")
		writeRequestCosts(p, r.GoBench)
	}

	if len(r.Rates) > 0 {
		p("## newInstance end to end at fixed arrival rates (open loop)\n")
		p("Signed debug `newInstance` callbacks to the operator's receiver, each sent at its scheduled time; latency counts from that time. " +
			"Baseline: a client `Create` of the same SaaSTenant at the same rate. " +
			fmt.Sprintf("Below %d/s, where the target is a ratio, each way runs twice for half the time, in the order receiver, admin's `Create`, "+
				"`Create` with the receiver's token, then back, and its two runs are pooled: what drifts over a rate's minute falls on every way alike.\n", pairedBelow))
		p("| Rate/s | Sent | Achieved/s | Errors | p50 | p99 | max | raw Create p50 | p99 | max | errors | p99 ratio |")
		p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, x := range r.Rates {
			p("| %d | %d | %.0f | %d | %s | %s | %s | %s | %s | %s | %d | %s |", x.Rate, x.Receiver.Sent, x.Receiver.Achieved, x.Receiver.Errors,
				ms(x.Receiver.P50), ms(x.Receiver.P99), ms(x.Receiver.Max), ms(x.Raw.P50), ms(x.Raw.P99), ms(x.Raw.Max), x.Raw.Errors,
				ratio(float64(x.Receiver.P99), float64(x.Raw.P99)))
		}
		writeRawAsReceiver(p, r.Rates)
		for _, x := range r.Rates {
			if x.Receiver.FirstErr != "" {
				p("\nFirst receiver error at %d/s: `%s`", x.Rate, x.Receiver.FirstErr)
			}
		}
		writeRetries(p, r.Rates)
		writeQueueWaits(p, r.Rates)
		p("\nDESIGN §7: p99 at 50/s ≤ 1.2× the raw Create's; at 500/s no answer slower than 1 s and at most 5%% answered `000005`.")
		p("")
	}

	if len(r.Provision) > 0 {
		p("## Provisioning throughput (kwok)\n")
		p("Each way starts tenants %d at a time as fast as it can; time to Ready counts from a tenant's start (for kooper, "+
			"registering its order and sending newInstance) to its Deployment Available (for kooper, the tenant's Ready condition), "+
			"so it includes queueing behind the tenants started before it. \"Written\" stops at every object written "+
			"(the direct creates returning; for kooper, its Provisioned condition), before kube-controller-manager, the scheduler and kwok make the workload Available. "+
			"kooper writes Provisioned with Ready unless Ready takes longer than --provisioned-status-delay (30 s by default): "+
			"kooper's \"Written\" is then its Ready, and a ratio of writing rates compares kooper's Ready with the other way's writes.\n", r.Config.concurrency)
		writeCPULayout(p, r.CPUs[phaseThroughput])
		ways := r.Provision
		if r.RecordCeiling != nil {
			ways = append(slices.Clone(ways), *r.RecordCeiling)
		}
		writeProvisionTable(p, ways)
		writeCPUTable(p, ways)
		if len(r.Provision) >= 2 {
			p("\nkooper / ceiling: **%s** of the rate to Ready, **%s** of the rate of writing the objects.",
				ratio(r.Provision[0].Rate, r.Provision[1].Rate), ratio(r.Provision[0].WrittenRate, r.Provision[1].WrittenRate))
		}
		if rc := r.RecordCeiling; rc != nil && len(r.Provision) >= 1 {
			p("kooper / (direct creates + the SaaSTenant's create and one status write, kooper's controllers stopped): **%s** of the rate to Ready, **%s** of the rate of writing (DESIGN §7: ≥ 0.85×).",
				ratio(r.Provision[0].Rate, rc.Rate), ratio(r.Provision[0].WrittenRate, rc.WrittenRate))
		}
		if len(r.Provision) >= 3 {
			p("kooper / helm: **%s** the rate; helm ran %d tenants, and its rate is extrapolated to the larger N as a rate.",
				ratio(r.Provision[0].Rate, r.Provision[2].Rate), r.Provision[2].N)
		}
		if len(r.OperatorRequests) > 0 {
			var parts []string
			total := 0.0
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				parts = append(parts, fmt.Sprintf("%s %.1f", m, r.OperatorRequests[m]))
				total += r.OperatorRequests[m]
			}
			p("\nkooper's API requests per tenant in its run (rest_client_requests_total; watches not counted): %.1f (%s); "+
				"the ceiling makes %d creates per tenant (DESIGN §7: ≤ 12 requests).%s", total, strings.Join(parts, ", "), len(r.CeilingObjects),
				aboveRestNote(r.RequestsAboveRest))
		}
		writeRounds(p, r.Rounds)
		writeRequestTable(p, r.RequestKinds)
		if r.RecordCeiling != nil && len(r.Provision) >= 1 {
			writeAPIServerRequestDiff(p, r.Provision[0], *r.RecordCeiling)
			writeAPIServerCPUDiff(p, r.Provision[0], *r.RecordCeiling)
		}
		p("\nThe ceiling creates, per tenant, the objects kooper made for a tenant of the same run: %s.", strings.Join(r.CeilingObjects, ", "))
		for _, x := range r.Provision {
			if x.FirstErr != "" {
				p("\nFirst error of %s: `%s`", x.Name, x.FirstErr)
			}
		}
		if err := plotTTR(filepath.Join(dir, "time-to-ready.png"), ways); err != nil {
			return "", err
		}
		p("\n![time to Ready against tenants](time-to-ready.png)\n")
	}

	if err := writeChart(p, dir, r); err != nil {
		return "", err
	}

	if s := r.Scale; s != nil {
		p("## Scale\n")
		p("%d SaaSTenants: %d provisioned with workloads by the throughput and chart phases, the rest debug tenants of a Simulate product "+
			"(each with its namespace and kooper's isolation objects, no workload), created directly (%s).\n", s.Tenants, s.Provisioned, s.TopUpDuration.Round(time.Second))
		p("| Figure | Value | Target |\n|---|---:|---|")
		p("| Controllers' RSS at rest (VmRSS) | %s | < 300 MiB |", mib(s.RSS))
		p("| Controllers' GOGC as it was read (`--gc-percent-at-rest` once at rest) | %.0f | |", s.GCPercent)
		p("| Controllers' peak RSS (VmHWM) | %s | |", mib(s.PeakRSS))
		p("| Controllers' Go heap in use | %s | |", mib(s.HeapInuse))
		p("| Controllers' live heap (allocated after a forced collection) | %s | |", mib(s.LiveHeap))
		p("| Controllers' CPU at rest over %s | %.3f cores | |", s.CPUWindow, s.CPU)
		p("| Receiver's RSS at rest (VmRSS) | %s | |", mib(s.ReceiverRSS))
		p("| Restart of the controllers, the receiver running: old process stopped to every tenant reconciled, queue empty | %s | < 15 s |", s.Settle.Round(10*time.Millisecond))
		p("| Controllers' RSS after the restart (peak) | %s (%s) | peak < 350 MiB |", mib(s.RestartRSS), mib(s.RestartPeak))
		p("| Controllers' Go heap after the restart | %s | |", mib(s.RestartHeap))
		p("| Reconcile errors in the restarted controllers | %.0f | |", s.ReconcileErr)
		p("| Controllers' lowest GOGC while they settled (`--gc-percent`'s, 60 by default, not `--gc-percent-at-rest`'s) | %.0f | |", s.SettleGCPercent)
		if q := s.QueriesDuringRestart; q.Sent > 0 {
			p("| %d `queryInstance` sent as soon as the restarted controllers were ready, while they settled: slowest (p50) | %s (%s), %d errors | < 1 s |", q.Sent, ms(q.Max), ms(q.P50), q.Errors)
		}
		p("| Restart of both components at once (as a helm upgrade does), to settled | %s | |", s.SettleBoth.Round(10*time.Millisecond))
		p("| Reconcile errors after it | %.0f | |", s.ReconcileErrBoth)
		p("| Controllers' lowest GOGC while they settled | %.0f | |", s.SettleBothGCPercent)
		p("| Tenants Ready after both restarts | %d / %d | all |", s.ReadyAfter, s.Tenants)
		if q := s.Queries; q.Sent > 0 {
			p("| %d `queryInstance` sent as soon as the restarted receiver was ready, while the controllers settled: slowest (p50) | %s (%s), %d errors | < 1 s |", q.Sent, ms(q.Max), ms(q.P50), q.Errors)
		}
		p("\nProfiles for `go tool pprof` beside this report: `controllers-cpu.pprof` (the controllers' CPU over kooper's way of the throughput run) and `controllers-heap.pprof` (their live heap at rest, before the restart) and `controllers-restart-cpu.pprof` (their CPU from the restart of the controllers alone until they settled), `receiver-cpu.pprof` (the receiver's CPU beside `controllers-cpu.pprof`); with rounds, `controllers-cpu-roundN.pprof`, `receiver-cpu-roundN.pprof` and `apiserver-kooper-cpu-roundN.pprof` for the kooper way of round N after the first.")
	}
	path := filepath.Join(dir, "report.md")
	return path, os.WriteFile(path, []byte(w.String()), 0o644)
}

// plotTTR draws each run's time to Ready against the tenant's number.
func plotTTR(path string, runs []provisionRun) error {
	pl := plot.New()
	pl.Title.Text = "Time to Ready by tenant"
	pl.X.Label.Text = "tenant (in order started)"
	pl.Y.Label.Text = "time to Ready (s)"
	pl.Y.Min = 0
	top := 0.0
	for _, run := range runs {
		for _, d := range run.TTR {
			top = max(top, d.Seconds())
		}
	}
	// Head room above the lines for the legend.
	pl.Y.Max = top * 1.4
	colors := []color.RGBA{{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, {R: 0xd6, G: 0x27, B: 0x28, A: 0xff}}
	for i, run := range runs {
		xys := make(plotter.XYs, len(run.TTR))
		for j, d := range run.TTR {
			xys[j] = plotter.XY{X: float64(j + 1), Y: d.Seconds()}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			continue // an empty run has nothing to draw
		}
		line.Color = colors[i%len(colors)]
		pl.Add(line)
		pl.Legend.Add(run.Name, line)
	}
	pl.Legend.Top, pl.Legend.Left = true, true
	return pl.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// writeProvisionTable writes one row per way of provisioning.
func writeProvisionTable(p func(string, ...any), runs []provisionRun) {
	p("| Way | Tenants | Wall | Tenants/s to Ready | p50 to Ready | p99 | max | Written/s | Written p50 | p99 | Errors |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range runs {
		written := "| – | – | –"
		if x.WrittenRate > 0 {
			written = fmt.Sprintf("| %.2f | %s | %s", x.WrittenRate, ms(x.WrittenP50), ms(x.WrittenP99))
		}
		p("| %s | %d | %s | %.2f | %s | %s | %s %s | %d |", x.Name, x.N, x.Wall.Round(10*time.Millisecond),
			x.Rate, ms(x.P50), ms(x.P99), ms(x.Max), written, x.Errors)
	}
}

// writeCPULayout says on which CPUs a provisioning phase ran its
// processes (placeCPUs), and so what its ratios compare.
func writeCPULayout(p func(string, ...any), layout cpuLayout) {
	if layout.text == "" {
		return
	}
	meaning := "kooper's own CPU is then taken from the API server's, which no cluster whose control plane has nodes of its own does"
	if layout.split {
		meaning = "each way's rate is then of the control plane's CPU alone, as on a cluster whose control plane has nodes of its own (CCE's): " +
			"kooper's own CPU does not take from the API server's"
	}
	p("CPUs (--cpus): %s; %s.\n", layout.text, meaning)
}

// writeCPUTable writes the CPU each way cost per tenant, and each way's
// API server CPU against the first way's (kooper's).
func writeCPUTable(p func(string, ...any), runs []provisionRun) {
	if len(runs) == 0 || runs[0].CPUPerTenant == nil {
		return
	}
	p("\nCPU per tenant while each way ran, above what each process uses at rest for as long (sampled for %s before each way; /proc/PID/stat). "+
		"Before each way kube-apiserver collects its garbage, so that every way starts from the same state of its collector. "+
		"CPU time moves less than the rates above with the machine's other load, but it moves: "+
		"on a shared host a neighbour's load slows the same work, by up to a third between the ways of one run (docs/benchmarks.md, 2026-12-05):\n", idleWindow)
	p("| Way | kube-apiserver | etcd | kooper's two processes | kube-controller-manager, scheduler, kwok | kooper's API server CPU ÷ this way's |")
	p("|---|---:|---:|---:|---:|---:|")
	first := runs[0].CPUPerTenant["kube-apiserver"]
	for _, x := range runs {
		cell := func(name string) string { return processCell(x.CPUPerTenant, name, "%.1f ms") }
		p("| %s | %s | %s | %s | %s | %s |", x.Name, cell("kube-apiserver"), cell("etcd"), cell("kooper"), cell(clusterControllers), ratio(first, x.CPUPerTenant["kube-apiserver"]))
	}
	p("\nWhat each process used at rest, in cores, in the %s before each way (taken out above; the bench waits for each to use under %.1f cores in two seconds running first, at most %s):\n", idleWindow, restCores, restTimeout)
	p("| Way | kube-apiserver | etcd | kooper's two processes | kube-controller-manager, scheduler, kwok |")
	p("|---|---:|---:|---:|---:|")
	for _, x := range runs {
		cell := func(name string) string { return processCell(x.CPUAtRest, name, "%.3f") }
		p("| %s | %s | %s | %s | %s |", x.Name, cell("kube-apiserver"), cell("etcd"), cell("kooper"), cell(clusterControllers))
	}
}

// processCell is a table cell of figures[name] in format, or "–" when the
// process was not measured.
func processCell(figures map[string]float64, name, format string) string {
	if v, ok := figures[name]; ok {
		return fmt.Sprintf(format, v)
	}
	return "–"
}

// writeRounds writes each round's rates and ratios, and their medians,
// when the run had more than one (--rounds).
func writeRounds(p func(string, ...any), rounds []round) {
	if len(rounds) < 2 {
		return
	}
	p("\nThe %d rounds of the throughput run (the tables above are the first), each with its own baselines, its ways in the order given (each round starts one way further on):\n", len(rounds))
	p("| Round | kooper, tenants/s | ceiling | record ceiling | kooper ÷ record ceiling | kooper ÷ ceiling | API server CPU per tenant, kooper ÷ record ceiling |")
	p("|---|---:|---:|---:|---:|---:|---:|")
	var toRecord, toCeiling, cpu []float64
	for i, x := range rounds {
		api := func(run provisionRun) float64 { return run.CPUPerTenant["kube-apiserver"] }
		toRecord = append(toRecord, x.Kooper.Rate/x.Record.Rate)
		toCeiling = append(toCeiling, x.Kooper.Rate/x.Ceiling.Rate)
		cpu = append(cpu, api(x.Kooper)/api(x.Record))
		p("| %s | %.2f | %.2f | %.2f | %s | %s | %s |", roundCell(i, x.Order), x.Kooper.Rate, x.Ceiling.Rate, x.Record.Rate,
			ratio(x.Kooper.Rate, x.Record.Rate), ratio(x.Kooper.Rate, x.Ceiling.Rate), ratio(api(x.Kooper), api(x.Record)))
	}
	p("| **median** | | | | **%.2f×** | %.2f× | %.2f× |", median(toRecord), median(toCeiling), median(cpu))
	p("\nkooper / record ceiling, the median of the rounds: **%.2f×** (DESIGN §7: ≥ 0.85×); the rounds' range %.2f–%.2f×.",
		median(toRecord), slices.Min(toRecord), slices.Max(toRecord))
}

// helmSkipped says when the chart phase's helm way did not run.
func helmSkipped(c config) string {
	if min(c.helmTenants, c.chartTenants) <= 0 {
		return "; skipped, --helm-tenants 0"
	}
	return ""
}

// writeChartRounds writes each chart round's rates and ratios, and their
// medians, when the run had more than one (--rounds).
func writeChartRounds(p func(string, ...any), rounds []chartRound) {
	if len(rounds) < 2 {
		return
	}
	p("\nThe %d rounds of the chart phase (the tables above are the first), each with its own direct creates and records, its ways in the order given (each round starts one way further on):\n", len(rounds))
	p("| Round | kooper, chart, tenants/s | direct creates | direct creates + record | kooper ÷ direct creates | record ÷ direct creates | kooper ÷ record | API server CPU per tenant, kooper ÷ direct |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|")
	var rates, records, ofRecord, cpu []float64
	for i, x := range rounds {
		api := func(run provisionRun) float64 { return run.CPUPerTenant["kube-apiserver"] }
		rates = append(rates, x.Kooper.Rate/x.Direct.Rate)
		records = append(records, x.Record.Rate/x.Direct.Rate)
		ofRecord = append(ofRecord, x.Kooper.Rate/x.Record.Rate)
		cpu = append(cpu, api(x.Kooper)/api(x.Direct))
		p("| %s | %.2f | %.2f | %.2f | %s | %s | %s | %s |", roundCell(i, x.Order), x.Kooper.Rate, x.Direct.Rate, x.Record.Rate,
			ratio(x.Kooper.Rate, x.Direct.Rate), ratio(x.Record.Rate, x.Direct.Rate), ratio(x.Kooper.Rate, x.Record.Rate),
			ratio(api(x.Kooper), api(x.Direct)))
	}
	p("| **median** | | | | **%.2f×** | %.2f× | %.2f× | %.2f× |", median(rates), median(records), median(ofRecord), median(cpu))
	p("\nkooper, chart / direct creates, the median of the rounds: **%.2f×** (target ≥ 0.80×); the rounds' range %.2f–%.2f×. "+
		"The record alone reached %.2f× of the direct creates (median), kooper %.2f× of the record.",
		median(rates), slices.Min(rates), slices.Max(rates), median(records), median(ofRecord))
}

// median is the middle value of xs (the mean of the two middle ones for an
// even count); xs is sorted in place.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// writeChart writes the chart phase's section.
func writeChart(p func(string, ...any), dir string, r *results) error {
	ch := r.Chart
	if ch == nil || len(ch.Provision) == 0 {
		return nil
	}
	p("## Chart tenants (kwok)\n")
	p("Tenants of the chart sample product (config/samples/charts/crm-suite, basic plan: a web Deployment, a Redis StatefulSet on an emptyDir, "+
		"their Services, a ConfigMap, an Ingress), %d at a time, four ways: bought through the receiver (→ the tenant's Ready); "+
		"the same objects created directly, rendering the chart per tenant in the bench's process (→ every Deployment and StatefulSet "+
		"Current by kstatus, as kooper's Available); the same inside each tenant's record (the SaaSTenant's create and one status write, "+
		"kooper's controllers stopped); one `helm install --wait` per tenant of the same chart and values (→ helm returning%s). "+
		"\"Written\" is as in the throughput run's table. Phase wall time, setup included: %s.\n", r.Config.concurrency, helmSkipped(r.Config), ch.Duration.Round(time.Second))
	writeCPULayout(p, r.CPUs[phaseChart])
	ways := ch.Provision
	if ch.Record != nil {
		ways = append(slices.Clone(ways), *ch.Record)
	}
	writeProvisionTable(p, ways)
	writeCPUTable(p, ways)
	if len(ch.Provision) >= 2 {
		p("\nkooper, chart / direct creates: **%s** of the rate to Ready (target ≥ 0.80×), %s of the rate of writing the objects.",
			ratio(ch.Provision[0].Rate, ch.Provision[1].Rate), ratio(ch.Provision[0].WrittenRate, ch.Provision[1].WrittenRate))
	}
	if rc := ch.Record; rc != nil && len(ch.Provision) >= 2 {
		p("The record alone (direct creates + the SaaSTenant's create and one status write, kooper's controllers stopped) / direct creates: **%s**; "+
			"kooper, chart / that: **%s** of the rate to Ready.", ratio(rc.Rate, ch.Provision[1].Rate), ratio(ch.Provision[0].Rate, rc.Rate))
	}
	if len(ch.Provision) >= 3 {
		p("kooper, chart / helm: **%s**; direct creates / helm (the ceiling's own ratio): **%s**. Helm ran %d tenants; its rate is taken as the rate for the larger N.",
			ratio(ch.Provision[0].Rate, ch.Provision[2].Rate), ratio(ch.Provision[1].Rate, ch.Provision[2].Rate), ch.Provision[2].N)
	}
	writeChartRounds(p, ch.Rounds)
	if len(ch.OperatorRequests) > 0 {
		var parts []string
		total := 0.0
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			parts = append(parts, fmt.Sprintf("%s %.1f", m, ch.OperatorRequests[m]))
			total += ch.OperatorRequests[m]
		}
		p("\nkooper's API requests per chart tenant (rest_client_requests_total; watches not counted): %.1f (%s); "+
			"the direct creates make %d creates per tenant.%s The tenant controller reconciled each tenant %.1f times.",
			total, strings.Join(parts, ", "), len(ch.Objects), aboveRestNote(ch.RequestsAboveRest), ch.Reconciles)
	}
	writeRequestTable(p, ch.RequestKinds)
	if len(ch.Provision) >= 2 {
		writeAPIServerRequestDiff(p, ch.Provision[0], ch.Provision[1])
		writeAPIServerCPUDiff(p, ch.Provision[0], ch.Provision[1])
	}
	if ch.Record != nil && len(ch.Provision) >= 1 {
		writeAPIServerRequestDiff(p, ch.Provision[0], *ch.Record)
		writeAPIServerCPUDiff(p, ch.Provision[0], *ch.Record)
	}
	p("\nThe direct creates make, per tenant, kooper's isolation objects copied from a chart tenant of the same run, then the chart's render: %s. "+
		"One in-process render took %s on average (inside their timed path).", strings.Join(ch.Objects, ", "), ms(ch.Render))
	for _, x := range ch.Provision {
		if x.FirstErr != "" {
			p("\nFirst error of %s: `%s`", x.Name, x.FirstErr)
		}
	}
	if err := plotTTR(filepath.Join(dir, "chart-time-to-ready.png"), ch.Provision); err != nil {
		return err
	}
	p("\n![chart tenants: time to Ready against tenants](chart-time-to-ready.png)\n")
	return nil
}

// requestCostUnit ends the metrics of BenchmarkAPIServerCPU.
const requestCostUnit = "-apiserver-ms/op"

// writeRequestCosts lists the API server's CPU per kind of request.
func writeRequestCosts(p func(string, ...any), benchmarks []goBenchmark) {
	var rows []string
	for _, b := range benchmarks {
		for unit, v := range b.Metrics {
			if name, ok := strings.CutSuffix(unit, requestCostUnit); ok {
				rows = append(rows, fmt.Sprintf("| %s | %.2f |", name, v))
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	sort.Strings(rows)
	p("kube-apiserver CPU per request (`BenchmarkAPIServerCPU`, 300 requests of each kind, 8 at a time, no controller running):\n")
	p("| Request | API server CPU, ms |\n|---|---:|")
	for _, row := range rows {
		p("%s", row)
	}
	p("")
}

// aboveRestNote says how many of a tenant's requests are left when what
// kooper makes at rest for as long is taken out, to a tenth (the rate at
// rest is sampled over idleWindow: two or three lease renewals); "" when
// not measured.
func aboveRestNote(aboveRest *float64) string {
	if aboveRest == nil {
		return ""
	}
	return fmt.Sprintf(" Less what kooper's processes request at rest for as long (kooper_api_requests_total, sampled for %s before the way: "+
		"lease renewals, the clock's other work), %.1f per tenant.", idleWindow, *aboveRest)
}

// writeRetries tables what became of each rate's 000005 answers once
// retried as the marketplace retries them: every one must end stored.
func writeRetries(p func(string, ...any), rates []rateResult) {
	p("\nThe callbacks answered `000005`, each sent again (the same order, a new businessId, every %s, for at most %s) until stored:\n",
		retryInterval, retryDeadline)
	p("| Rate/s | answered `000005` | share | stored by a retry | lost | most retries of one order | retries took |")
	p("|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range rates {
		share := 0.0
		if x.Receiver.Sent > 0 {
			share = 100 * float64(x.Retries.Answered000005) / float64(x.Receiver.Sent)
		}
		p("| %d | %d | %.1f%% | %d | %d | %d | %s |", x.Rate, x.Retries.Answered000005, share,
			x.Retries.Stored, x.Retries.Lost, x.Retries.MaxAttempts, x.Retries.Took.Round(time.Millisecond))
	}
	for _, x := range rates {
		if x.Retries.FirstErr != "" {
			p("\nFirst lost order at %d/s: `%s`", x.Rate, x.Retries.FirstErr)
		}
	}
}

// writeRawAsReceiver tables, for the rates that ran it, the raw Create made
// with the receiver's own ServiceAccount token beside the receiver: what
// the receiver adds, apart from what the API server does for a client of
// its identity (authentication of a token, RBAC, API Priority and
// Fairness, none of which the admin's Create goes through).
func writeRawAsReceiver(p func(string, ...any), rates []rateResult) {
	if !slices.ContainsFunc(rates, func(x rateResult) bool { return x.RawAsReceiver != nil }) {
		return
	}
	p("\nThe same raw `Create` made with the receiver's own ServiceAccount token (the receiver's identity, flow schema and RBAC, none of its work):\n")
	p("| Rate/s | receiver p50 | p99 | raw Create with its token p50 | p99 | max | errors | p99 ratio | its p99 ÷ the admin's |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range rates {
		if a := x.RawAsReceiver; a != nil {
			p("| %d | %s | %s | %s | %s | %s | %d | %s | %s |", x.Rate, ms(x.Receiver.P50), ms(x.Receiver.P99),
				ms(a.P50), ms(a.P99), ms(a.Max), a.Errors,
				ratio(float64(x.Receiver.P99), float64(a.P99)), ratio(float64(a.P99), float64(x.Raw.P99)))
		}
	}
}
