package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/apply"
)

// provisionRun is one way of provisioning n tenants.
type provisionRun struct {
	Name        string
	N           int
	Concurrency int
	Wall        time.Duration // first start to last Ready
	Rate        float64       // tenants Ready per second over Wall
	P50, P99    time.Duration
	Max         time.Duration
	Errors      int
	FirstErr    string
	// TTR is each tenant's time to Ready, in the order they were started.
	TTR []time.Duration
	// Written is the same for "every object written" (kooper's Provisioned
	// condition; the direct creates returning), before the cluster's own
	// controllers and kwok make the workload Available. Empty for Helm.
	WrittenRate            float64
	WrittenP50, WrittenP99 time.Duration
	// CPUPerTenant is the CPU milliseconds per tenant each process of
	// cpuSnapshot used while the way ran, above what it uses at rest
	// (cpuCharge): the API server's is the cost of the way's requests,
	// whatever else the machine ran.
	CPUPerTenant map[string]float64
	// CPUAtRest is the cores each process of cpuSnapshot used at rest in
	// the idleWindow before the way (cpuCharge.idle), which CPUPerTenant
	// takes out.
	CPUAtRest map[string]float64
	// APIServerRequests are kube-apiserver's requests per tenant from
	// every client over the way's profile window, by "VERB resource code",
	// and the events it sent to watchers, by watchEventsPrefix and resource
	// (apiServerRequests; the first round's profiled ways only).
	APIServerRequests map[string]float64
	// APIServerCPU is the share of the API server's CPU profile over the
	// same window by part of its work (apiServerCPUShares; the first
	// round's profiled ways only).
	APIServerCPU map[string]float64
	// IdleRequests are kooper's API requests per second at rest, by "verb
	// resource", sampled with the CPU before the way (cpuCharge).
	IdleRequests map[string]float64
}

// timeLookup returns when a tenant reached a point.
type timeLookup func(key string) (time.Time, bool)

// rateOf returns the rate and percentiles of reaching a point, from when
// each tenant started.
func rateOf(keys []string, started []time.Time, at timeLookup) (rate float64, took []time.Duration, wall time.Duration) {
	var first, last time.Time
	for i, key := range keys {
		t, ok := at(key)
		if key == "" || !ok {
			continue
		}
		if first.IsZero() || started[i].Before(first) {
			first = started[i]
		}
		if t.After(last) {
			last = t
		}
		took = append(took, t.Sub(started[i]))
	}
	if len(took) == 0 {
		return 0, nil, 0
	}
	wall = last.Sub(first)
	return float64(len(took)) / wall.Seconds(), took, wall
}

// provisionTimeout bounds each run: generous, since a slow run is a figure
// too, but a stuck one must not hold make bench for ever.
const provisionTimeout = 15 * time.Minute

// scaleTimeout bounds the wait for the scale run's 10,000 tenants: the
// controllers provision them at their client's rate limit, the chart's
// 200 requests a second since 2026-12-02, at about 20 requests each (two
// record writes, the namespace and isolation objects, the credentials and
// their copy, an Event): 9,057 of 10,000 were Ready after 15 minutes.
const scaleTimeout = 45 * time.Minute

