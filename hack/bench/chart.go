package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// The chart phase (issue 24, docs/chart-tenants.md): tenants of the chart
// sample product (config/samples/saas_v1alpha1_saasproduct_chart.yaml, the
// chart config/samples/charts/crm-suite in a Secret) provisioned three ways,
// as the throughput phase does for workload tenants: bought through the
// receiver and provisioned by kooper; the same objects created directly
// (kooper's isolation objects, copied from a tenant kooper provisioned, and
// the chart rendered per tenant with internal/chartrender in this process);
// one helm install per tenant of the same chart with the same values.
const (
	chartProduct   = "crm-suite"
	chartSecret    = "crm-suite-chart"
	chartProductID = "OFFI846204237451911169"
	chartBasicSKU  = "0a4d1578-5295-46a7-92d4-7c803dccc51e"
)

// chartProductValues go over the sample's own spec.chart.values: the local
// cluster has a dozen volumes, which the workload tenants' sample product
// uses, so Redis keeps its data on an emptyDir (as in hack/e2e).
const chartProductValues = `{"redis":{"persistence":{"enabled":false}}}`

// chartResult is the chart phase's figures.
type chartResult struct {
	// Provision is kooper, the direct creates, helm, in that order; a way
	// that did not run is missing.
	Provision []provisionRun
	// Objects are the kinds the direct creates make per tenant.
	Objects []string
	// OperatorRequests are kooper's API requests per tenant, by method.
	OperatorRequests map[string]float64
	// RequestKinds are kooper's API requests per tenant, by "verb resource".
	RequestKinds map[string]float64
	// RequestsAboveRest is their total less kooper's requests at rest for
	// as long (requestCounts.aboveRest); nil when not measured.
	RequestsAboveRest *float64
	// Reconciles are the tenant controller's reconciles per tenant.
	Reconciles float64
	// Render is the mean time of one in-process render in the direct creates.
	Render time.Duration
	// Duration is the phase's wall time, setup included.
	Duration time.Duration
	// Record is the first round's direct creates with each tenant's
	// record (chartWays.record).
	Record *provisionRun
	// Rounds are each round's kooper, direct and record ways, the first
	// of them those of Provision and Record.
	Rounds []chartRound
}

// chartRound is one round of the chart phase (--rounds): kooper's way, the
// direct creates and the direct creates with records of as many tenants,
// back to back.
type chartRound struct {
	Kooper, Direct, Record provisionRun
	Order                  []way // the order the ways ran in (roundOrder)
}

// chartSetup is what the four ways share.
type chartSetup struct {
	product     *saasv1alpha1.SaaSProduct
	archive     chartrender.Archive
	chartDir    string
	kubeVersion string
	// productValues and planValues are the product's and the basic plan's
	// values, as the tenant controller reads them.
	productValues, planValues map[string]any
	renderer                  chartrender.Renderer
}

// chartRun runs the chart phase: --rounds rounds of kooper's way, the
// direct creates and the direct creates with records (the first round's
// figures are the tables'; each round's ratios and their medians follow),
// then helm's way once.
func (b *bench) chartRun(ctx context.Context, r *results) error {
	c := b.cfg
	if c.chartTenants <= 0 {
		return nil
	}
	began := time.Now()
	res := &chartResult{}
	r.Chart = res
	defer func() { res.Duration = time.Since(began) }()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The phases before must not load this one: the record ceiling
	// restarted the controllers, whose resync of every tenant would
	// otherwise run during this phase (an empty queue alone may be one
	// the resync has not filled yet).
	if err := b.settleControllers(ctx); err != nil {
		return err
	}
	if err := b.waitQueueEmpty(ctx, 5*time.Minute); err != nil {
		return fmt.Errorf("the operator's queues did not drain before the chart phase: %w", err)
	}
	s, err := b.installChartProduct(ctx)
	if err != nil {
		return err
	}
	w := b.newChartWays(wctx, s)
	for k := range max(c.rounds, 1) {
		if k > 0 {
			logf("Chart round %s of %d", roundCell(k, roundOrder(k)), c.rounds)
			if err := b.settleControllers(ctx); err != nil {
				return err
			}
		}
		x, err := w.round(ctx, res, k)
		if err != nil {
			return err
		}
		res.Rounds = append(res.Rounds, x)
		if k == 0 {
			res.Provision = append(res.Provision, x.Kooper, x.Direct)
			res.Record = &x.Record
		}
	}
	return b.chartHelm(ctx, res, s)
}

