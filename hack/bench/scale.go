package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/procstat"
)

// scaleResult is the operator holding many tenants. The memory and CPU
// figures are the controllers' process's, but for ReceiverRSS.
type scaleResult struct {
	Tenants       int // SaaSTenants in the cluster
	Provisioned   int // of which run a workload or a chart (the throughput and chart phases')
	TopUpDuration time.Duration
	RSS, PeakRSS  float64 // bytes, steady state / high-water mark
	HeapInuse     float64 // bytes
	LiveHeap      float64 // bytes allocated right after a forced collection: what the caches hold
	ReceiverRSS   float64 // bytes, the receiver's process at rest
	CPU           float64 // cores used on average over CPUWindow
	GCPercent     float64 // GOGC as the RSS was read (go_gc_gogc_percent): --gc-percent-at-rest's once at rest
	CPUWindow     time.Duration
	// After a restart of the controllers alone, the receiver running (the
	// issue-26 figure):
	Settle       time.Duration // stop of the old process to every tenant reconciled, queue empty
	RestartRSS   float64
	RestartHeap  float64
	RestartPeak  float64
	ReconcileErr float64 // reconcile errors counted by the new process
	// SettleGCPercent and SettleBothGCPercent are the lowest GOGC the
	// restarted controllers reported while they settled.
	SettleGCPercent, SettleBothGCPercent float64
	// QueriesDuringRestart are queryInstance callbacks sent as soon as the
	// restarted controllers were ready, while they settled.
	QueriesDuringRestart latencies
	// After a restart of both components at once, as a helm upgrade
	// restarts them: the receiver lists the tenants too.
	SettleBoth       time.Duration
	ReconcileErrBoth float64
	ReadyAfter       int // tenants Ready once settled
	// Queries are queryInstance callbacks sent as soon as the restarted
	// receiver was ready, while the restarted controllers settled.
	Queries latencies
}

const cpuWindow = 30 * time.Second

// scaleRun tops the cluster up to cfg.scale tenants with Simulated debug
// tenants (recorded and answered, no workload: 10,000 tenants with kwok
// pods do not fit the machine), then measures the operator's memory and
// CPU at rest, and how long a restarted operator takes to settle them all.
func (b *bench) scaleRun(ctx context.Context, r *results) error {
	if b.cfg.scale <= 0 {
		return nil
	}
	s := &scaleResult{CPUWindow: cpuWindow}
	r.Scale = s
	list := &saasv1alpha1.SaaSTenantList{}
	if err := b.client.List(ctx, list); err != nil {
		return err
	}
	existing := len(list.Items)
	for _, t := range list.Items {
		if t.Spec.Mode != saasv1alpha1.ModeDebug {
			s.Provisioned++
		}
	}
	if missing := b.cfg.scale - existing; missing > 0 {
		logf("Creating %d Simulated tenants directly (%d exist)", missing, existing)
		start := time.Now()
		if err := b.createDebugTenants(ctx, missing); err != nil {
			return err
		}
		s.TopUpDuration = time.Since(start)
	}
	s.Tenants = max(existing, b.cfg.scale)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := b.watchReady(wctx, &saasv1alpha1.SaaSTenantList{}, tenantName, tenantReady)
	logf("Waiting for %d tenants to be Ready", s.Tenants)
	if !ready.waitCount(ctx, s.Tenants, scaleTimeout) {
		return fmt.Errorf("only %d of %d tenants were Ready after %s", ready.count(), s.Tenants, scaleTimeout)
	}
	cancel()
	if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
		return fmt.Errorf("the operator's queue did not empty: %w", err)
	}

	// The figures are the controllers' process's, which holds every tenant
	// in its cache (DESIGN.md §7); the receiver's RSS is reported beside them.
	pid := b.stack.OperatorPID(localstack.Controllers)
	logf("Measuring the controllers at rest over %s", cpuWindow)
	before, err := procstat.CPUSeconds(pid)
	if err != nil {
		return err
	}
	select {
	case <-time.After(cpuWindow):
	case <-ctx.Done():
		return ctx.Err()
	}
	after, err := procstat.CPUSeconds(pid)
	if err != nil {
		return err
	}
	s.CPU = (after - before) / cpuWindow.Seconds()
	if s.RSS, s.PeakRSS, s.HeapInuse, err = b.memory(ctx, pid, b.stack.ControllersMetricsURL); err != nil {
		return err
	}
	if m, err := b.metricsFrom(ctx, b.stack.ControllersMetricsURL, "", "go_gc_gogc_percent"); err == nil {
		s.GCPercent = m["go_gc_gogc_percent"]
	}
	// gc=1 collects before the profile: it and the allocated bytes read
	// after it are what is live, whenever the collector last ran.
	if err := b.saveProfile(ctx, b.stack.ControllersMetricsURL, "heap", "gc=1", "controllers-heap.pprof"); err != nil {
		logf("No heap profile of the controllers: %v", err)
	} else if m, err := b.metricsFrom(ctx, b.stack.ControllersMetricsURL, "", "go_memstats_heap_alloc_bytes"); err == nil {
		s.LiveHeap = m["go_memstats_heap_alloc_bytes"]
	}
	if s.ReceiverRSS, err = procstat.StatusBytes(b.stack.OperatorPID(localstack.Receiver), "VmRSS"); err != nil {
		return err
	}

	queried, err := b.sampleInstances(ctx, restartQueries)
	if err != nil {
		return err
	}
	logf("Restarting the controllers (the receiver keeps running)")
	start := time.Now()
	if err := b.stack.RestartComponent(ctx, localstack.Controllers); err != nil {
		return err
	}
	s.QueriesDuringRestart = b.queryAll(ctx, queried)
	logf("%d queryInstance while the controllers restarted: max %s, %d errors", s.QueriesDuringRestart.Sent, s.QueriesDuringRestart.Max, s.QueriesDuringRestart.Errors)
	profiled := b.profileCPU(ctx, b.stack.ControllersMetricsURL, "controllers-restart-cpu.pprof")
	s.Settle, s.ReconcileErr, s.SettleGCPercent, err = b.waitSettled(ctx, start, s.Tenants)
	profiled()
	if err != nil {
		return fmt.Errorf("the restarted controllers did not settle: %w", err)
	}
	logf("The controllers settled in %s", s.Settle)
	if s.RestartRSS, s.RestartPeak, s.RestartHeap, err = b.memory(ctx, b.stack.OperatorPID(localstack.Controllers), b.stack.ControllersMetricsURL); err != nil {
		return err
	}

	logf("Restarting the operator (both components)")
	start = time.Now()
	if err := b.stack.RestartOperator(ctx); err != nil {
		return err
	}
	s.Queries = b.queryAll(ctx, queried)
	logf("%d queryInstance right after the restart: max %s, %d errors", s.Queries.Sent, s.Queries.Max, s.Queries.Errors)
	if s.SettleBoth, s.ReconcileErrBoth, s.SettleBothGCPercent, err = b.waitSettled(ctx, start, s.Tenants); err != nil {
		return fmt.Errorf("the restarted operator did not settle: %w", err)
	}
	list = &saasv1alpha1.SaaSTenantList{}
	if err := b.client.List(ctx, list); err != nil {
		return err
	}
	for _, t := range list.Items {
		if apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition) {
			s.ReadyAfter++
		}
	}
	logf("Settled in %s; %d of %d tenants Ready", s.SettleBoth, s.ReadyAfter, s.Tenants)
	return nil
}