// runWorkers calls start(i) for i in [0,n) on concurrency workers. start
// returns the tenant's key for when() and when it started. It charges the
// way the CPU time its processes used meanwhile (cpuNow).
func (b *bench) runWorkers(ctx context.Context, name string, n, concurrency int,
	start func(ctx context.Context, i int) (string, time.Time, error),
	when, written timeLookup, waitAll func(keys []string) bool) provisionRun {
	run := provisionRun{Name: name, N: n, Concurrency: concurrency}
	charge := b.startCharge(ctx)
	keys := make([]string, n)
	started := make([]time.Time, n)
	var errs atomic.Int64
	var firstErr atomic.Value
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range jobs {
				key, at, err := start(ctx, i)
				keys[i], started[i] = key, at
				if err != nil {
					keys[i] = "" // counted once, here
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	live := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "" })
	if waitAll != nil && !waitAll(live) {
		firstErr.CompareAndSwap(nil, fmt.Sprintf("not every tenant was Ready within %s", provisionTimeout))
	}
	for _, key := range live {
		if _, ok := when(key); !ok {
			errs.Add(1)
		}
	}
	run.Errors = int(errs.Load())
	if e, ok := firstErr.Load().(string); ok {
		run.FirstErr = e
	}
	run.Rate, run.TTR, run.Wall = rateOf(keys, started, when)
	if len(run.TTR) > 0 {
		s := summarise(slices.Clone(run.TTR))
		run.P50, run.P99, run.Max = s.P50, s.P99, s.Max
	}
	if written != nil {
		var took []time.Duration
		run.WrittenRate, took, _ = rateOf(keys, started, written)
		s := summarise(took)
		run.WrittenP50, run.WrittenP99 = s.P50, s.P99
	}
	run.CPUPerTenant = charge.perTenant(b.cpuNow(), n-run.Errors)
	run.CPUAtRest = charge.idle
	run.IdleRequests = charge.idleRequests
	return run
}

// throughput provisions tenants three ways: bought through the receiver
// and provisioned by the operator; the same objects created directly (the
// API server's ceiling); one helm install per tenant (the peer approach).
func (b *bench) throughput(ctx context.Context, r *results) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := b.cfg
	states := b.watchStates(wctx, &saasv1alpha1.SaaSTenantList{}, tenantName, tenantReady, tenantProvisioned)
	tenants, provisioned := states[0], states[1]
	deployments := b.watchReady(wctx, &appsv1.DeploymentList{}, deploymentNamespace, deploymentAvailable)

	logf("Buying %d tenants through the receiver, %d at a time", c.tenants, c.concurrency)
	counted, err := b.countRequests(ctx)
	if err != nil {
		return err
	}
	op := b.profiledKooperWay(ctx, 0, tenants, provisioned)
	r.Provision = append(r.Provision, op)
	requests := counted(c.tenants, op.IdleRequests)
	r.OperatorRequests, r.RequestKinds, r.RequestsAboveRest = requests.byMethod, requests.byKind, requests.aboveRest
	if len(op.TTR) == 0 {
		return fmt.Errorf("no tenant became Ready: %s", op.FirstErr)
	}

	tmpl, err := b.tenantTemplate(ctx, fmt.Sprintf("BENCHP%06d", 0))
	if err != nil {
		return fmt.Errorf("failed to copy a provisioned tenant's objects: %w", err)
	}
	r.CeilingObjects = tmpl.kinds()
	ceiling := b.ceilingWay(ctx, 0, tmpl, deployments)
	r.Provision = append(r.Provision, ceiling)
	recorded, err := b.recordCeiling(ctx, 0, tmpl, deployments)
	if err != nil {
		return err
	}
	r.RecordCeiling = &recorded
	r.Rounds = append(r.Rounds, round{Kooper: op, Ceiling: ceiling, Record: recorded, Order: roundOrder(0)})
	for k := 1; k < c.rounds; k++ {
		next, err := b.extraRound(ctx, k, tmpl, tenants, provisioned, deployments)
		if err != nil {
			return err
		}
		r.Rounds = append(r.Rounds, next)
	}

	if c.helmTenants <= 0 {
		return nil
	}
	chart := filepath.Join(b.root, "hack", "bench", "testdata", "tenant-chart")
	logf("Installing %d tenants with one helm install --wait each, %d at a time", c.helmTenants, c.concurrency)
	var finished sync.Map
	helm := b.runWorkers(ctx, "helm install per tenant", c.helmTenants, c.concurrency,
		func(ctx context.Context, i int) (string, time.Time, error) {
			name := fmt.Sprintf("h-%020d", i)
			at := time.Now()
			_, err := b.stack.Helm(ctx, "install", name, chart, "--namespace", name, "--create-namespace",
				"--set", "instanceId="+name, "--wait", "--timeout", "5m")
			if err == nil {
				finished.Store(name, time.Now())
			}
			return name, at, err
		}, syncMapLookup(&finished), nil, nil)
	r.Provision = append(r.Provision, helm)
	logf("helm: %.2f tenants/s, p50 %s, p99 %s, %d errors", helm.Rate, helm.P50, helm.P99, helm.Errors)
	return nil
}