// round runs round k's three ways in roundOrder(k) (runWays).
func (w *chartWays) round(ctx context.Context, res *chartResult, k int) (chartRound, error) {
	x := chartRound{Order: roundOrder(k)}
	err := runWays(ctx, x.Order, w.b.settleControllers, map[way]func() error{
		wayKooper: func() (err error) { x.Kooper, err = w.kooper(ctx, res, k); return err },
		wayDirect: func() error { x.Direct = w.direct(ctx, res, k); return nil },
		wayRecord: func() (err error) { x.Record, err = w.record(ctx, res, k); return err },
	})
	return x, err
}

// chartWays is what the chart phase's ways share across rounds: the chart,
// the watches that time each tenant, and what a direct tenant must have
// current to count as Ready.
type chartWays struct {
	b                         *bench
	s                         *chartSetup
	url                       string
	tenants, provisioned      *readyWatcher
	deployments, statefulSets *readyWatcher
	tmpl                      *tenantTemplate // the direct creates' isolation objects, from kooper's first tenant
	rec                       *recordTemplate // the record ceiling's SaaSTenant, from kooper's first tenant
	workloads                 sync.Map        // namespace → []workloadKey of what must be current
}

func (b *bench) newChartWays(ctx context.Context, s *chartSetup) *chartWays {
	w := &chartWays{b: b, s: s, url: strings.TrimSuffix(b.stack.ReceiverURL, localstack.Product) + chartProduct}
	states := b.watchStates(ctx, &saasv1alpha1.SaaSTenantList{}, tenantName, tenantReady, tenantProvisioned)
	w.tenants, w.provisioned = states[0], states[1]
	w.deployments = b.watchReady(ctx, &appsv1.DeploymentList{}, namespacedName,
		kstatusCurrent(appsv1.SchemeGroupVersion.WithKind("Deployment")))
	w.statefulSets = b.watchReady(ctx, &appsv1.StatefulSetList{}, namespacedName,
		kstatusCurrent(appsv1.SchemeGroupVersion.WithKind("StatefulSet")))
	return w
}

// kooper buys the round's chart tenants through the receiver and waits
// until each is Ready. The first round also counts kooper's requests and
// reconciles per tenant and profiles the API server.
func (w *chartWays) kooper(ctx context.Context, res *chartResult, round int) (provisionRun, error) {
	b, c := w.b, w.b.cfg
	offset := round * c.chartTenants
	logf("Buying %d tenants of the chart product %s through the receiver, %d at a time", c.chartTenants, chartProduct, c.concurrency)
	counted, err := b.countChartRequests(ctx, res, round == 0)
	if err != nil {
		return provisionRun{}, err
	}
	// Each way's API server profile ends before the next way starts, so
	// that `go tool pprof -diff_base` of the two shows what kooper adds.
	profiled := b.profileFirstRound(ctx, round == 0, "apiserver-chart-kooper-cpu.pprof", c.chartTenants)
	controllersProfiled := func() {}
	if round == 0 { // kooper's own share of the machine's two cores
		controllersProfiled = b.profileCPU(ctx, b.stack.ControllersMetricsURL, "controllers-chart-cpu.pprof")
	}
	op := b.runWorkers(ctx, "kooper, chart (signed newInstance → Ready)", c.chartTenants, c.concurrency,
		func(ctx context.Context, i int) (string, time.Time, error) {
			orderID := fmt.Sprintf("BENCHC%06d", offset+i)
			at := time.Now()
			if err := b.registerOrderOf(ctx, orderID, chartProductID, chartBasicSKU); err != nil {
				return "", at, err
			}
			a, err := b.newInstanceAt(ctx, w.url, orderID, false)
			return a.InstanceID, at, err
		}, w.tenants.when, w.provisioned.when, func(keys []string) bool { return w.tenants.waitAll(ctx, keys, provisionTimeout) })
	controllersProfiled()
	counted(op.IdleRequests)
	logf("kooper, chart: %.2f tenants/s, p50 %s, p99 %s, %d errors", op.Rate, op.P50, op.P99, op.Errors)
	op.APIServerRequests, op.APIServerCPU = profiled()
	if len(op.TTR) == 0 {
		return op, fmt.Errorf("no chart tenant became Ready: %s", op.FirstErr)
	}
	if w.tmpl == nil {
		if w.tmpl, err = b.chartIsolationTemplate(ctx, w.s, fmt.Sprintf("BENCHC%06d", 0)); err != nil {
			return op, fmt.Errorf("failed to copy a provisioned chart tenant's objects: %w", err)
		}
	}
	return op, nil
}

