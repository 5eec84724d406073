package metering

import (
	"fmt"
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"pgregory.net/rapid"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The quantities a tenant moves between in these tests: two plans running,
// frozen (scaled to zero, its volume kept), and released.
var (
	capRunningSmall = saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 2, CPUMillis: 500, MemoryBytes: gib, StorageBytes: 10 * gib}
	capRunningLarge = saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 3, CPUMillis: 1000, MemoryBytes: 2 * gib, StorageBytes: 10 * gib}
	capFrozen       = saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, StorageBytes: 10 * gib}
	capReleased     = saasv1alpha1.UsageSegment{State: saasv1alpha1.StateReleased}
)

var builtinSources = []saasv1alpha1.MeterSource{
	saasv1alpha1.MeterTenantHours, saasv1alpha1.MeterReplicaHours, saasv1alpha1.MeterCPUCoreHours,
	saasv1alpha1.MeterMemoryGiBHours, saasv1alpha1.MeterStorageGiBHours,
}

// change is one observation: the tenant measures seg from at on.
type change struct {
	at  time.Time
	seg saasv1alpha1.UsageSegment
}

// capHistory is a tenant's whole observed history, as the metering
// controller records it (begun at since, released at the last change), and
// its record with nothing pushed.
type capHistory struct {
	changes []change
	m       *saasv1alpha1.TenantMetering
}

// fataler is what record needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// record replays changes into a fresh record, checking the bound after
// every change, then ends metering at the last one (the release).
func record(t fataler, changes []change) capHistory {
	t.Helper()
	m := &saasv1alpha1.TenantMetering{Since: metav1.NewTime(changes[0].at)}
	for _, c := range changes {
		RecordSegment(m, c.seg, c.at)
		if len(m.Segments) > maxSegments {
			t.Fatalf("%d segments after the change at %s, over the CRD's %d", len(m.Segments), c.at, maxSegments)
		}
	}
	end := metav1.NewTime(changes[len(changes)-1].at)
	m.EndTime = &end
	return capHistory{changes: changes, m: m}
}

// perMinuteRate is a meter's rate in its unit per hour while the tenant
// measures seg, written out apart from builtinRate.
func perMinuteRate(src saasv1alpha1.MeterSource, seg saasv1alpha1.UsageSegment) float64 {
	if seg.State == saasv1alpha1.StateReleased {
		return 0
	}
	perHour := map[saasv1alpha1.MeterSource]float64{
		saasv1alpha1.MeterReplicaHours:    float64(seg.Replicas),
		saasv1alpha1.MeterCPUCoreHours:    float64(seg.Replicas) * float64(seg.CPUMillis) / 1000,
		saasv1alpha1.MeterMemoryGiBHours:  float64(seg.Replicas) * float64(seg.MemoryBytes) / (1 << 30),
		saasv1alpha1.MeterStorageGiBHours: float64(seg.StorageBytes) / (1 << 30),
	}
	if seg.State == saasv1alpha1.StateActive {
		perHour[saasv1alpha1.MeterTenantHours] = 1
	}
	return perHour[src] / 60
}

// expected is the usage of src over w as the uncapped history says it,
// summed minute by minute (every change here falls on a whole minute).
func (h capHistory) expected(src saasv1alpha1.MeterSource, w Window) float64 {
	total, c := 0.0, 0
	for minute := w.Start; minute.Before(w.End); minute = minute.Add(time.Minute) {
		for c+1 < len(h.changes) && !h.changes[c+1].at.After(minute) {
			c++
		}
		total += perMinuteRate(src, h.changes[c].seg)
	}
	return total
}

// windows are every window of the released tenant, nothing pushed.
func (h capHistory) windows() []Window {
	return ClosedWindows(h.m, h.m.EndTime.Time, 10_000)
}

// windowMismatch describes the first window and meter whose usage from the
// capped record differs from the uncapped history's, "" when none does.
// Windows starting before from are not compared.
func (h capHistory) windowMismatch(from time.Time) string {
	for _, w := range h.windows() {
		if w.Start.Before(from) {
			continue
		}
		for _, src := range builtinSources {
			got, want := BuiltinUsage(src, h.m.Segments, w), h.expected(src, w)
			if math.Abs(got-want) > 1e-9 || Round(got, 4, saasv1alpha1.RoundHalfUp) != Round(want, 4, saasv1alpha1.RoundHalfUp) {
				return fmt.Sprintf("window %s–%s, %s: capped record measures %v, the history %v",
					w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), src, got, want)
			}
		}
	}
	return ""
}

// totalsMismatch describes the first meter whose usage over all windows
// differs from the uncapped history's, "" when none does.
func (h capHistory) totalsMismatch() string {
	for _, src := range builtinSources {
		got, want := 0.0, 0.0
		for _, w := range h.windows() {
			got += BuiltinUsage(src, h.m.Segments, w)
			want += h.expected(src, w)
		}
		if math.Abs(got-want) > 1e-6 {
			return fmt.Sprintf("%s over all windows: capped record measures %v, the history %v", src, got, want)
		}
	}
	return ""
}

// alternating is since at h0 running, then n changes every gap between
// frozen and running (the first at offset), then the release a gap later.
func alternating(n int, offset, gap time.Duration) []change {
	changes := []change{{h0, capRunningSmall}}
	at := h0.Add(offset)
	for i := range n {
		seg := capFrozen
		if i%2 == 1 {
			seg = capRunningSmall
		}
		changes = append(changes, change{at, seg})
		at = at.Add(gap)
	}
	return append(changes, change{at, capReleased})
}

