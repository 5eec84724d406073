package controllers

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
	"github.com/kooper-io/kooper/internal/testenv"
)

// meteredTenantJSON is a tenant as the informer cache holds it, with the
// metering status of a tenant metered by three meters: two segments (one
// change within the unpushed hour), three totals and the Metered condition.
func meteredTenantJSON(i int, metering bool) []byte {
	h := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	t := saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("i-%08d", i), ResourceVersion: "123456", Generation: 3,
			Finalizers: []string{saasv1alpha1.Finalizer}},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: fmt.Sprintf("i-%08d", i), ProductName: "crm", OrderID: "CS1234567890ORDER",
			OrderLineID: "CS1234567890ORDER-000001", State: saasv1alpha1.StateActive},
		Status: saasv1alpha1.SaaSTenantStatus{SKUCode: "basic", Namespace: fmt.Sprintf("tenant-i-%08d", i),
			Order: &saasv1alpha1.ResolvedOrder{OrderID: "CS1234567890ORDER", ProductID: "OFFI1", SKUCode: "basic", ChargingMode: saasv1alpha1.ChargingOnDemand}},
	}
	if metering {
		until := metav1.NewTime(h)
		t.Status.Metering = &saasv1alpha1.TenantMetering{
			Since: metav1.NewTime(h.Add(-30 * 24 * time.Hour)), PushedUntil: &until,
			Segments: []saasv1alpha1.UsageSegment{
				{Start: metav1.NewTime(h.Add(-time.Hour)), State: saasv1alpha1.StateActive, Replicas: 1, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 1 << 30},
				{Start: metav1.NewTime(h.Add(20 * time.Minute)), State: saasv1alpha1.StateFrozen, StorageBytes: 1 << 30},
			},
			Meters: []saasv1alpha1.MeterUsage{{Name: "duration", Total: "712.3333"}, {Name: "replicas", Total: "712.3333"}, {Name: "cpu", Total: "71.2333"}},
			Conditions: []metav1.Condition{{Type: saasv1alpha1.MeteredCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.SucceededReason,
				Message: "Usage pushed up to 2026-11-22T10:00:00Z", LastTransitionTime: until, ObservedGeneration: 3}},
		}
	}
	data, _ := json.Marshal(t)
	return data
}

// BenchmarkMeteringMemory10kTenants3Meters measures what metering adds to
// the controller's memory at 10,000 tenants with three meters each. The
// metering controller keeps no state of its own: its state is the metering
// status on each tenant in the informer cache (shared with the tenant
// controller), plus the records of the tenant being pushed. Run with
// `go test -run='^$' -bench=MeteringMemory -benchtime=1x ./controllers`.
func BenchmarkMeteringMemory10kTenants3Meters(b *testing.B) {
	const tenants, meters = 10_000, 3
	decode := func(metering bool) func() any {
		return func() any {
			list := make([]saasv1alpha1.SaaSTenant, tenants)
			for i := range list {
				if err := json.Unmarshal(meteredTenantJSON(i, metering), &list[i]); err != nil {
					b.Fatal(err)
				}
			}
			return list
		}
	}
	for b.Loop() {
		without := testenv.HeapOf(decode(false))
		with := testenv.HeapOf(decode(true))
		// The records of one hour for every tenant, were they all built at once
		// (they never are: one tenant's at a time, at most 1000).
		records := testenv.HeapOf(func() any {
			out := make([]pendingRecord, 0, tenants*meters)
			for i := range tenants * meters {
				out = append(out, pendingRecord{meter: "duration", units: 10000, record: koogallery.UsageRecord{
					InstanceID: fmt.Sprintf("i-%08d", i/meters), BeginTime: "20261122T100000Z", EndTime: "20261122T110000Z",
					RecordTime: "20261122T110000Z", UsageValue: "1", MeteringSN: metering.SN(fmt.Sprintf("i-%08d", i/meters), "duration", time.Unix(int64(i), 0)),
				}})
			}
			return out
		})
		b.ReportMetric(float64(with)/(1<<20), "MiB-cache-with-metering")
		b.ReportMetric(float64(with-min(with, without))/tenants, "B/tenant-metering")
		b.ReportMetric(float64(records)/(1<<20), "MiB-all-records-of-one-hour")
	}
}

// BenchmarkMeteringPushThroughput measures the metering controller end to
// end: 20 tenants × 3 meters × 24 hours, pushed to the fake marketplace
// with every status write in envtest's API server.
// `go test -run='^$' -bench=MeteringPushThroughput -benchtime=1x ./controllers`.
func BenchmarkMeteringPushThroughput(b *testing.B) {
	t := &testing.T{}
	const n, hours = 20, 24
	h := time.Now().UTC().Truncate(time.Hour).Add(-hours * time.Hour)
	for b.Loop() {
		b.StopTimer()
		var names []string
		for range n {
			tn := newMeteredTenant(t, threeMeters)
			r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
			if _, err := meterAt(t, r, h, tn.Name); err != nil {
				b.Fatal(err)
			}
			names = append(names, tn.Name)
		}
		b.StartTimer()
		start := time.Now()
		r := meteringAt(k8sClient, clocktesting.NewFakeClock(h.Add(hours*time.Hour)))
		for _, name := range names {
			if _, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*hours*len(threeMeters))/time.Since(start).Seconds(), "records/s")
	}
	if t.Failed() {
		b.Fatal("setup failed")
	}
}
