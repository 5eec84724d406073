package controllers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// gatedPrometheus holds every query until the test lets one through, then
// fails it, as a product's Prometheus that times out does (each such pass
// holds a metering worker for up to promquery.Timeout in production).
type gatedPrometheus struct {
	entered atomic.Int32
	gate    chan struct{}
}

func (p *gatedPrometheus) Query(ctx context.Context, _, _ string, _ time.Time) (float64, error) {
	p.entered.Add(1)
	select {
	case <-p.gate:
		return 0, errors.New("query timed out")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// firstPassLabel marks the tenants this file's own metering controller
// meters from their creation on.
const firstPassLabel = "test.kooper.io/first-pass"

// Metering starts at a tenant's first metering pass (status.metering.since):
// the minutes before it are never billed. A product whose Prometheus fails
// keeps its tenants' passes failing and coming back after a short backoff;
// a new pay-per-use tenant of any product must not wait behind them all
// for its first pass. One worker here, so the order is plain to see.
func TestANewPayPerUseTenantsFirstMeteringPassGoesAheadOfFailingPasses(t *testing.T) {
	g := NewWithT(t)
	h := hourAgo(3)
	var failing []*saasv1alpha1.SaaSTenant
	for range 3 {
		tn := newMeteredTenant(t, budgetMeters[:1])
		_, err := meterAt(t, promMetering(clocktesting.NewFakeClock(h), &slowPrometheus{}), h, tn.Name)
		g.Expect(err).NotTo(HaveOccurred(), "metering starts at h, with no closed window yet")
		failing = append(failing, tn)
	}

	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme: testEnv.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache:      CacheOptions(operatorNamespace),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // the suite's manager has a "metering" too
	})
	g.Expect(err).NotTo(HaveOccurred())
	prom := &gatedPrometheus{gate: make(chan struct{})}
	r := promMetering(clocktesting.NewFakeClock(h.Add(2*time.Hour+time.Minute)), prom)
	r.Client, r.Reader, r.Recorder = mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("kooper-metering")
	r.Options.MaxConcurrentReconciles = 1
	var allowed sync.Map // names of the failing tenants it meters
	r.Options.Skips = func(tn *saasv1alpha1.SaaSTenant) bool {
		_, ok := allowed.Load(tn.Name)
		return !ok && tn.Labels[firstPassLabel] != "true"
	}
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	t.Cleanup(func() { meteringGauge.use(managerCache, fakeClock) })
	startOwnManager(t, mgr)
	g.Expect(mgr.GetCache().WaitForCacheSync(testContext(t))).To(BeTrue())

	// The failing tenants queue up as tenants that changed, not as the
	// start's initial list (which the priority queue puts last): the first
	// holds the worker, the others wait.
	for i, tn := range failing {
		allowed.Store(tn.Name, true)
		touch(t, tn.Name)
		if i == 0 {
			g.Eventually(prom.entered.Load).WithTimeout(10 * time.Second).Should(BeEquivalentTo(1))
		}
	}

	tenant := newPayPerUseTenant(t, threeMeters[:1], map[string]string{meteredByHandLabel: "true", firstPassLabel: "true"})
	prom.gate <- struct{}{} // the pass holding the worker fails
	g.Eventually(func(g Gomega) {
		g.Expect(storedMetering(t, tenant.Name)).NotTo(BeNil())
	}).WithTimeout(5*time.Second).Should(Succeed(), "the new tenant's first pass runs next, before the waiting failing ones")

	// Once metering has started, the tenant's timers and retries queue as
	// any tenant's, not ahead.
	started := newMeteredTenant(t, threeMeters[:1])
	res, err := meterAt(t, meteringAt(k8sClient, clocktesting.NewFakeClock(h)), h, started.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(storedMetering(t, started.Name)).NotTo(BeNil())
	g.Expect(res.Priority).To(HaveValue(Equal(ordinaryPriority)))
}

// touch changes a tenant's annotations, which queues it as a changed tenant.
func touch(t *testing.T, name string) {
	t.Helper()
	ctx := testContext(t)
	tn := &saasv1alpha1.SaaSTenant{}
	NewWithT(t).Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
	before := tn.DeepCopy()
	metav1.SetMetaDataAnnotation(&tn.ObjectMeta, "test.kooper.io/touched", time.Now().Format(time.RFC3339Nano))
	NewWithT(t).Expect(k8sClient.Patch(ctx, tn, client.MergeFrom(before))).To(Succeed())
}