// countChartRequests reads kooper's request and reconcile counters when
// count is set; the returned done reads them again into res.
func (b *bench) countChartRequests(ctx context.Context, res *chartResult, count bool) (done func(idle map[string]float64), err error) {
	if !count {
		return func(map[string]float64) {}, nil
	}
	counted, err := b.countRequests(ctx)
	if err != nil {
		return nil, err
	}
	reconcilesBefore, err := b.tenantReconciles(ctx)
	if err != nil {
		return nil, err
	}
	return func(idle map[string]float64) {
		requests := counted(b.cfg.chartTenants, idle)
		res.OperatorRequests, res.RequestKinds, res.RequestsAboveRest = requests.byMethod, requests.byKind, requests.aboveRest
		if after, err := b.tenantReconciles(ctx); err == nil {
			res.Reconciles = (after - reconcilesBefore) / float64(b.cfg.chartTenants)
		}
	}, nil
}

// ready reports when every workload of the direct tenant in ns became
// current.
func (w *chartWays) ready(ns string) (time.Time, bool) {
	v, ok := w.workloads.Load(ns)
	if !ok {
		return time.Time{}, false
	}
	var last time.Time
	for _, wk := range v.([]workloadKey) {
		t, ok := wk.watcher.when(wk.key)
		if !ok {
			return time.Time{}, false
		}
		last = later(last, t)
	}
	return last, true
}

// waitAll waits until every workload of the direct tenants in namespaces
// is current.
func (w *chartWays) waitAll(ctx context.Context, namespaces []string) bool {
	var deploys, sets []string
	for _, ns := range namespaces {
		v, _ := w.workloads.Load(ns)
		ws, _ := v.([]workloadKey)
		for _, wk := range ws {
			if wk.watcher == w.deployments {
				deploys = append(deploys, wk.key)
			} else {
				sets = append(sets, wk.key)
			}
		}
	}
	return w.deployments.waitAll(ctx, deploys, provisionTimeout) && w.statefulSets.waitAll(ctx, sets, provisionTimeout)
}

// track records the Deployments and StatefulSets of objs as what the
// direct tenant in ns must have current.
func (w *chartWays) track(ns string, objs []*unstructured.Unstructured) {
	var ws []workloadKey
	for _, o := range objs {
		switch o.GroupVersionKind().GroupKind() {
		case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
			ws = append(ws, workloadKey{w.deployments, ns + "/" + o.GetName()})
		case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
			ws = append(ws, workloadKey{w.statefulSets, ns + "/" + o.GetName()})
		}
	}
	w.workloads.Store(ns, ws)
}

// direct creates the same objects as kooper's way for the round's tenants,
// rendering the chart per tenant in this process, and waits until each
// tenant's workloads are current.
func (w *chartWays) direct(ctx context.Context, res *chartResult, round int) provisionRun {
	c := w.b.cfg
	logf("Creating the same objects for %d chart tenants directly (rendering the chart in process), %d at a time", c.chartTenants, c.concurrency)
	run := w.createDirectly(ctx, res, round, nil)
	logf("direct, chart: %.2f tenants/s, p50 %s, p99 %s, %d errors", run.Rate, run.P50, run.P99, run.Errors)
	return run
}

// record is the direct creates with each tenant's record as well, the
// SaaSTenant's create and one status write, kooper's controllers stopped
// (the throughput phase's record ceiling, for chart tenants): what a chart
// tenant costs with the record DESIGN keeps in etcd and no controller.
func (w *chartWays) record(ctx context.Context, res *chartResult, round int) (provisionRun, error) {
	b, c := w.b, w.b.cfg
	if w.rec == nil {
		rec, err := b.recordTemplateOf(ctx, chartProduct, fmt.Sprintf("BENCHC%06d", 0))
		if err != nil {
			return provisionRun{}, fmt.Errorf("failed to copy a provisioned chart tenant's record: %w", err)
		}
		w.rec = rec
	}
	logf("Stopping kooper's controllers; creating the same objects and a record with one status write for %d chart tenants directly, %d at a time", c.chartTenants, c.concurrency)
	return b.withControllersStopped(ctx, func() provisionRun {
		run := w.createDirectly(ctx, res, round, w.rec)
		logf("record, chart: %.2f tenants/s, p50 %s, p99 %s, %d errors", run.Rate, run.P50, run.P99, run.Errors)
		return run
	})
}

