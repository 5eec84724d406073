package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// changingPrometheus fails every query with a message that differs on
// every call, as a Prometheus error quoting its own timings does, or a
// proxy's answer carrying a request ID.
type changingPrometheus struct{ queries atomic.Int32 }

func (p *changingPrometheus) Query(context.Context, string, string, time.Time) (float64, error) {
	n := p.queries.Add(1)
	return 0, fmt.Errorf("query failed: execution: query timed out in expression evaluation after %d.%03ds", 30, n)
}

// TestAChangingMeterFailureIsRetriedWithBackoffNotAtOnce checks that the
// metering controller's own status write does not rerun its reconcile: a
// failure writes Metered=False with the error's text, and were that write
// to queue the tenant at once, a text that changes on every attempt would
// query Prometheus (and write the tenant) in a hot loop, never waiting for
// the controller's backoff. It runs the metering controller on a manager
// of its own that meters only this tenant (the suite's skips it: it is
// metered by hand).
func TestAChangingMeterFailureIsRetriedWithBackoffNotAtOnce(t *testing.T) {
	g := NewWithT(t)
	h := hourAgo(3)
	tenant := newMeteredTenant(t, budgetMeters[:1])
	_, err := meterAt(t, promMetering(clocktesting.NewFakeClock(h), &slowPrometheus{}), h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred(), "metering starts at h, with no closed window yet")

	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme: testEnv.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache:      CacheOptions(operatorNamespace),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // the suite's manager has a "metering" too
	})
	g.Expect(err).NotTo(HaveOccurred())
	failing := &changingPrometheus{}
	r := promMetering(clocktesting.NewFakeClock(h.Add(2*time.Hour+time.Minute)), failing)
	r.Client, r.Reader, r.Recorder = mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("kooper-metering")
	r.Options.Skips = func(tn *saasv1alpha1.SaaSTenant) bool { return tn.Name != tenant.Name }
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	// SetupWithManager points the oldest-unpushed-window gauge at this
	// manager's cache; give it back to the suite's when the test ends.
	t.Cleanup(func() { meteringGauge.use(managerCache, fakeClock) })
	startOwnManager(t, mgr)

	g.Eventually(func(g Gomega) {
		m := storedMetering(t, tenant.Name)
		c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(saasv1alpha1.MeterSourceFailedReason))
	}).Should(Succeed())

	// The controller's backoff starts at 5 ms and doubles: about ten
	// attempts fit in the next 3 s. A reconcile queued by each of its own
	// writes runs every few milliseconds, hundreds of times.
	first := failing.queries.Load()
	g.Consistently(func() int32 { return failing.queries.Load() - first }, 3*time.Second, 100*time.Millisecond).
		Should(BeNumerically("<=", 12), "Prometheus is asked again only after the controller's backoff")
	g.Expect(failing.queries.Load()-first).To(BeNumerically(">", 0), "the failure is retried")
}

// A pass cut short by the process stopping (its context cancelled in a
// rolling upgrade or on a lost lease) is no metering failure: before, each
// such pass raised a UsagePushFailed or MeterSourceFailed Warning Event
// saying "context canceled" on a healthy tenant, at every upgrade.
func TestAMeteringPassCutByAStopRecordsNoFailure(t *testing.T) {
	g := NewWithT(t)
	recorder := events.NewFakeRecorder(4)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(time.Now()))
	r.Recorder = recorder
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: "stopping"},
		Status:     saasv1alpha1.SaaSTenantStatus{Metering: &saasv1alpha1.TenantMetering{}},
	}
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	err := r.recordFailure(ctx, tenant, saasv1alpha1.UsagePushFailedReason, fmt.Errorf("push: %w", context.Canceled))
	g.Expect(err).To(MatchError(context.Canceled))
	g.Expect(recorder.Events).To(BeEmpty(), "no Warning Event for a stop")
	g.Expect(apimeta.FindStatusCondition(tenant.Status.Metering.Conditions, saasv1alpha1.MeteredCondition)).To(BeNil())
}