// round is one pass of the three ways over the same number of tenants
// (--rounds): ratios taken within a round share the machine's speed of
// that minute, which drifts by up to a third within an hour.
type round struct {
	Kooper, Ceiling, Record provisionRun
	Order                   []way // the order the ways ran in (roundOrder)
}

// kooperWay buys c.tenants tenants through the receiver, their order IDs
// numbered from offset, and waits until each is Ready.
func (b *bench) kooperWay(ctx context.Context, offset int, tenants, provisioned *readyWatcher) provisionRun {
	c := b.cfg
	op := b.runWorkers(ctx, "kooper (signed newInstance → Ready)", c.tenants, c.concurrency,
		func(ctx context.Context, i int) (string, time.Time, error) {
			orderID := fmt.Sprintf("BENCHP%06d", offset+i)
			at := time.Now()
			if err := b.registerOrder(ctx, orderID); err != nil {
				return "", at, err
			}
			a, err := b.newInstance(ctx, orderID, false)
			return a.InstanceID, at, err
		}, tenants.when, provisioned.when, func(keys []string) bool { return tenants.waitAll(ctx, keys, provisionTimeout) })
	logf("kooper: %.1f tenants/s, p50 %s, p99 %s, %d errors", op.Rate, op.P50, op.P99, op.Errors)
	return op
}

// ceilingWay creates tmpl's objects for c.tenants tenants directly, their
// namespaces numbered from offset, and waits until each Deployment is
// Available.
func (b *bench) ceilingWay(ctx context.Context, offset int, tmpl *tenantTemplate, deployments *readyWatcher) provisionRun {
	c := b.cfg
	logf("Creating the same %d objects for %d tenants directly, %d at a time", len(tmpl.objects), c.tenants, c.concurrency)
	var created sync.Map
	ceiling := b.runWorkers(ctx, "direct creates (API server ceiling)", c.tenants, c.concurrency,
		func(ctx context.Context, i int) (string, time.Time, error) {
			at := time.Now()
			ns, err := tmpl.create(ctx, b.client, fmt.Sprintf("c-%020d", offset+i))
			if err == nil {
				created.Store(ns, time.Now())
			}
			return ns, at, err
		}, deployments.when, syncMapLookup(&created), func(keys []string) bool { return deployments.waitAll(ctx, keys, provisionTimeout) })
	logf("ceiling: %.1f tenants/s, p50 %s, p99 %s, %d errors", ceiling.Rate, ceiling.P50, ceiling.P99, ceiling.Errors)
	return ceiling
}

// extraRound runs the three ways once more (round k of --rounds, counting
// from 0), in roundOrder(k), on tenants numbered after the earlier
// rounds', once the controllers restarted by the last record ceiling have
// reconciled every tenant: their resync would otherwise slow this round's
// kooper way; runWays waits so again for a kooper way after the round's
// record ceiling.
func (b *bench) extraRound(ctx context.Context, k int, tmpl *tenantTemplate, tenants, provisioned, deployments *readyWatcher) (round, error) {
	if err := b.settleControllers(ctx); err != nil {
		return round{}, err
	}
	offset := k * b.cfg.tenants
	x := round{Order: roundOrder(k)}
	logf("Round %s of %d", roundCell(k, x.Order), b.cfg.rounds)
	err := runWays(ctx, x.Order, b.settleControllers, map[way]func() error{
		wayKooper: func() error { x.Kooper = b.profiledKooperWay(ctx, k, tenants, provisioned); return nil },
		wayDirect: func() error { x.Ceiling = b.ceilingWay(ctx, offset, tmpl, deployments); return nil },
		wayRecord: func() (err error) { x.Record, err = b.recordCeiling(ctx, offset, tmpl, deployments); return err },
	})
	return x, err
}