// waitSettled waits until restarted controllers have reconciled every one
// of tenants and their tenant queue is empty, and returns the time since
// start, the reconcile errors the new process counted and the lowest GOGC
// it reported meanwhile (--gc-percent-at-rest must not lower it while the
// process works).
func (b *bench) waitSettled(ctx context.Context, start time.Time, tenants int) (time.Duration, float64, float64, error) {
	var reconcileErrors float64
	lowestGCPercent := math.Inf(1)
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		// One scrape a poll: each costs the controllers their gauges over
		// every tenant (collectTenants), 8 a second in the measured time
		// when this asked twice.
		lines, err := b.metricLines(ctx, b.stack.ControllersMetricsURL)
		if err != nil {
			return false, nil
		}
		if v, ok := sumMetrics(lines, "", "go_gc_gogc_percent")["go_gc_gogc_percent"]; ok {
			lowestGCPercent = min(lowestGCPercent, v)
		}
		m := sumMetrics(lines, `controller="saastenant"`, "controller_runtime_reconcile_total", "workqueue_depth", "controller_runtime_reconcile_errors_total")
		reconcileErrors = m["controller_runtime_reconcile_errors_total"]
		return m["controller_runtime_reconcile_total"] >= float64(tenants) && m["workqueue_depth"] == 0, nil
	})
	return time.Since(start), reconcileErrors, lowestGCPercent, err
}

// memory reads a component's resident and peak resident memory from /proc
// and its in-use heap from its metrics endpoint.
func (b *bench) memory(ctx context.Context, pid int, metricsURL string) (rss, peak, heap float64, err error) {
	if rss, err = procstat.StatusBytes(pid, "VmRSS"); err != nil {
		return
	}
	if peak, err = procstat.StatusBytes(pid, "VmHWM"); err != nil {
		return
	}
	m, err := b.metricsFrom(ctx, metricsURL, "", "go_memstats_heap_inuse_bytes")
	return rss, peak, m["go_memstats_heap_inuse_bytes"], err
}

// createDebugTenants creates n Simulated tenants with a client, 16 at a time.
func (b *bench) createDebugTenants(ctx context.Context, n int) error {
	jobs := make(chan int)
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				if err := b.client.Create(ctx, debugTenant(fmt.Sprintf("BENCHS%06d", i))); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return fmt.Errorf("failed to create tenants: %w", err)
	}
	return nil
}

// restartQueries is how many queryInstance callbacks are sent right after
// a restart.
const restartQueries = 100

// sampleInstances returns n instance IDs of the bench product's tenants,
// spread over them.
func (b *bench) sampleInstances(ctx context.Context, n int) ([]string, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := b.client.List(ctx, list, client.MatchingLabels{saasv1alpha1.ProductLabel: benchProduct}); err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no tenant of product %s to query", benchProduct)
	}
	ids := make([]string, 0, n)
	for i := range n {
		ids = append(ids, list.Items[i*len(list.Items)/n].Name)
	}
	return ids, nil
}

// queryAll sends a queryInstance for each id, 8 at a time, and sums up
// their latencies and errors.
func (b *bench) queryAll(ctx context.Context, ids []string) latencies {
	took := make([]time.Duration, len(ids))
	errs := make([]error, len(ids))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				start := time.Now()
				_, errs[i] = b.queryInstance(ctx, ids[i])
				took[i] = time.Since(start)
			}
		})
	}
	start := time.Now()
	for i := range ids {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	l := summarise(took)
	l.Sent, l.Achieved = len(ids), float64(len(ids))/time.Since(start).Seconds()
	for _, err := range errs {
		if err != nil {
			l.Errors++
			if l.FirstErr == "" {
				l.FirstErr = err.Error()
			}
		}
	}
	return l
}
