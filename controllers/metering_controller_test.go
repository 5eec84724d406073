package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
	"github.com/kooper-io/kooper/internal/testenv"
)

// These tests drive the metering reconciler directly, each with its own
// fake clock, against envtest and the real tenant controller: the tenant's
// order, freeze, upgrade and release are applied as in production, and the
// metering hours are closed by stepping the clock.

var threeMeters = []saasv1alpha1.Meter{
	{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours},
	{Name: "replicas", Unit: "replica-hour", Source: saasv1alpha1.MeterReplicaHours},
	{Name: "cpu", Unit: "core-hour", Source: saasv1alpha1.MeterCPUCoreHours},
}

// newMeteredTenant creates a product with meters and a pay-per-use tenant
// of its basic plan, metered by hand (meteredByHandLabel), and waits for
// the tenant's order to be resolved.
func newMeteredTenant(t *testing.T, meters []saasv1alpha1.Meter) *saasv1alpha1.SaaSTenant {
	t.Helper()
	return newPayPerUseTenant(t, meters, map[string]string{meteredByHandLabel: "true"})
}

// newPayPerUseTenant is newMeteredTenant with the tenant's labels.
func newPayPerUseTenant(t *testing.T, meters []saasv1alpha1.Meter, labels map[string]string) *saasv1alpha1.SaaSTenant {
	t.Helper()
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: meters}
	})
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Labels = labels
		// Pay-per-use before the tenant exists: the controller may resolve
		// its order the moment it is created.
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "basic", "20991231235959", koogallery.ChargingOnDemand)
	})
	return eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Order).NotTo(BeNil())
		g.Expect(tn.Status.Order.ChargingMode).To(Equal(saasv1alpha1.ChargingOnDemand))
		// The order is in the record written before the objects are
		// applied; Provisioned is the first pass's last write. Metering
		// after it meets no status write of the tenant controller's, whose
		// conflict would make a test's metering push twice.
		provisioned(g, tn)
	})
}

// meteringAt returns a metering reconciler on its own fake clock.
func meteringAt(c client.Client, clk *clocktesting.FakeClock) *MeteringReconciler {
	return &MeteringReconciler{
		Client: c, Reader: c, Recorder: &events.FakeRecorder{}, Clock: clk,
		Usage:   MarketplaceUsageClients(marketplace.server.URL),
		Options: MeteringOptions{SecretNamespace: operatorNamespace},
	}
}

// meterAt reconciles the tenant at the given time, again after a write
// conflict (the tenant controller writes the same object), as the
// controller's requeue would: a pass that met one asks to run again after
// conflictRequeueDelay, without an error. A pass that spent its measuring
// budget asks for the same delay (budgetSpentRequeue), and is run again too.
func meterAt(t *testing.T, r *MeteringReconciler, at time.Time, name string) (ctrl.Result, error) {
	t.Helper()
	r.Clock.(*clocktesting.FakeClock).SetTime(at)
	for {
		res, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: name}})
		if err != nil || res.RequeueAfter != conflictRequeueDelay {
			return res, err
		}
	}
}

// hourAgo is a clock hour a few hours back, so every window lies within
// the marketplace's 21 days.
func hourAgo(n int) time.Time {
	return time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(n) * time.Hour)
}

// pushedValues maps "window-begin meter" to usage_value for an instance's
// records (window-begin as HHmm), using each record's sn to find its meter.
func pushedValues(instance string, meters []saasv1alpha1.Meter) map[string]string {
	out := map[string]string{}
	records := marketplace.usage.of(instance)
	for _, rec := range records {
		begin := windowBegin(records, rec)
		for _, m := range meters {
			if rec.MeteringSN == metering.SN(instance, m.Name, begin) {
				out[begin.UTC().Format("1504")+" "+m.Name] = rec.UsageValue
			}
		}
	}
	return out
}