// createDirectly renders and creates each of the round's chart tenants in
// this process; with rec, inside the tenant's record (recordTemplate.create).
// The first round profiles the API server and, without rec, records the
// render's mean time and the kinds created.
func (w *chartWays) createDirectly(ctx context.Context, res *chartResult, round int, rec *recordTemplate) provisionRun {
	b, c, s := w.b, w.b.cfg, w.s
	name, prefix, profile := "direct creates, chart (ceiling)", "cd", "apiserver-chart-direct-cpu.pprof"
	if rec != nil {
		name, prefix, profile = "direct creates + record, chart", "cr", "apiserver-chart-record-cpu.pprof"
	}
	offset := round * c.chartTenants
	var created sync.Map
	var renders atomic.Int64
	var renderTime atomic.Int64
	var kinds atomic.Value
	profiled := b.profileFirstRound(ctx, round == 0, profile, c.chartTenants)
	run := b.runWorkers(ctx, name, c.chartTenants, c.concurrency,
		func(ctx context.Context, i int) (string, time.Time, error) {
			id := fmt.Sprintf("%s-%019d", prefix, offset+i)
			ns := tenantobjects.NamespaceName(s.product, id)
			at := time.Now()
			objs, err := s.render(ctx, id, ns)
			renderTime.Add(int64(time.Since(at)))
			renders.Add(1)
			if err != nil {
				return ns, at, err
			}
			w.track(ns, objs)
			objects := func() error {
				if _, err := w.tmpl.create(ctx, b.client, id); err != nil {
					return err
				}
				return b.createRendered(ctx, id, objs)
			}
			if rec != nil {
				err = rec.create(ctx, b.client, id, objects)
			} else {
				err = objects()
			}
			if err != nil {
				return ns, at, err
			}
			created.Store(ns, time.Now())
			kinds.CompareAndSwap(nil, append(w.tmpl.kinds(), kindsOf(objs)...))
			return ns, at, nil
		}, w.ready, syncMapLookup(&created), func(keys []string) bool { return w.waitAll(ctx, keys) })
	if round == 0 && rec == nil {
		if n := renders.Load(); n > 0 {
			res.Render = time.Duration(renderTime.Load() / n)
		}
		if k, ok := kinds.Load().([]string); ok {
			res.Objects = k
		}
	}
	run.APIServerRequests, run.APIServerCPU = profiled()
	return run
}

