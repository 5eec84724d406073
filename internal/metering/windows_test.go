package metering

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

var h0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(h0.Add(d)); return &t }

func TestClosedWindowsTileTimeWithoutOverlapOrGap(t *testing.T) {
	tests := []struct {
		name  string
		m     saasv1alpha1.TenantMetering
		now   time.Duration
		limit int
		want  [][2]time.Duration
	}{
		{name: "nothing closed yet", m: saasv1alpha1.TenantMetering{Since: *at(20 * time.Minute)}, now: 59 * time.Minute, limit: 10},
		{name: "a partial first hour, then whole hours", m: saasv1alpha1.TenantMetering{Since: *at(20 * time.Minute)}, now: 3*time.Hour + time.Second, limit: 10,
			want: [][2]time.Duration{{20 * time.Minute, time.Hour}, {time.Hour, 2 * time.Hour}, {2 * time.Hour, 3 * time.Hour}}},
		{name: "from the cursor, at most limit", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour)}, now: 9 * time.Hour, limit: 2,
			want: [][2]time.Duration{{time.Hour, 2 * time.Hour}, {2 * time.Hour, 3 * time.Hour}}},
		{name: "release closes the last partial hour at once", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour), EndTime: at(90 * time.Minute)}, now: 90 * time.Minute, limit: 10,
			want: [][2]time.Duration{{time.Hour, 90 * time.Minute}}},
		{name: "nothing after the end", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(90 * time.Minute), EndTime: at(90 * time.Minute)}, now: 9 * time.Hour, limit: 10},
		{name: "released within the first hour", m: saasv1alpha1.TenantMetering{Since: *at(10 * time.Minute), EndTime: at(25 * time.Minute)}, now: 30 * time.Minute, limit: 10,
			want: [][2]time.Duration{{10 * time.Minute, 25 * time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var got [][2]time.Duration
			for _, w := range ClosedWindows(&tt.m, h0.Add(tt.now), tt.limit) {
				got = append(got, [2]time.Duration{w.Start.Sub(h0), w.End.Sub(h0)})
			}
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func TestClosedWindowsAtTheHourBoundary(t *testing.T) {
	tests := []struct {
		name string
		m    saasv1alpha1.TenantMetering
		now  time.Duration
		want [][2]time.Duration
	}{
		{name: "started on the hour, one nanosecond before it closes", m: saasv1alpha1.TenantMetering{Since: *at(0)}, now: time.Hour - time.Nanosecond},
		{name: "started on the hour, at the hour it closes", m: saasv1alpha1.TenantMetering{Since: *at(0)}, now: time.Hour,
			want: [][2]time.Duration{{0, time.Hour}}},
		{name: "started one second before the hour: a one-second window", m: saasv1alpha1.TenantMetering{Since: *at(-time.Second)}, now: time.Hour,
			want: [][2]time.Duration{{-time.Second, 0}, {0, time.Hour}}},
		{name: "pushed up to the hour, the next hour not over", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour)}, now: 2*time.Hour - time.Second},
		{name: "released on the hour: nothing after it", m: saasv1alpha1.TenantMetering{Since: *at(0), EndTime: at(time.Hour)}, now: 5 * time.Hour,
			want: [][2]time.Duration{{0, time.Hour}}},
		{name: "released one second after the hour: a one-second last window", m: saasv1alpha1.TenantMetering{Since: *at(0), EndTime: at(time.Hour + time.Second)}, now: 5 * time.Hour,
			want: [][2]time.Duration{{0, time.Hour}, {time.Hour, time.Hour + time.Second}}},
		{name: "released at the start: nothing to push", m: saasv1alpha1.TenantMetering{Since: *at(0), EndTime: at(0)}, now: 5 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var got [][2]time.Duration
			for _, w := range ClosedWindows(&tt.m, h0.Add(tt.now), 100) {
				got = append(got, [2]time.Duration{w.Start.Sub(h0), w.End.Sub(h0)})
			}
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func TestCursorDoneAndWindowEnd(t *testing.T) {
	tests := []struct {
		name       string
		m          saasv1alpha1.TenantMetering
		wantCursor time.Duration
		wantDone   bool
		wantEnd    time.Duration
	}{
		{name: "before the first push: since", m: saasv1alpha1.TenantMetering{Since: *at(20 * time.Minute)},
			wantCursor: 20 * time.Minute, wantEnd: time.Hour},
		{name: "after a push: pushedUntil", m: saasv1alpha1.TenantMetering{Since: *at(20 * time.Minute), PushedUntil: at(2 * time.Hour)},
			wantCursor: 2 * time.Hour, wantEnd: 3 * time.Hour},
		{name: "released, last window unpushed: ends at the release", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour), EndTime: at(70 * time.Minute)},
			wantCursor: time.Hour, wantEnd: 70 * time.Minute},
		{name: "released and pushed: done", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(70 * time.Minute), EndTime: at(70 * time.Minute)},
			wantCursor: 70 * time.Minute, wantDone: true, wantEnd: 70 * time.Minute},
		{name: "released before metering pushed anything, at since: done", m: saasv1alpha1.TenantMetering{Since: *at(5 * time.Minute), EndTime: at(5 * time.Minute)},
			wantCursor: 5 * time.Minute, wantDone: true, wantEnd: 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Cursor(&tt.m)).To(Equal(h0.Add(tt.wantCursor)))
			g.Expect(Done(&tt.m)).To(Equal(tt.wantDone))
			g.Expect(WindowEnd(&tt.m, Cursor(&tt.m))).To(Equal(h0.Add(tt.wantEnd)))
		})
	}
}