// profiledKooperWay runs round k's kooper way (counting from 0) with its
// profiles, each from just before the way until it ends: the controllers'
// and the receiver's CPU, and the API server's from idleWindow at rest on,
// as for the record ceiling (the next way starts once they are written, or
// a profile would hold both). Round 1's are controllers-cpu.pprof,
// receiver-cpu.pprof and apiserver-kooper-cpu.pprof; the later rounds',
// slower for kooper than for the record ceiling, carry -roundN.
func (b *bench) profiledKooperWay(ctx context.Context, k int, tenants, provisioned *readyWatcher) provisionRun {
	suffix := ""
	if k > 0 {
		suffix = fmt.Sprintf("-round%d", k+1)
	}
	apiProfiled := b.profileAPIServer(ctx, "apiserver-kooper-cpu"+suffix+".pprof", b.cfg.tenants)
	controllers := b.profileCPU(ctx, b.stack.ControllersMetricsURL, "controllers-cpu"+suffix+".pprof")
	receiver := b.profileCPU(ctx, b.stack.MetricsURL, "receiver-cpu"+suffix+".pprof")
	run := b.kooperWay(ctx, k*b.cfg.tenants, tenants, provisioned)
	controllers()
	receiver()
	run.APIServerRequests, run.APIServerCPU = apiProfiled()
	return run
}

// settleControllers waits until the tenant controller has reconciled every
// SaaSTenant since it started and its queue is empty.
func (b *bench) settleControllers(ctx context.Context) error {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := b.client.List(ctx, list); err != nil {
		return err
	}
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, provisionTimeout, true, func(ctx context.Context) (bool, error) {
		m, err := b.metrics(ctx, `controller="saastenant"`, "controller_runtime_reconcile_total", "workqueue_depth")
		if err != nil {
			return false, nil
		}
		return m["controller_runtime_reconcile_total"] >= float64(len(list.Items)) && m["workqueue_depth"] == 0, nil
	})
	if err != nil {
		return fmt.Errorf("the controllers did not settle over %d tenants: %w", len(list.Items), err)
	}
	logf("The controllers settled over %d tenants in %s", len(list.Items), time.Since(start).Round(time.Millisecond))
	return nil
}

// requestsByMethod counts the operator's API requests so far, by HTTP
// method (client-go's rest_client_requests_total).
func (b *bench) requestsByMethod(ctx context.Context) (map[string]float64, error) {
	counts := map[string]float64{}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		sums, err := b.metrics(ctx, fmt.Sprintf("method=%q", m), "rest_client_requests_total")
		if err != nil {
			return nil, err
		}
		counts[m] = sums["rest_client_requests_total"]
	}
	return counts, nil
}

// syncMapLookup looks times up in m.
func syncMapLookup(m *sync.Map) timeLookup {
	return func(key string) (time.Time, bool) {
		t, ok := m.Load(key)
		if !ok {
			return time.Time{}, false
		}
		return t.(time.Time), true
	}
}

// tenantTemplate is a provisioned tenant's objects as JSON, with the
// server-set fields removed, ready to be created again under another name.
type tenantTemplate struct {
	instanceID string
	namespace  string
	objects    []string
}