// createRendered creates a direct tenant's rendered objects, labelled as
// the bench's.
func (b *bench) createRendered(ctx context.Context, id string, objs []*unstructured.Unstructured) error {
	labels := map[string]string{saasv1alpha1.ManagedByLabel: "bench-ceiling", saasv1alpha1.InstanceIDLabel: id,
		saasv1alpha1.ProductLabel: chartProduct}
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range labels {
			l[k] = v
		}
		o.SetLabels(l)
		if err := b.client.Create(ctx, typedForProtobuf(b.client.Scheme(), o)); err != nil {
			return fmt.Errorf("create %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// chartHelm installs min(--chart-tenants, --helm-tenants) chart tenants
// with one helm install --wait each.
func (b *bench) chartHelm(ctx context.Context, res *chartResult, s *chartSetup) error {
	c := b.cfg
	helmTenants := min(c.helmTenants, c.chartTenants)
	if helmTenants <= 0 {
		return nil
	}
	valuesDir := filepath.Join(c.out, "chart-values")
	if err := os.MkdirAll(valuesDir, 0o755); err != nil {
		return err
	}
	logf("Installing %d chart tenants with one helm install --wait each, %d at a time", helmTenants, c.concurrency)
	var finished sync.Map
	helm := b.runWorkers(ctx, "helm install per tenant, chart", helmTenants, c.concurrency,
		func(ctx context.Context, i int) (string, time.Time, error) {
			id := fmt.Sprintf("ch-%019d", i)
			ns := tenantobjects.NamespaceName(s.product, id)
			at := time.Now()
			values, err := json.Marshal(s.values(id, ns))
			if err != nil {
				return ns, at, err
			}
			file := filepath.Join(valuesDir, id+".json")
			if err := os.WriteFile(file, values, 0o644); err != nil {
				return ns, at, err
			}
			if _, err := b.stack.Helm(ctx, "install", id, s.chartDir, "--namespace", ns, "--create-namespace",
				"--values", file, "--wait", "--timeout", "5m"); err != nil {
				return ns, at, err
			}
			finished.Store(ns, time.Now())
			return ns, at, nil
		}, syncMapLookup(&finished), nil, nil)
	res.Provision = append(res.Provision, helm)
	logf("helm, chart: %.2f tenants/s, p50 %s, p99 %s, %d errors", helm.Rate, helm.P50, helm.P99, helm.Errors)
	return nil
}

// tenantReconciles is the tenant controller's reconciles so far, by any result.
func (b *bench) tenantReconciles(ctx context.Context) (float64, error) {
	m, err := b.metrics(ctx, `controller="saastenant"`, "controller_runtime_reconcile_total")
	return m["controller_runtime_reconcile_total"], err
}

// workloadKey is one Deployment or StatefulSet a tenant waits for.
type workloadKey struct {
	watcher *readyWatcher
	key     string
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func namespacedName(obj client.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

// kstatusCurrent is what the tenant controller's Available condition asks
// of a chart's object: kstatus finds it Current.
func kstatusCurrent(gvk schema.GroupVersionKind) func(client.Object) bool {
	return func(obj client.Object) bool { return tenantobjects.Current(obj, gvk) }
}

func kindsOf(objs []*unstructured.Unstructured) []string {
	kinds := make([]string, 0, len(objs))
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	return kinds
}

// installChartProduct packages the sample chart into its Secret and
// creates the chart sample product (as hack/e2e's installChartProduct),
// and waits until the product's chart is resolved.
func (b *bench) installChartProduct(ctx context.Context) (*chartSetup, error) {
	s := &chartSetup{chartDir: filepath.Join(b.root, "config", "samples", "charts", "crm-suite")}
	ch, err := loader.LoadDir(s.chartDir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(b.cfg.out, "chart-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	path, err := chartutil.Save(ch, tmp)
	if err != nil {
		return nil, err
	}
	tgz, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	s.archive = chartrender.ArchiveFromBytes(tgz)
	if err := b.client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: chartSecret, Namespace: localstack.Namespace},
		Data:       map[string][]byte{"chart.tgz": tgz},
	}); err != nil {
		return nil, fmt.Errorf("failed to create the chart Secret: %w", err)
	}

	data, err := os.ReadFile(filepath.Join(b.root, "config", "samples", "saas_v1alpha1_saasproduct_chart.yaml"))
	if err != nil {
		return nil, err
	}
	product := &saasv1alpha1.SaaSProduct{}
	if err := yaml.UnmarshalStrict(data, product); err != nil {
		return nil, err
	}
	sampleValues, err := jsonObject(product.Spec.Chart.Values)
	if err != nil {
		return nil, err
	}
	var override map[string]any
	if err := json.Unmarshal([]byte(chartProductValues), &override); err != nil {
		return nil, err
	}
	s.productValues = chartrender.MergeValues(sampleValues, override)
	raw, err := json.Marshal(s.productValues)
	if err != nil {
		return nil, err
	}
	product.Spec.Chart.Values = &apiextensionsv1.JSON{Raw: raw}
	i := slices.IndexFunc(product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == chartBasicSKU })
	if i < 0 {
		return nil, fmt.Errorf("the chart sample product has no plan %s", chartBasicSKU)
	}
	if s.planValues, err = jsonObject(product.Spec.Plans[i].Values); err != nil {
		return nil, err
	}
	if err := b.client.Create(ctx, product); err != nil {
		return nil, fmt.Errorf("failed to create the SaaSProduct %s: %w", chartProduct, err)
	}
	logf("Waiting for the SaaSProduct %s to resolve its chart", chartProduct)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := b.client.Get(ctx, client.ObjectKey{Name: chartProduct}, product); err != nil {
			return false, err
		}
		return apimeta.IsStatusConditionTrue(product.Status.Conditions, saasv1alpha1.ReadyCondition) && product.Status.Chart != nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("the SaaSProduct %s did not become Ready: %w", chartProduct, err)
	}
	if product.Status.Chart.Digest != s.archive.Digest() {
		return nil, fmt.Errorf("the SaaSProduct %s resolved chart %s, not %s", chartProduct, product.Status.Chart.Digest, s.archive.Digest())
	}
	s.product = product
	dc, err := discovery.NewDiscoveryClientForConfig(b.restConfig)
	if err != nil {
		return nil, err
	}
	sv, err := dc.ServerVersion()
	if err != nil {
		return nil, err
	}
	s.kubeVersion = sv.GitVersion
	return s, nil
}

func jsonObject(raw *apiextensionsv1.JSON) (map[string]any, error) {
	if raw == nil || len(raw.Raw) == 0 {
		return nil, nil
	}
	var m map[string]any
	return m, json.Unmarshal(raw.Raw, &m)
}

// values are a tenant's chart values as the tenant controller builds them
// (controllers/saastenant_chart.go, chartValues): the product's, the plan's,
// then kooper's own under the key kooper. chartIsolationTemplate checks
// that they render what kooper rendered.
func (s *chartSetup) values(id, ns string) map[string]any {
	urls, _ := tenantobjects.RenderURLs(s.product, id, ns) // the product is Ready: its URLs render
	kooper := map[string]any{
		"instanceId":            id,
		"namespace":             ns,
		"skuCode":               chartBasicSKU,
		"frontEndUrl":           urls.FrontEnd,
		"adminUrl":              urls.Admin,
		"host":                  urls.Host,
		"credentialsSecretName": tenantobjects.CredentialsSecretName,
		"sso":                   map[string]any{"secretName": saasv1alpha1.SSOSecretName},
		"directory":             map[string]any{"secretPrefix": saasv1alpha1.DirectorySecretName},
	}
	return chartrender.MergeValues(s.productValues, s.planValues, map[string]any{"kooper": kooper})
}

// render renders the chart for one tenant, as the tenant controller does.
func (s *chartSetup) render(ctx context.Context, id, ns string) ([]*unstructured.Unstructured, error) {
	return s.renderer.Render(ctx, s.archive, s.values(id, ns),
		chartrender.Options{ReleaseName: id, Namespace: ns, KubeVersion: s.kubeVersion})
}

// chartIsolationTemplate copies the objects kooper made for the chart
// tenant of orderID besides its chart's (status.inventory): the namespace
// and kooper's isolation objects. It checks that the bench's render of
// that tenant has the objects of its inventory.
func (b *bench) chartIsolationTemplate(ctx context.Context, s *chartSetup, orderID string) (*tenantTemplate, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := b.client.List(ctx, list, client.MatchingLabels{saasv1alpha1.ProductLabel: chartProduct}); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list.Items, func(t saasv1alpha1.SaaSTenant) bool { return t.Spec.OrderID == orderID })
	if i < 0 || list.Items[i].Status.Namespace == "" {
		return nil, fmt.Errorf("no provisioned tenant for order %s", orderID)
	}
	tenant := &list.Items[i]
	t := &tenantTemplate{instanceID: tenant.Spec.InstanceID, namespace: tenant.Status.Namespace}
	inInventory := func(gk schema.GroupKind, name string) bool {
		return slices.ContainsFunc(tenant.Status.Inventory, func(e saasv1alpha1.InventoryEntry) bool {
			return e.Group == gk.Group && e.Kind == gk.Kind && e.Name == name
		})
	}
	rendered, err := s.render(ctx, tenant.Spec.InstanceID, t.namespace)
	if err != nil {
		return nil, err
	}
	if len(rendered) != len(tenant.Status.Inventory) {
		return nil, fmt.Errorf("the bench renders %d objects for tenant %s, kooper's inventory has %d", len(rendered), tenant.Name, len(tenant.Status.Inventory))
	}
	for _, o := range rendered {
		if !inInventory(o.GroupVersionKind().GroupKind(), o.GetName()) {
			return nil, fmt.Errorf("the bench renders %s %s for tenant %s, kooper's inventory does not have it", o.GetKind(), o.GetName(), tenant.Name)
		}
	}
	notCharts := func(gk schema.GroupKind, name string) bool { return !inInventory(gk, name) }
	if err := b.copyObjects(ctx, t, notCharts); err != nil {
		return nil, err
	}
	return t, nil
}
