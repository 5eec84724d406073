package metering

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A package released while the controllers are down (docs/packages.md
// decision 10): hour0 is 09:00, the release is stored at 10:05, and the
// controllers are back at 12:30.

// TestSyncLedgerEndsAReleasedPackageAtItsStoredRelease: a package released
// at 10:05 and seen at 12:30 stops paying at 10:05: it pays for the window
// its release falls in (decision 6), and the next package, or no package,
// pays for the hours after.
func TestSyncLedgerEndsAReleasedPackageAtItsStoredRelease(t *testing.T) {
	g := NewWithT(t)
	released, now := hour0.Add(65*time.Minute), hour0.Add(210*time.Minute)
	ledger := []saasv1alpha1.PackageBalance{
		balance("p-released", "100", "1", 0, hoursIn(24)),
		balance("p-next", "100", "0", 0, hoursIn(48)),
	}
	ledger = SyncLedger(ledger, []PackageState{
		{InstanceID: "p-released", Quota: "100", ExpireTime: hoursIn(24), Released: true, ReleasedAt: released},
		{InstanceID: "p-next", Quota: "100", ExpireTime: hoursIn(48)},
	}, now)
	g.Expect(Balance(ledger, "p-released").EndTime).NotTo(BeNil())
	g.Expect(Balance(ledger, "p-released").EndTime.Time).To(BeTemporally("==", released))
	g.Expect(Balance(ledger, "p-next").EndTime).To(BeNil())

	parts, rest := SplitOverPackages(ledger, window(1), units("1"))
	g.Expect(parts).To(Equal([]PackagePart{{Package: "p-released", Units: units("1")}}), "10:00–11:00: released within it")
	g.Expect(rest).To(BeZero())
	parts, rest = SplitOverPackages(ledger, window(2), units("1"))
	g.Expect(parts).To(Equal([]PackagePart{{Package: "p-next", Units: units("1")}}), "11:00–12:00: after the release")
	g.Expect(rest).To(BeZero())
	parts, rest = SplitOverPackages(ledger[:1], window(2), units("1"))
	g.Expect(parts).To(BeEmpty(), "without a next package the hour is uncovered")
	g.Expect(rest).To(Equal(units("1")))
	left, holding := QuotaLeft(ledger[:1], now)
	g.Expect(left).To(BeZero(), "a released package holds nothing at 12:30")
	g.Expect(holding).To(BeZero())

	ledger = SyncLedger(ledger, []PackageState{{InstanceID: "p-released", Quota: "100", Released: true, ReleasedAt: hour0.Add(2 * time.Hour)}}, now.Add(time.Hour))
	g.Expect(Balance(ledger, "p-released").EndTime.Time).To(BeTemporally("==", released), "a release ends a package once")
}

// TestSyncLedgerBoundsAPackagesReleaseTime: the end is the stored release,
// to the second; now without one, or with one after now (a clock behind
// the receiver's); never before the package entered the ledger.
func TestSyncLedgerBoundsAPackagesReleaseTime(t *testing.T) {
	now := hour0.Add(210 * time.Minute)
	for _, tc := range []struct {
		name       string
		since      float64
		releasedAt time.Time
		want       time.Time
	}{
		{"the stored release", 0, hour0.Add(65*time.Minute + 300*time.Millisecond), hour0.Add(65 * time.Minute)},
		{"no stored time: now", 0, time.Time{}, now},
		{"a release after now: now", 0, now.Add(time.Minute), now},
		{"not before it entered the ledger", 1.5, hour0.Add(65 * time.Minute), hour0.Add(90 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ledger := SyncLedger([]saasv1alpha1.PackageBalance{balance("p", "10", "0", tc.since, nil)},
				[]PackageState{{InstanceID: "p", Quota: "10", Released: true, ReleasedAt: tc.releasedAt}}, now)
			g.Expect(ledger[0].EndTime).NotTo(BeNil())
			g.Expect(ledger[0].EndTime.Time).To(BeTemporally("==", tc.want))
		})
	}
}

// TestPackageReleasedAt: a package's release is its release order's
// receivedTime (the earliest), or its deletion by hand; never before what
// the funded tenant's ledger already settled: its cursor, or the windows of
// its in-flight push; zero when no time is stored.
func TestPackageReleasedAt(t *testing.T) {
	release := func(d time.Duration) saasv1alpha1.AppliedOrder {
		return saasv1alpha1.AppliedOrder{OrderID: "CS-REL", Activity: saasv1alpha1.ActivityReleaseInstance, ReceivedTime: metav1.NewTime(hour0.Add(d))}
	}
	renewal := saasv1alpha1.AppliedOrder{OrderID: "CS-REN", Activity: saasv1alpha1.ActivityRefreshInstance, ReceivedTime: metav1.NewTime(hour0.Add(time.Minute))}
	fresh := &saasv1alpha1.TenantMetering{Since: *hoursIn(0), PushedUntil: hoursIn(1)}
	pushed := &saasv1alpha1.TenantMetering{Since: *hoursIn(0), PushedUntil: hoursIn(2)}
	inFlight := &saasv1alpha1.TenantMetering{Since: *hoursIn(0), PushedUntil: hoursIn(1), InFlight: &saasv1alpha1.InFlightPush{
		Windows: []saasv1alpha1.UsageWindow{{Start: *hoursIn(1), End: *hoursIn(2)}, {Start: *hoursIn(2), End: *hoursIn(3)}},
	}}
	for _, tc := range []struct {
		name    string
		state   saasv1alpha1.SubscriptionState
		orders  []saasv1alpha1.AppliedOrder
		deleted time.Duration // 0: not deleted
		funded  *saasv1alpha1.TenantMetering
		want    time.Time
	}{
		{"released by an order at 10:05", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{renewal, release(65 * time.Minute)}, 0, fresh, hour0.Add(65 * time.Minute)},
		{"the earliest of two release orders", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(100 * time.Minute), release(65 * time.Minute)}, 0, fresh, hour0.Add(65 * time.Minute)},
		{"deleted by hand at 11:10", saasv1alpha1.StateActive, nil, 130 * time.Minute, fresh, hour0.Add(130 * time.Minute)},
		{"released without an order: no time", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{renewal}, 0, fresh, time.Time{}},
		{"not released", saasv1alpha1.StateActive, []saasv1alpha1.AppliedOrder{release(65 * time.Minute)}, 0, fresh, time.Time{}},
		{"not before the hours pushed", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(65 * time.Minute)}, 0, pushed, hour0.Add(2 * time.Hour)},
		{"not before the in-flight push's windows", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(65 * time.Minute)}, 0, inFlight, hour0.Add(3 * time.Hour)},
		{"no ledger yet", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(65 * time.Minute)}, 0, nil, hour0.Add(65 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			pkg := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: tc.state, Orders: tc.orders}}
			if tc.deleted != 0 {
				deleted := metav1.NewTime(hour0.Add(tc.deleted))
				pkg.DeletionTimestamp = &deleted
			}
			g.Expect(PackageReleasedAt(pkg, tc.funded)).To(BeTemporally("==", tc.want))
		})
	}
}