// childKinds are what the operator creates in a tenant's namespace, in the
// order it applies them (internal/tenantobjects, Desired.Objects).
var childKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "ResourceQuota"}, {Version: "v1", Kind: "LimitRange"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, {Version: "v1", Kind: "ServiceAccount"},
	{Version: "v1", Kind: "Secret"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
	{Version: "v1", Kind: "Service"}, {Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
}

// tenantTemplate reads the namespace and objects kooper made for orderID.
func (b *bench) tenantTemplate(ctx context.Context, orderID string) (*tenantTemplate, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := b.client.List(ctx, list, client.MatchingLabels{saasv1alpha1.ProductLabel: benchProduct}); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list.Items, func(t saasv1alpha1.SaaSTenant) bool { return t.Spec.OrderID == orderID })
	if i < 0 || list.Items[i].Status.Namespace == "" {
		return nil, fmt.Errorf("no provisioned tenant for order %s", orderID)
	}
	t := &tenantTemplate{instanceID: list.Items[i].Name, namespace: list.Items[i].Status.Namespace}
	if err := b.copyObjects(ctx, t, func(schema.GroupKind, string) bool { return true }); err != nil {
		return nil, err
	}
	return t, nil
}

// copyObjects fills t with the tenant namespace and the objects kooper
// made in it (of childKinds) that keep accepts, scrubbed to be created
// again under another name.
func (b *bench) copyObjects(ctx context.Context, t *tenantTemplate, keep func(gk schema.GroupKind, name string) bool) error {
	if !strings.Contains(t.namespace, t.instanceID) {
		return fmt.Errorf("namespace %s does not contain the instance ID %s", t.namespace, t.instanceID)
	}
	ns := &unstructured.Unstructured{}
	ns.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if err := b.client.Get(ctx, client.ObjectKey{Name: t.namespace}, ns); err != nil {
		return err
	}
	items := []unstructured.Unstructured{*ns}
	for _, gvk := range childKinds {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := b.client.List(ctx, l, client.InNamespace(t.namespace),
			client.MatchingLabels{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}); err != nil {
			return err
		}
		for _, u := range l.Items {
			if keep(gvk.GroupKind(), u.GetName()) {
				items = append(items, u)
			}
		}
	}
	for _, u := range items {
		scrub(&u)
		data, err := json.Marshal(u.Object)
		if err != nil {
			return err
		}
		t.objects = append(t.objects, string(data))
	}
	return nil
}

// scrub removes what the API server set, so the object can be created again.
func scrub(u *unstructured.Unstructured) {
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "ownerReferences", "generation"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "annotations", "deployment.kubernetes.io/revision")
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "spec", "finalizers")
	// An allocated cluster IP is the API server's; None (a headless
	// Service) is the product's, and the copies must be headless too.
	if clusterIP, _, _ := unstructured.NestedString(u.Object, "spec", "clusterIP"); u.GetKind() == "Service" && clusterIP != "None" {
		unstructured.RemoveNestedField(u.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(u.Object, "spec", "clusterIPs")
	}
}

// kinds lists the template's kinds, for the report.
func (t *tenantTemplate) kinds() []string {
	var kinds []string
	for _, o := range t.objects {
		var m struct{ Kind string }
		_ = json.Unmarshal([]byte(o), &m)
		kinds = append(kinds, m.Kind)
	}
	return kinds
}

// typedForProtobuf is u as its Go type where the scheme has one, so that
// the client sends a built-in kind as protobuf, as kooper's controllers do
// since 2026-12-02: the ceilings are the cheapest way to make the objects.
func typedForProtobuf(scheme *runtime.Scheme, u *unstructured.Unstructured) client.Object {
	return apply.TypedOrUnstructured(scheme, u.Object)
}

// create creates the template's objects for id and returns the new
// namespace. The managed-by label is changed, so kooper neither caches
// nor reacts to these objects.
func (t *tenantTemplate) create(ctx context.Context, c client.Client, id string) (string, error) {
	replacer := strings.NewReplacer(t.instanceID, id,
		fmt.Sprintf("%q:%q", saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue),
		fmt.Sprintf("%q:%q", saasv1alpha1.ManagedByLabel, "bench-ceiling"))
	ns := strings.ReplaceAll(t.namespace, t.instanceID, id)
	for _, o := range t.objects {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(replacer.Replace(o)), &u.Object); err != nil {
			return ns, err
		}
		if err := c.Create(ctx, typedForProtobuf(c.Scheme(), u)); err != nil {
			return ns, fmt.Errorf("create %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return ns, nil
}
