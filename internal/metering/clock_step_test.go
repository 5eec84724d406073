package metering

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Times from different clocks: a leader failover to a node whose clock is
// behind, or an NTP step back, hands RecordSegment and endAt a now before
// what the record already holds.

// TestASegmentRecordedBeforeTheLastStartsAtIt: leader A records the
// tenant Active at 10:00 and Frozen at 10:30; leader B, its clock ten
// minutes behind, sees the unfreeze at its 10:25. Before, the new segment
// started at 10:25, before the frozen one: BuiltinUsage skipped the frozen
// segment (it ends before it starts) and counted 10:25–10:30 twice, as
// Active, so the 10:00 window billed 65 minutes of an hour.
func TestASegmentRecordedBeforeTheLastStartsAtIt(t *testing.T) {
	g := NewWithT(t)
	active := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 2, CPUMillis: 500, StorageBytes: gib}
	frozen := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, StorageBytes: gib}
	m := &saasv1alpha1.TenantMetering{Since: *at(0)}
	g.Expect(RecordSegment(m, active, h0)).To(BeTrue())
	g.Expect(RecordSegment(m, frozen, h0.Add(30*time.Minute))).To(BeTrue())

	g.Expect(RecordSegment(m, active, h0.Add(25*time.Minute))).To(BeTrue(), "leader B's clock is ten minutes behind")
	g.Expect(m.Segments).To(HaveLen(3))
	g.Expect(m.Segments[2].Start.Time).To(Equal(h0.Add(30*time.Minute)), "not before the last segment's start")
	for i := 1; i < len(m.Segments); i++ {
		g.Expect(m.Segments[i].Start.Before(&m.Segments[i-1].Start)).To(BeFalse(), "segment %d starts before segment %d", i, i-1)
	}

	// Active 10:00–10:30 and again from 10:30 (the frozen stretch, which
	// no clock saw the end of, lasts nothing): each hour counted once.
	w := Window{Start: h0, End: h0.Add(time.Hour)}
	g.Expect(BuiltinUsage(saasv1alpha1.MeterTenantHours, m.Segments, w)).To(BeNumerically("~", 1, 1e-12))
	g.Expect(BuiltinUsage(saasv1alpha1.MeterReplicaHours, m.Segments, w)).To(BeNumerically("~", 2, 1e-12))
	g.Expect(BuiltinUsage(saasv1alpha1.MeterStorageGiBHours, m.Segments, w)).To(BeNumerically("~", 1, 1e-12))

	// Pruning at 10:27 keeps the segment in force then (Active from 10:00)
	// and every later one: before, the segment started at 10:25 passed
	// for the one in force, and the frozen one went with the first.
	g.Expect(PruneSegments(m.Segments, h0.Add(27*time.Minute))).To(HaveLen(3))
}

// TestASegmentRecordedBeforeTheCursorStartsAtIt: the hours up to the
// cursor are pushed; a segment recorded with a clock behind them starts
// at the cursor.
func TestASegmentRecordedBeforeTheCursorStartsAtIt(t *testing.T) {
	g := NewWithT(t)
	m := &saasv1alpha1.TenantMetering{Since: *at(0)}
	RecordSegment(m, saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 1}, h0)
	m.PushedUntil = at(2 * time.Hour)

	g.Expect(RecordSegment(m, saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen}, h0.Add(90*time.Minute))).To(BeTrue())
	g.Expect(m.Segments[len(m.Segments)-1].Start.Time).To(Equal(h0.Add(2 * time.Hour)))
}

// TestEndAtIsNeverBeforeItsFloor: what is already settled cannot be taken
// back, whatever now says. Before, a now behind the floor (a clock behind
// the one that recorded it) came back as the end.
func TestEndAtIsNeverBeforeItsFloor(t *testing.T) {
	floor := h0.Add(3 * time.Hour)
	for _, tc := range []struct {
		name string
		at   time.Time
		now  time.Time
		want time.Time
	}{
		{"no stored time, now after the floor", time.Time{}, h0.Add(4 * time.Hour), h0.Add(4 * time.Hour)},
		{"no stored time, now before the floor", time.Time{}, h0.Add(2 * time.Hour), floor},
		{"stored before the floor, now before it too", h0.Add(time.Hour), h0.Add(2 * time.Hour), floor},
		{"stored after now, now before the floor", h0.Add(5 * time.Hour), h0.Add(2 * time.Hour), floor},
		{"stored between floor and now", h0.Add(3*time.Hour + 30*time.Minute), h0.Add(4 * time.Hour), h0.Add(3*time.Hour + 30*time.Minute)},
		{"stored after now, now after the floor", h0.Add(5 * time.Hour), h0.Add(4 * time.Hour), h0.Add(4 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(endAt(tc.at, floor, tc.now)).To(BeTemporally("==", tc.want))
		})
	}
}

// TestEndOfMeteringIsNeverBeforeTheLastSegment: a release seen by a
// leader whose clock is behind the last segment's start ends metering at
// that start, not before it.
func TestEndOfMeteringIsNeverBeforeTheLastSegment(t *testing.T) {
	g := NewWithT(t)
	m := &saasv1alpha1.TenantMetering{Since: *at(0), Segments: []saasv1alpha1.UsageSegment{
		{State: saasv1alpha1.StateActive, Start: *at(0)}, {State: saasv1alpha1.StateFrozen, Start: *at(3 * time.Hour)},
	}}
	tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateReleased}}
	g.Expect(EndOfMetering(tenant, m, h0.Add(170*time.Minute))).To(BeTemporally("==", h0.Add(3*time.Hour)))
}