// TestWindowsPerPushKeepsAPushWithinItsLimit: by default within 100
// records (§8 item 19: 100 on one page, 1000 on another), and within a
// configured limit; never no window at all.
func TestWindowsPerPushKeepsAPushWithinItsLimit(t *testing.T) {
	for _, limit := range []int{koogallery.DefaultUsagePushMaxRecords, koogallery.MaxUsageRecords, 40} {
		for _, meters := range []int{0, 1, 2, 3, 7, 8} {
			g := NewWithT(t)
			got := WindowsPerPush(meters, limit)
			g.Expect(got*max(meters, 1)).To(BeNumerically("<=", limit), "%d meters, limit %d", meters, limit)
			g.Expect((got+1)*max(meters, 1)).To(BeNumerically(">", limit), "%d meters, limit %d: as many as fit", meters, limit)
		}
	}
	g := NewWithT(t)
	g.Expect(WindowsPerPush(2, koogallery.DefaultUsagePushMaxRecords)).To(Equal(50), "120 records of 2 meters go in two pushes")
	g.Expect(WindowsPerPush(8, 5)).To(Equal(1), "a window goes whole, even over a limit below the meters")
}

func TestExpiredUntilCutsAt21Days(t *testing.T) {
	now := h0.Add(30 * time.Minute) // 10:30
	days21 := koogallery.UsageWindow
	tests := []struct {
		name    string
		m       saasv1alpha1.TenantMetering
		want    time.Time
		expired bool
	}{
		{name: "within the window (less than 21 days less an hour back)", m: saasv1alpha1.TenantMetering{Since: metav1.NewTime(now.Add(-days21 + time.Hour))}},
		{name: "pushed recently", m: saasv1alpha1.TenantMetering{Since: metav1.NewTime(now.Add(-40 * days21)), PushedUntil: at(0)}},
		{name: "a second past the margin: moved to the next clock hour",
			m:    saasv1alpha1.TenantMetering{Since: metav1.NewTime(now.Add(-days21 + time.Hour - time.Second))},
			want: h0.Add(-days21 + 2*time.Hour), expired: true},
		{name: "weeks behind: the same cut",
			m:    saasv1alpha1.TenantMetering{Since: metav1.NewTime(now.Add(-40 * days21)), PushedUntil: at(-30 * days21)},
			want: h0.Add(-days21 + 2*time.Hour), expired: true},
		{name: "released before the cut: moved to the release",
			m:    saasv1alpha1.TenantMetering{Since: metav1.NewTime(now.Add(-30 * days21)), EndTime: at(-25 * days21)},
			want: h0.Add(-25 * days21), expired: true},
		{name: "released after the cut: moved to the cut",
			m:    saasv1alpha1.TenantMetering{Since: metav1.NewTime(now.Add(-30 * days21)), EndTime: at(-time.Hour)},
			want: h0.Add(-days21 + 2*time.Hour), expired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, expired := ExpiredUntil(&tt.m, now)
			g.Expect(expired).To(Equal(tt.expired))
			g.Expect(got).To(Equal(tt.want))
			if expired && tt.m.EndTime == nil {
				// The first window left to push begins within the 21 days, with an hour to spare.
				g.Expect(got.After(now.Add(-days21 + time.Hour))).To(BeTrue())
			}
		})
	}
}