// Pushes stall (a failing query, a marketplace outage) while the buyer
// freezes and unfreezes 70 times, every 23 minutes, then releases: 72
// segments uncapped. Each hour holds at most three changes, so the record
// can keep every window's usage exact within the bound, and it must.
func TestSegmentsAtTheBoundKeepEveryWindowExact(t *testing.T) {
	g := NewWithT(t)
	h := record(t, alternating(70, 7*time.Minute, 23*time.Minute))
	g.Expect(h.windowMismatch(h0)).To(BeEmpty())
	last := h.m.Segments[len(h.m.Segments)-1]
	g.Expect(last.State).To(Equal(saasv1alpha1.StateReleased))
	g.Expect(last.Start.Time).To(Equal(h.m.EndTime.Time), "the release ends metering when it came")
}

// Pushes stall for days while the buyer changes every 2 h 7 min: 72
// segments, each in an hour of its own, and no 64 segments can hold every
// hour's usage exactly. Each meter's total over the stall is still exact
// (running hours are not billed as frozen or released, nor the reverse),
// only the oldest hours trade places, and the newest hours and the release
// stay exact.
func TestSegmentsAtTheBoundKeepTotalsWhenHoursCannotAllBeKept(t *testing.T) {
	g := NewWithT(t)
	h := record(t, alternating(70, 2*time.Hour+7*time.Minute, 2*time.Hour+7*time.Minute))
	g.Expect(h.totalsMismatch()).To(BeEmpty())
	g.Expect(h.windowMismatch(h0.Add(48 * time.Hour))).To(BeEmpty())
	last := h.m.Segments[len(h.m.Segments)-1]
	g.Expect(last.State).To(Equal(saasv1alpha1.StateReleased))
	g.Expect(last.Start.Time).To(Equal(h.m.EndTime.Time))
}

// A push built and not yet accepted (status.metering.inFlight, resent as
// it was built during a marketplace outage) fixes its windows' records:
// the segments inside them give way first, and every window after them
// stays exact.
func TestSegmentsAtTheBoundGiveWayInsideTheInFlightPush(t *testing.T) {
	g := NewWithT(t)
	changes := alternating(70, 2*time.Hour+7*time.Minute, 2*time.Hour+7*time.Minute)
	floor := h0.Add(100 * time.Hour)
	m := &saasv1alpha1.TenantMetering{Since: metav1.NewTime(h0), InFlight: &saasv1alpha1.InFlightPush{
		Windows: []saasv1alpha1.UsageWindow{{Start: metav1.NewTime(h0), End: metav1.NewTime(floor)}},
	}}
	for _, c := range changes {
		RecordSegment(m, c.seg, c.at)
		g.Expect(len(m.Segments)).To(BeNumerically("<=", maxSegments))
	}
	end := metav1.NewTime(changes[len(changes)-1].at)
	m.EndTime = &end
	h := capHistory{changes: changes, m: m}
	g.Expect(h.windowMismatch(floor)).To(BeEmpty())
}

// The property behind both: for any history between a few quantities, the
// record stays within the bound, ends with the release at its time, keeps
// each meter's total exact, and keeps every window exact whenever the
// hours' mixes fit in the bound: the segments starting in an hour need be
// no more than the quantities it holds (the one in force at its start
// included), plus the first.
func TestSegmentsAtTheBoundProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		kinds := []saasv1alpha1.UsageSegment{capRunningSmall, capFrozen, capRunningLarge}[:rapid.IntRange(2, 3).Draw(rt, "kinds")]
		// Bursts of changes minutes apart fold within hours; sparse ones,
		// hours apart, cannot all be kept.
		maxGap := rapid.SampledFrom([]int{15, 40, 240}).Draw(rt, "longest gap (min)")
		changes := []change{{h0.Add(time.Duration(rapid.IntRange(0, 59).Draw(rt, "since")) * time.Minute), kinds[0]}}
		at := changes[0].at
		for range rapid.IntRange(1, 150).Draw(rt, "changes") {
			at = at.Add(time.Duration(rapid.IntRange(1, maxGap).Draw(rt, "gap")) * time.Minute)
			changes = append(changes, change{at, kinds[rapid.IntRange(0, len(kinds)-1).Draw(rt, "kind")]})
		}
		at = at.Add(time.Duration(rapid.IntRange(1, maxGap).Draw(rt, "release")) * time.Minute)
		changes = append(changes, change{at, capReleased})

		h := record(rt, changes)
		last := h.m.Segments[len(h.m.Segments)-1]
		if last.State != saasv1alpha1.StateReleased || !last.Start.Time.Equal(at) {
			rt.Fatalf("the last segment is %+v, not the release at %s", last, at)
		}
		if msg := h.totalsMismatch(); msg != "" {
			rt.Fatal(msg)
		}
		if needed := segmentsNeeded(changes); needed <= maxSegments {
			if msg := h.windowMismatch(changes[0].at); msg != "" {
				rt.Fatalf("%d segments can keep every window, yet %s", needed, msg)
			}
		}
	})
}

// segmentsNeeded bounds how many segments keep every window of the history
// exact: per clock hour in which a change falls, the distinct quantities the
// hour holds, plus one.
func segmentsNeeded(changes []change) int {
	distinct := map[time.Time]map[saasv1alpha1.UsageSegment]bool{}
	starts := map[time.Time]bool{}
	for i, c := range changes {
		hour := c.at.Truncate(time.Hour)
		starts[hour] = true
		end := c.at.Add(time.Minute) // the release lasts no time: count it in its hour
		if i+1 < len(changes) {
			end = changes[i+1].at
		}
		for h := hour; h.Before(end); h = h.Add(time.Hour) {
			if distinct[h] == nil {
				distinct[h] = map[saasv1alpha1.UsageSegment]bool{}
			}
			distinct[h][c.seg] = true
		}
	}
	needed := 1
	for hour := range starts {
		needed += len(distinct[hour])
	}
	return needed
}