// windowBegin is the start of the window rec is a record of: the earliest
// begin_time of the records with its record_time, the window's end. Each
// record of a window has a period of its own, and the first one begins
// with the window (metering.Periods).
func windowBegin(records []koogallery.UsageRecord, rec koogallery.UsageRecord) time.Time {
	first := rec.BeginTime
	for _, other := range records {
		if other.RecordTime == rec.RecordTime && other.BeginTime < first {
			first = other.BeginTime // yyyyMMddTHHmmssZ sorts as the time does
		}
	}
	begin, _ := time.Parse(koogallery.UsageTimeLayout, first)
	return begin
}

func storedMetering(t *testing.T, name string) *saasv1alpha1.TenantMetering {
	t.Helper()
	tn := &saasv1alpha1.SaaSTenant{}
	NewWithT(t).Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, tn)).To(Succeed())
	return tn.Status.Metering
}

func totals(m *saasv1alpha1.TenantMetering) map[string]string {
	out := map[string]string{}
	for _, u := range m.Meters {
		out[u.Name] = u.Total
	}
	return out
}

func TestMeterHoursCloseAcrossFreezeUpgradeAndRelease(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters)
	h := hourAgo(5)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	hhmm := func(d time.Duration) string { return h.Add(d).Format("1504") }

	res, err := meterAt(t, r, h.Add(20*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeNumerically(">=", 40*time.Minute), "the first window closes at the next hour")
	g.Expect(res.RequeueAfter).To(BeNumerically("<", 40*time.Minute+DefaultPushSpread), "and is pushed within the spread after it")

	_, err = meterAt(t, r, h.Add(65*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	_, err = meterAt(t, r, h.Add(90*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	_, err = meterAt(t, r, h.Add(105*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(121*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	upgrade := fmt.Sprintf("CS%dUPGRADE", tenantSeq.Add(1))
	marketplace.addOrderCharged(upgrade, tenant.Status.Order.ProductID, "pro", "20991231235959", koogallery.ChargingOnDemand)
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) { g.Expect(tn.Status.SKUCode).To(Equal("pro")) })
	_, err = meterAt(t, r, h.Add(150*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	res, err = meterAt(t, r, h.Add(165*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeZero(), "a released tenant's last window is pushed and metering ends")

	g.Expect(pushedValues(tenant.Name, threeMeters)).To(Equal(map[string]string{
		// 20 minutes past the first hour: the partial first window.
		hhmm(20*time.Minute) + " duration": "0.6667", hhmm(20*time.Minute) + " replicas": "0.6667", hhmm(20*time.Minute) + " cpu": "0.0667",
		// Frozen from :30 to :45 of the second hour.
		hhmm(time.Hour) + " duration": "0.75", hhmm(time.Hour) + " replicas": "0.75", hhmm(time.Hour) + " cpu": "0.075",
		// Upgraded to pro (3 replicas of 500m) at :30, released at :45: the last, partial window.
		hhmm(2*time.Hour) + " duration": "0.75", hhmm(2*time.Hour) + " replicas": "1.25", hhmm(2*time.Hour) + " cpu": "0.425",
	}))
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(165*time.Minute)))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "2.1667", "replicas": "2.6667", "cpu": "0.5667"}))
	g.Expect(apimeta.IsStatusConditionTrue(m.Conditions, saasv1alpha1.MeteredCondition)).To(BeTrue())

	// Nothing is ever pushed again for it.
	_, err = meterAt(t, r, h.Add(10*time.Hour), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(marketplace.usage.of(tenant.Name)).To(HaveLen(9))
}

// statusLost fails every status write that settles a push (the one that
// clears status.metering.inFlight), as an operator killed between the push
// and that write would; the write of the push before it is sent goes
// through.
type statusLost struct{ client.Client }

func (c statusLost) Status() client.SubResourceWriter { return lostWriter{c.Client.Status()} }

type lostWriter struct{ client.SubResourceWriter }

func (w lostWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if t, ok := obj.(*saasv1alpha1.SaaSTenant); ok && t.Status.Metering != nil && t.Status.Metering.InFlight != nil {
		return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
	}
	return errors.New("injected: the operator stopped before writing the status")
}

func TestMeterRestartBetweenPushAndStatusNeitherLosesNorDuplicates(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(6)
	_, err := meterAt(t, meteringAt(k8sClient, clocktesting.NewFakeClock(h)), h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	_, err = meterAt(t, meteringAt(statusLost{k8sClient}, clocktesting.NewFakeClock(h)), h.Add(3*time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("injected")))
	g.Expect(marketplace.usage.of(tenant.Name)).To(HaveLen(3), "the push went through")
	g.Expect(storedMetering(t, tenant.Name).PushedUntil).To(BeNil(), "but the status did not")
	g.Expect(storedMetering(t, tenant.Name).InFlight.Records).To(HaveLen(3), "the push was written down before it was sent")

	dupsBefore := counterValue(t, "duration", "duplicate")
	restarted := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	_, err = meterAt(t, restarted, h.Add(3*time.Hour+6*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(marketplace.usage.of(tenant.Name)).To(HaveLen(3), "the repeat push was three duplicates")
	g.Expect(marketplace.usage.duplicatesOf(tenant.Name)).To(Equal(3))
	// The counter is every tenant's: the running controller may push
	// others' duplicates meanwhile.
	g.Expect(counterValue(t, "duration", "duplicate") - dupsBefore).To(BeNumerically(">=", 3.0))
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(3*time.Hour)))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "3"}))
}

func TestMeterRacingReconcilersPushOneRecordPerWindow(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:2]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(8)
	_, err := meterAt(t, meteringAt(k8sClient, clocktesting.NewFakeClock(h)), h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	// Four replicas reconcile the same tenant at once, three hours in a row.
	for _, at := range []time.Time{h.Add(2*time.Hour + time.Minute), h.Add(4*time.Hour + time.Minute), h.Add(5*time.Hour + time.Minute)} {
		replicas := make([]*MeteringReconciler, 4)
		for i := range replicas {
			replicas[i] = meteringAt(k8sClient, clocktesting.NewFakeClock(at))
		}
		g.Eventually(func() error {
			var wg sync.WaitGroup
			errs := make([]error, len(replicas))
			for i, r := range replicas {
				wg.Go(func() {
					_, errs[i] = r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: tenant.Name}})
				})
			}
			wg.Wait()
			return errors.Join(errs...)
		}).Should(Succeed())
	}

	g.Expect(marketplace.usage.of(tenant.Name)).To(HaveLen(10), "5 windows × 2 meters, each once")
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(5*time.Hour)))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "5", "replicas": "5"}), "the totals count each window once")
}

