package controllers

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A tenant whose product's Prometheus answers slowly must not hold a
// metering worker, which every product shares, for as long as all its
// pending windows take to measure: a reconcile measures for about
// MeteringOptions.MeasureBudget, pushes the whole windows it measured,
// and leaves the rest to a reconcile moments later.

// budgetMeters are two Prometheus meters: a window is measured whole only
// once both are.
var budgetMeters = []saasv1alpha1.Meter{
	{Name: "requests", Unit: "request", Source: saasv1alpha1.MeterPrometheus, Query: "sum(requests)"},
	{Name: "errors", Unit: "error", Source: saasv1alpha1.MeterPrometheus, Query: "sum(errors)"},
}

// slowPrometheus answers each query after delay, with a value that depends
// only on the query and the instant (so every tenant and run measures
// alike), and counts its queries.
type slowPrometheus struct {
	delay   time.Duration
	queries atomic.Int64
}

func (p *slowPrometheus) Query(ctx context.Context, _, query string, at time.Time) (float64, error) {
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	p.queries.Add(1)
	hour := float64(at.UTC().Hour() + 1)
	if strings.Contains(query, "errors") {
		return hour / 4, nil
	}
	return hour + 0.5, nil
}

// pushOrder records the begin time of every record pushed, in the order
// the pushes were sent, and hands each push on.
type pushOrder struct {
	mu     sync.Mutex
	begins []string
}

func (o *pushOrder) wrap(next UsageClientFactory) UsageClientFactory {
	return func(ak, sk string) UsagePusher { return orderedPusher{order: o, next: next(ak, sk)} }
}

func (o *pushOrder) sent() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.begins...)
}

type orderedPusher struct {
	order *pushOrder
	next  UsagePusher
}

func (p orderedPusher) PushUsage(ctx context.Context, key string, records []koogallery.UsageRecord) ([]koogallery.UsageRecordError, error) {
	p.order.mu.Lock()
	for _, rec := range records {
		p.order.begins = append(p.order.begins, rec.BeginTime)
	}
	p.order.mu.Unlock()
	return p.next.PushUsage(ctx, key, records)
}

// promMetering is a metering reconciler of budgetMeters' Prometheus on its
// own fake clock.
func promMetering(clk *clocktesting.FakeClock, prom PromQuerier) *MeteringReconciler {
	r := meteringAt(k8sClient, clk)
	r.Options.PrometheusURL = "http://prometheus.invalid:9090"
	r.Prometheus = prom
	return r
}

func TestMeteringASlowPrometheusTenantPushesOverSeveralPassesWithinTheMeasureBudget(t *testing.T) {
	g := NewWithT(t)
	const windows = 6
	h := hourAgo(windows + 2)
	caughtUp := h.Add(windows*time.Hour + time.Minute)

	// The reference: the same meters and answers, instant, unbudgeted.
	ref := newMeteredTenant(t, budgetMeters)
	instant := &slowPrometheus{}
	fast := promMetering(clocktesting.NewFakeClock(h), instant)
	_, err := meterAt(t, fast, h, ref.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, fast, caughtUp, ref.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(instant.queries.Load()).To(BeEquivalentTo(windows*len(budgetMeters)), "one pass measures every window under the default budget")

	// Each query takes 150 ms, each window 300 ms: a 500 ms budget starts
	// no window once two are measured.
	const delay, budget = 150 * time.Millisecond, 500 * time.Millisecond
	maxQueriesPerPass := int64(len(budgetMeters)) * 2
	tenant := newMeteredTenant(t, budgetMeters)
	slow := &slowPrometheus{delay: delay}
	r := promMetering(clocktesting.NewFakeClock(h), slow)
	r.Options.MeasureBudget = budget
	order := &pushOrder{}
	r.Usage = order.wrap(r.Usage)
	_, err = meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	r.Clock.(*clocktesting.FakeClock).SetTime(caughtUp)
	var perPass []int64
	for pass := 0; pass < 2*windows; pass++ {
		before := slow.queries.Load()
		res, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: tenant.Name}})
		perPass = append(perPass, slow.queries.Load()-before)
		if apierrors.IsConflict(err) {
			continue // the controller's requeue would run it again
		}
		g.Expect(err).NotTo(HaveOccurred())
		if storedMetering(t, tenant.Name).PushedUntil.Time.Equal(h.Add(windows * time.Hour)) {
			break
		}
		g.Expect(res.RequeueAfter).To(And(BeNumerically(">", 0), BeNumerically("<=", time.Second)),
			"the windows left are measured moments later, not at the next hour")
	}

	t.Logf("queries per pass: %v", perPass)
	g.Expect(len(perPass)).To(BeNumerically(">", 1), "queries per pass: %v", perPass)
	var measured int64
	for _, n := range perPass {
		g.Expect(n).To(BeNumerically("<=", maxQueriesPerPass), "a pass stops starting windows once its budget is spent: %v", perPass)
		g.Expect(n%int64(len(budgetMeters))).To(BeZero(), "a pass measures whole windows: %v", perPass)
		measured += n
	}
	g.Expect(measured).To(BeEquivalentTo(windows*len(budgetMeters)), "no window is measured twice")

	sent := order.sent()
	g.Expect(sent).To(HaveLen(windows*len(budgetMeters)), "each record is pushed once")
	for i := 1; i < len(sent); i++ {
		g.Expect(sent[i] >= sent[i-1]).To(BeTrue(), "windows are pushed in order: %v", sent)
	}
	g.Expect(marketplace.usage.duplicatesOf(tenant.Name)).To(BeZero())
	want := pushedValues(ref.Name, budgetMeters)
	g.Expect(want).To(HaveLen(windows * len(budgetMeters)))
	g.Expect(pushedValues(tenant.Name, budgetMeters)).To(Equal(want), "the values an unbudgeted pass pushes")
	m := storedMetering(t, tenant.Name)
	g.Expect(totals(m)).To(Equal(totals(storedMetering(t, ref.Name))))
	g.Expect(m.InFlight).To(BeNil())
}
