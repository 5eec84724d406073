// Package promqlmeter runs kooper's Prometheus meter against Prometheus's own
// PromQL engine and TSDB, in process. It is a module of its own because the
// Prometheus module cannot be tidied from the module proxy here (one of the
// test dependencies it names, github.com/hashicorp/nomad/api, is refused with
// 403), which would break `go mod tidy` for the operator's module. It does
// not change the k8s.io versions: those stay the operator's.
package promqlmeter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/teststorage"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/controllers"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/promquery"
)

// promAPI serves GET /api/v1/query from the real PromQL engine over an
// in-process TSDB; only the JSON envelope is written here.
func promAPI(t *testing.T, engine *promql.Engine, db *teststorage.TestStorage) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, _ := strconv.ParseFloat(r.FormValue("time"), 64)
		q, err := engine.NewInstantQuery(r.Context(), db, nil, r.FormValue("query"), time.Unix(int64(at), 0))
		if err != nil {
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": err.Error()})
			return
		}
		defer q.Close()
		res := q.Exec(r.Context())
		if res.Err != nil {
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "execution", "error": res.Err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": promData(res.Value)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// promData writes a result as the HTTP API does: [time, "value"] pairs.
func promData(v any) map[string]any {
	pair := func(ms int64, f float64) []any { return []any{float64(ms) / 1000, strconv.FormatFloat(f, 'f', -1, 64)} }
	switch v := v.(type) {
	case promql.Scalar:
		return map[string]any{"resultType": "scalar", "result": pair(v.T, v.V)}
	case promql.Vector:
		out := []map[string]any{}
		for _, s := range v {
			out = append(out, map[string]any{"metric": s.Metric.Map(), "value": pair(s.T, s.F)})
		}
		return map[string]any{"resultType": "vector", "result": out}
	}
	return map[string]any{"resultType": "string", "result": []any{}}
}

// pushes records what the metering controller pushed.
type pushes struct {
	mu      sync.Mutex
	records []koogallery.UsageRecord
}

func (p *pushes) PushUsage(_ context.Context, _ string, records []koogallery.UsageRecord) ([]koogallery.UsageRecordError, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, records...)
	return nil, nil
}

// requestsDB holds a counter of one request per second in the tenant's
// namespace and ten per second in another, sampled every 15 s for 2 hours.
func requestsDB(t *testing.T, h time.Time) *teststorage.TestStorage {
	g := NewWithT(t)
	db := teststorage.New(t)
	app := db.Appender(context.Background())
	for s := int64(0); s <= 2*3600; s += 15 {
		ts := h.Add(time.Duration(s) * time.Second).UnixMilli()
		_, err := app.Append(0, labels.FromStrings("__name__", "http_requests_total", "namespace", "tenant-i-prom"), ts, float64(s))
		g.Expect(err).NotTo(HaveOccurred())
		_, err = app.Append(0, labels.FromStrings("__name__", "http_requests_total", "namespace", "tenant-other"), ts, float64(10*s))
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(app.Commit()).To(Succeed())
	return db
}

// meteredObjects are a product with one Prometheus meter, its keys, and a
// pay-per-use tenant metered since since.
func meteredObjects(query string, since time.Time) []client.Object {
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "crm"},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI1", KeysSecretName: "crm-keys", Type: saasv1alpha1.ProductTypeSaaS, NamespacePrefix: "tenant",
			Plans:    []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}},
			Metering: &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "krequests", Source: saasv1alpha1.MeterPrometheus, Query: query}}},
		},
	}
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kooper", Name: "crm-keys"}, Data: map[string][]byte{
		saasv1alpha1.BasicKeySecretKey: []byte("basic"), saasv1alpha1.AccessKeyIDSecretKey: []byte("ak"), saasv1alpha1.SecretAccessKeySecretKey: []byte("sk")}}
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: "i-prom"},
		Spec:       saasv1alpha1.SaaSTenantSpec{InstanceID: "i-prom", ProductName: "crm", OrderID: "o", OrderLineID: "o-1", State: saasv1alpha1.StateActive},
		Status: saasv1alpha1.SaaSTenantStatus{
			SKUCode: "basic", Namespace: "tenant-i-prom",
			Order: &saasv1alpha1.ResolvedOrder{OrderID: "o", ProductID: "OFFI1", SKUCode: "basic", ChargingMode: saasv1alpha1.ChargingOnDemand},
			// As the metering controller writes a record: with the segment in force
			// since since (a record without one is one a product stopped metering).
			Metering: &saasv1alpha1.TenantMetering{Since: metav1.NewTime(since), Segments: []saasv1alpha1.UsageSegment{
				{Start: metav1.NewTime(since), State: saasv1alpha1.StateActive, Replicas: 1}}},
		},
	}
	return []client.Object{product, keys, tenant}
}