func TestMeterRefusedRecordsAreReportedAndRetriedWhenTheyMayPass(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(10)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	// 003 (usage value abnormal) will never pass: reported, not retried.
	marketplace.usage.refuse(tenant.Name, "003")
	_, err = meterAt(t, r, h.Add(2*time.Hour+time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(2*time.Hour)))
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Reason).To(Equal(saasv1alpha1.UsageRejectedReason))
	g.Expect(c.Message).To(ContainSubstring("003"))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "1"}))

	// 013 (abnormal instance status) may pass: the cursor waits at that window.
	marketplace.usage.refuse(tenant.Name, "013")
	_, err = meterAt(t, r, h.Add(3*time.Hour+time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("013")))
	m = storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(2*time.Hour)))
	c = apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Message).To(ContainSubstring("013"))
	_, err = meterAt(t, r, h.Add(3*time.Hour+2*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	m = storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(3*time.Hour)))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "2"}))
	g.Expect(apimeta.IsStatusConditionTrue(m.Conditions, saasv1alpha1.MeteredCondition)).To(BeTrue())
}

// stopsAfterAdvance lets status writes through until one moves
// status.metering.pushedUntil, and fails every one after it, as an
// operator killed right after the write that moved the cursor would.
type stopsAfterAdvance struct {
	client.Client
	advanced *atomic.Bool
}