// TestTheTwentyOneDayCutKeepsAnHourStartingExactlyAtIt: with now on the
// hour, the 21-day limit (now minus 21 days plus the hour's margin) is on
// the hour too, and the window that starts at it is within the limit. The
// cut moved the cursor to the hour after it, and that hour's usage was
// dropped with a UsageExpired Event, never billed.
func TestTheTwentyOneDayCutKeepsAnHourStartingExactlyAtIt(t *testing.T) {
	g := NewWithT(t)
	now := h0 // 10:00:00, on the hour
	limit := now.Add(-koogallery.UsageWindow + time.Hour)

	atTheLimit := saasv1alpha1.TenantMetering{Since: metav1.NewTime(limit.Add(-40 * time.Hour)), PushedUntil: &metav1.Time{Time: limit}}
	_, expired := ExpiredUntil(&atTheLimit, now)
	g.Expect(expired).To(BeFalse(), "the window that starts at the limit is kept")

	anHourBehind := saasv1alpha1.TenantMetering{Since: metav1.NewTime(limit.Add(-40 * time.Hour)), PushedUntil: &metav1.Time{Time: limit.Add(-time.Hour)}}
	to, expired := ExpiredUntil(&anHourBehind, now)
	g.Expect(expired).To(BeTrue())
	g.Expect(to).To(Equal(limit), "the cursor moves to the limit, not past the hour that starts at it")
	_, expired = ExpiredUntil(&saasv1alpha1.TenantMetering{Since: anHourBehind.Since, PushedUntil: &metav1.Time{Time: to}}, now)
	g.Expect(expired).To(BeFalse(), "where the cut moves the cursor is not expired")

	aSecondPastTheHour := now.Add(time.Second)
	to, expired = ExpiredUntil(&anHourBehind, aSecondPastTheHour)
	g.Expect(expired).To(BeTrue())
	g.Expect(to).To(Equal(limit.Add(time.Hour)), "a limit past the hour still moves the cursor to the next hour")
}

func TestOldestUnpushedAge(t *testing.T) {
	g := NewWithT(t)
	tenant := func(m *saasv1alpha1.TenantMetering) *saasv1alpha1.SaaSTenant {
		return &saasv1alpha1.SaaSTenant{Status: saasv1alpha1.SaaSTenantStatus{Metering: m}}
	}
	tenants := []*saasv1alpha1.SaaSTenant{
		tenant(nil),
		tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(2 * time.Hour)}),                                   // up to date
		tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(30 * time.Minute), EndTime: at(30 * time.Minute)}), // done
		// let go by a product that stopped metering it (Abandon): nothing is owed, however old
		tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(0)}),
	}
	// let go with its record as it was (its product is gone): no one pushes it
	tenants = append(tenants, tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(0),
		Segments: []saasv1alpha1.UsageSegment{{Start: *at(0), State: saasv1alpha1.StateActive}}}))
	g.Expect(OldestUnpushedAge(tenants, h0.Add(2*time.Hour+10*time.Minute))).To(BeZero())
	held := tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour), // 1h-2h unpushed
		Segments: []saasv1alpha1.UsageSegment{{Start: *at(0), State: saasv1alpha1.StateActive}}})
	held.Finalizers = []string{saasv1alpha1.Finalizer, saasv1alpha1.MeteringFinalizer}
	tenants = append(tenants, held)
	g.Expect(OldestUnpushedAge(tenants, h0.Add(2*time.Hour+10*time.Minute))).To(Equal(10 * time.Minute))
	g.Expect(OldestUnpushedAge(tenants[:2], h0.Add(2*time.Hour+10*time.Minute))).To(BeZero())
}