func reconciler(t *testing.T, promURL string, now time.Time, objs []client.Object, pushed *pushes) (*controllers.MeteringReconciler, client.Client) {
	scheme := runtime.NewScheme()
	NewWithT(t).Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	NewWithT(t).Expect(saasv1alpha1.AddToScheme(scheme)).To(Succeed())
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&saasv1alpha1.SaaSTenant{}).Build()
	return &controllers.MeteringReconciler{
		Client: c, Reader: c, Recorder: &events.FakeRecorder{}, Clock: clocktesting.NewFakeClock(now),
		Usage:      func(string, string) controllers.UsagePusher { return pushed },
		Prometheus: promquery.Client{},
		Options:    controllers.MeteringOptions{SecretNamespace: "kooper", PrometheusURL: promURL},
	}, c
}

func TestPrometheusMeterAgainstThePromQLEngine(t *testing.T) {
	g := NewWithT(t)
	h := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
	srv := promAPI(t, engine, requestsDB(t, h))
	pushed := &pushes{}
	query := `sum(increase(http_requests_total{namespace="{{.Namespace}}"}[{{.Window}}])) / 1000`
	r, c := reconciler(t, srv.URL, h.Add(2*time.Hour+time.Minute), meteredObjects(query, h.Add(30*time.Minute)), pushed)

	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "i-prom"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pushed.records).To(HaveLen(2))
	g.Expect(pushed.records[0].BeginTime).To(Equal("20261122T103000Z"))
	g.Expect(pushed.records[0].UsageValue).To(Equal("1.8"), "the partial first window queries its own 1800s: 1800 requests, in thousands")
	g.Expect(pushed.records[1].BeginTime).To(Equal("20261122T110000Z"))
	g.Expect(pushed.records[1].UsageValue).To(Equal("3.6"), "3600 requests in the hour, not the other namespace's 36000")

	tenant := &saasv1alpha1.SaaSTenant{}
	g.Expect(c.Get(context.Background(), client.ObjectKey{Name: "i-prom"}, tenant)).To(Succeed())
	g.Expect(tenant.Status.Metering.PushedUntil.Time).To(BeTemporally("==", h.Add(2*time.Hour)))
	g.Expect(tenant.Status.Metering.Meters).To(Equal([]saasv1alpha1.MeterUsage{{Name: "krequests", Total: "5.4"}}))
}

func TestPrometheusMeterErrorsStopThePushAndAreReported(t *testing.T) {
	h := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
	srv := promAPI(t, engine, requestsDB(t, h))
	for query, want := range map[string]string{
		`http_requests_total`: "2 series",
		`sum(rate(nope[`:      "bad_data",
		`{{.Nope}}`:           "bad query template",
	} {
		t.Run(query, func(t *testing.T) {
			g := NewWithT(t)
			pushed := &pushes{}
			r, c := reconciler(t, srv.URL, h.Add(2*time.Hour), meteredObjects(query, h), pushed)
			_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "i-prom"}})
			g.Expect(err).To(MatchError(ContainSubstring(want)))
			g.Expect(pushed.records).To(BeEmpty())
			tenant := &saasv1alpha1.SaaSTenant{}
			g.Expect(c.Get(context.Background(), client.ObjectKey{Name: "i-prom"}, tenant)).To(Succeed())
			g.Expect(tenant.Status.Metering.PushedUntil).To(BeNil())
			cond := apimeta.FindStatusCondition(tenant.Status.Metering.Conditions, saasv1alpha1.MeteredCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(saasv1alpha1.MeterSourceFailedReason))
		})
	}
}