func (c stopsAfterAdvance) Status() client.SubResourceWriter {
	return advanceWriter{c.Client.Status(), c.advanced}
}

type advanceWriter struct {
	client.SubResourceWriter
	advanced *atomic.Bool
}

func (w advanceWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if w.advanced.Load() {
		return errors.New("injected: the operator stopped after moving the cursor")
	}
	err := w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
	if t, ok := obj.(*saasv1alpha1.SaaSTenant); ok && err == nil && t.Status.Metering != nil && t.Status.Metering.PushedUntil != nil {
		w.advanced.Store(true)
	}
	return err
}

// A record the marketplace refused for good is past the cursor once the
// cursor moves: the same write must say so (Metered=False), or an
// operator killed before a later write leaves the lost hour unreported,
// Metered True.
func TestMeterARecordRefusedForGoodIsReportedInTheWriteThatMovesTheCursor(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters[:1])
	h := hourAgo(5)
	_, err := meterAt(t, meteringAt(k8sClient, clocktesting.NewFakeClock(h)), h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	marketplace.usage.refuse(tenant.Name, "003")
	killed := meteringAt(stopsAfterAdvance{k8sClient, &atomic.Bool{}}, clocktesting.NewFakeClock(h))
	_, _ = meterAt(t, killed, h.Add(time.Hour+time.Minute), tenant.Name)
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil).NotTo(BeNil(), "the refused window is past the cursor")
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)))
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c).NotTo(BeNil(), "the refusal is reported")
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Reason).To(Equal(saasv1alpha1.UsageRejectedReason))
	g.Expect(c.Message).To(ContainSubstring("003"))
}

func TestMeterCatchesUpAfterDowntimeWithinTwentyOneDays(t *testing.T) {
	g := NewWithT(t)
	meters := append([]saasv1alpha1.Meter{}, threeMeters...)
	meters[0].Decimals = ptr.To[int32](0)
	tenant := newMeteredTenant(t, meters)
	// The current hour is read once: the clock may pass an hour boundary
	// while thousands of windows are pushed, and the expected PushedUntil
	// must be the hour metered, not the hour the assertion runs in.
	end := hourAgo(0)
	start := end.Add(-22 * 24 * time.Hour)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(start))
	_, err := meterAt(t, r, start, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	now := end.Add(time.Minute)
	_, err = meterAt(t, r, now, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	records := marketplace.usage.of(tenant.Name)
	begins := make([]string, len(records))
	for i, rec := range records {
		begins[i] = rec.BeginTime
	}
	sort.Strings(begins)
	oldest, _ := time.Parse(koogallery.UsageTimeLayout, begins[0])
	g.Expect(now.Sub(oldest)).To(BeNumerically("<", koogallery.UsageWindow), "nothing older than 21 days is sent")
	g.Expect(len(records)).To(BeNumerically(">", 1000), "more than one batch of 1000")
	g.Expect(len(records)%3).To(BeZero(), "every window has its three records")
	g.Expect(storedMetering(t, tenant.Name).PushedUntil.Time).To(BeTemporally("==", end))
}

// meteredTenantDeletedByHand meters a new tenant of meters from 10 minutes
// past start, deletes it by hand, and meters it again at end, once the
// metering finalizer alone holds it (the tenant controller has released it
// and let go). It returns the tenant's deletion time, once the tenant is
// gone: its usage pushed.
func meteredTenantDeletedByHand(t *testing.T, meters []saasv1alpha1.Meter, start time.Time, end func(deleted time.Time) time.Time) (*saasv1alpha1.SaaSTenant, time.Time) {
	t.Helper()
	g := NewWithT(t)
	tenant := newMeteredTenant(t, meters)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(start))
	_, err := meterAt(t, r, start.Add(10*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer))
	})

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	deleted := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(Equal([]string{saasv1alpha1.MeteringFinalizer}))
	}).DeletionTimestamp.Time.UTC()
	_, err = meterAt(t, r, end(deleted), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Name: tenant.Name}, &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue(), "gone once its usage is pushed")
	return tenant, deleted
}

func TestMeterATenantDeletedByHandPushesItsLastHoursBeforeItGoes(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	h := hourAgo(4)
	tenant, _ := meteredTenantDeletedByHand(t, meters, h, func(time.Time) time.Time { return h.Add(2*time.Hour + 30*time.Minute) })
	g.Expect(pushedValues(tenant.Name, meters)).To(Equal(map[string]string{
		h.Add(10*time.Minute).Format("1504") + " duration": "0.8333",
		h.Add(time.Hour).Format("1504") + " duration":      "1",
		h.Add(2*time.Hour).Format("1504") + " duration":    "0.5",
	}))
}

// The suite's manager runs the metering controller as main.go does (Setup):
// a pay-per-use tenant no test meters by hand is metered from the moment
// its order is resolved, on the suite's clock.
func TestTheManagersMeteringControllerMetersPayPerUseTenants(t *testing.T) {
	tenant := newPayPerUseTenant(t, threeMeters[:1], nil)
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer))
		g.Expect(tn.Status.Metering).NotTo(BeNil())
		g.Expect(tn.Status.Metering.Since.Time).To(BeTemporally("==", fakeClock.Now().UTC().Truncate(time.Second)))
		g.Expect(tn.Status.Metering.Segments).NotTo(BeEmpty())
	})
}

// counterValue reads kooper_usage_records_pushed_total{meter,result}.
func counterValue(t *testing.T, meter, result string) float64 {
	t.Helper()
	var m dto.Metric
	NewWithT(t).Expect(usagePushed.WithLabelValues(meter, result).Write(&m)).To(Succeed())
	return m.GetCounter().GetValue()
}

// TestAHeldTenantIsLetGoOnlyAsTheStoredProductSays: a tenant held for usage
// not yet pushed, whose product the cache shows without metering (a stale
// copy: the merchant turned metering back on a moment ago). Before, the
// finalizer went on the cache's word, silently, and the hours were never
// pushed. Now the API server's product decides; and a product that really
// no longer meters the tenant lets it go with a Warning Event saying from
// when usage is not pushed.
func TestAHeldTenantIsLetGoOnlyAsTheStoredProductSays(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters[:1])
	h := hourAgo(4)
	recorder := events.NewFakeRecorder(10)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	r.Recorder = recorder
	_, err := meterAt(t, r, h.Add(10*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	held := func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer))
	}
	eventuallyTenant(t, tenant.Name, held)

	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: tenant.Spec.ProductName}, product)).To(Succeed())
	unmetered := product.DeepCopy()
	unmetered.Spec.Metering = nil
	r.Client = testenv.CacheBehind{Client: k8sClient, Old: unmetered}
	_, err = meterAt(t, r, h.Add(20*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	eventuallyTenant(t, tenant.Name, held)
	g.Expect(recorder.Events).NotTo(Receive(ContainSubstring(saasv1alpha1.UsageAbandonedReason)))

	r.Client = k8sClient
	g.Expect(k8sClient.Update(testContext(t), unmetered)).To(Succeed())
	_, err = meterAt(t, r, h.Add(30*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).NotTo(ContainElement(saasv1alpha1.MeteringFinalizer))
	})
	g.Expect(recorder.Events).To(Receive(And(ContainSubstring(saasv1alpha1.UsageAbandonedReason),
		ContainSubstring("Usage from "+h.Add(10*time.Minute).Format(time.RFC3339)), ContainSubstring("no longer meters it"))))
}
