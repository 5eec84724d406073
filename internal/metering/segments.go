package metering

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// maxSegments bounds status.metering.segments (the CRD's MaxItems).
const maxSegments = 64

// gib is 2^30 bytes.
const gib = 1 << 30

// ObservedSegment is what the built-in meters measure of tenant t of
// product now (Start is left zero for RecordSegment to set): its effective
// state, and unless it is released, the plan's replicas (0 while frozen,
// unless the product's freeze only disables ingress), the CPU (millicores)
// and memory (bytes) one replica requests (the plan's resources, else the
// workload's), and the volume's size (bytes): those of what runs, which is
// what the tenant was last applied with (status.applied), not the plan its
// orders select (status.skuCode) while a change to it has stalled. A tenant
// never applied whose SKU is no plan of the product measures only the state
// and the volume. A product without a workload measures only the state.
func ObservedSegment(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) saasv1alpha1.UsageSegment {
	seg := saasv1alpha1.UsageSegment{State: effectiveState(t)}
	if seg.State == saasv1alpha1.StateReleased || product.Spec.Workload == nil {
		return seg
	}
	if storage := product.Spec.Workload.Storage; storage != nil {
		seg.StorageBytes = storage.Size.Value()
	}
	replicas, requests, ok := runningPlan(t, product)
	if !ok {
		return seg
	}
	seg.Replicas = replicas
	if seg.State == saasv1alpha1.StateFrozen && product.Spec.Lifecycle.Freeze.Behavior != saasv1alpha1.FreezeDisableIngress {
		seg.Replicas = 0
	}
	if cpu, ok := requests[corev1.ResourceCPU]; ok {
		seg.CPUMillis = cpu.MilliValue()
	}
	if mem, ok := requests[corev1.ResourceMemory]; ok {
		seg.MemoryBytes = mem.Value()
	}
	return seg
}

// runningPlan is the replica count and the resources one replica requests
// of tenant t of product (a product with a workload), as they run: what the
// tenant was last applied with (status.applied). status.skuCode moves when
// an order resolves, before its plan is applied; a change that stalls
// (QuotaTooSmall, ObjectInvalid, AdmissionRefused, SecretNotCopyable, or
// PlanNotFound for a plan removed or renamed) leaves the workload running
// the applied plan, as it was applied, whatever the product's plans say
// now. Before the first apply (or for a tenant last applied before
// status.applied existed) it is the plan status.skuCode names, with the
// workload's resources where the plan names none: a first apply that
// stopped half-way leaves objects of that plan. ok is false when it has
// neither.
func runningPlan(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) (replicas int32, requests corev1.ResourceList, ok bool) {
	if applied := t.Status.Applied; applied != nil {
		if applied.Resources != nil {
			requests = applied.Resources.Requests // already the plan's or else the workload's
		}
		return applied.Replicas, requests, true
	}
	plan := planOf(product, t.Status.SKUCode)
	if plan == nil {
		return 0, nil, false
	}
	if res := product.Spec.Workload.Resources; res != nil {
		requests = res.Requests
	}
	if plan.Resources != nil {
		requests = plan.Resources.Requests
	}
	return plan.Replicas, requests, true
}

// effectiveState is the state the buyer is billed in: the marketplace's
// (spec.state, which the buyer's freeze or unfreeze changes at once), or
// Frozen when kooper froze an Active tenant itself: the expiry safety net,
// or its packages used up (docs/packages.md decision 8). The Frozen
// condition is not used for the marketplace's own freeze: it lags the spec,
// and would bill the minutes between an unfreeze and its reconcile.
func effectiveState(t *saasv1alpha1.SaaSTenant) saasv1alpha1.SubscriptionState {
	switch {
	case t.Spec.State == saasv1alpha1.StateReleased:
		return saasv1alpha1.StateReleased
	case t.Spec.State == saasv1alpha1.StateFrozen, frozenLocally(t):
		return saasv1alpha1.StateFrozen
	}
	return saasv1alpha1.StateActive
}

// frozenLocally reports whether kooper froze the tenant itself: Frozen=True
// with reason FrozenByExpiry (the expiry safety net) or FrozenByExhaustion
// (its packages are used up and the product says onExhausted Freeze).
func frozenLocally(t *saasv1alpha1.SaaSTenant) bool {
	for _, c := range t.Status.Conditions {
		if c.Type == saasv1alpha1.FrozenCondition {
			return c.Status == metav1.ConditionTrue &&
				(c.Reason == saasv1alpha1.FrozenByExpiryReason || c.Reason == saasv1alpha1.FrozenByExhaustionReason)
		}
	}
	return false
}

// planOf is the product's plan for sku, or nil.
func planOf(product *saasv1alpha1.SaaSProduct, sku string) *saasv1alpha1.Plan {
	for i := range product.Spec.Plans {
		if product.Spec.Plans[i].SKUCode == sku {
			return &product.Spec.Plans[i]
		}
	}
	return nil
}

// sameQuantities reports whether two segments measure the same.
func sameQuantities(a, b saasv1alpha1.UsageSegment) bool {
	a.Start, b.Start = metav1.Time{}, metav1.Time{}
	return a == b
}

// RecordSegment appends seg to m.Segments, starting at now, unless it
// measures what the last segment does; it reports whether m changed. It
// never starts before the last segment's start or the cursor (segmentFloor):
// a now behind them comes from a clock behind the one that recorded them
// (a new leader's, or one stepped back), and a segment starting before the
// last would make BuiltinUsage skip the last and count the time between
// twice. The list stays within 64 segments (the CRD's MaxItems) without
// changing the last segment or its start (the one in force, and the floor
// of EndOfMetering): see foldOnce for what gives way, and in which order.
func RecordSegment(m *saasv1alpha1.TenantMetering, seg saasv1alpha1.UsageSegment, now time.Time) bool {
	if n := len(m.Segments); n > 0 && sameQuantities(m.Segments[n-1], seg) {
		return false
	}
	seg.Start = metav1.NewTime(later(now, segmentFloor(m)))
	m.Segments = append(m.Segments, seg)
	if len(m.Segments) > maxSegments {
		// Before the cursor nothing is measured: dropping it is exact.
		m.Segments = PruneSegments(m.Segments, Cursor(m))
	}
	for len(m.Segments) > maxSegments {
		m.Segments = foldOnce(m.Segments, Cursor(m), builtUntil(m))
	}
	return true
}

// builtUntil is the end of the unpushed windows whose records are already
// built: the in-flight push's last window's end, else the cursor. Those
// records are sent again as they were built and never measured anew, so
// the segments before it no longer count for billing.
func builtUntil(m *saasv1alpha1.TenantMetering) time.Time {
	until := Cursor(m)
	if p := m.InFlight; p != nil && len(p.Windows) > 0 {
		until = later(until, p.Windows[len(p.Windows)-1].End.Time)
	}
	return until
}

// foldOnce makes segments (more than 3, none ending before cursor) shorter
// by at least one, changing what the windows measure as little as it can,
// in this order:
//
//  1. exactly: two segments with the same quantities within one clock hour
//     (one may reach into it or out of it) are joined by moving the time of
//     one next to the other: a window sums each quantity's time, in
//     whatever order, so every window measures what it did;
//  2. without changing any billed value: the oldest segment wholly before
//     built (inside the in-flight push, whose records are fixed) gives its
//     time to the next;
//  3. keeping each meter's total exact: of the oldest two segments after
//     built with the same quantities, the later one's time moves back next
//     to the earlier, and the segments between start that much later, so
//     only the hours between trade windows (none is billed in another
//     state or plan in all, or billed twice, or lost);
//  4. as a last resort, inexactly: when every segment after built measures
//     something different (more than 63 distinct sets of quantities, which
//     takes that many plans, volume sizes or product edits), the oldest two
//     after built join, and the shorter one's time is measured with the
//     longer one's quantities.
//
// The last segment (the one in force) and its start never change.
func foldOnce(segments []saasv1alpha1.UsageSegment, cursor, built time.Time) []saasv1alpha1.UsageSegment {
	if joined, ok := joinWithinAWindow(segments, cursor); ok {
		return joined
	}
	if n := len(segments); n > 2 && !segments[1].Start.Time.After(built) {
		segments[1].Start = segments[0].Start
		return mergeEqualNeighbours(slices.Delete(segments, 0, 1))
	}
	if i, j, ok := oldestSameQuantitiesAfter(segments, built); ok {
		return moveBack(segments, i, j)
	}
	return joinOldestPairAfter(segments, built)
}

// durationOf is how long segment k (not the last) lasts.
func durationOf(segments []saasv1alpha1.UsageSegment, k int) time.Duration {
	return segments[k+1].Start.Sub(segments[k].Start.Time)
}

// withinOneWindow reports whether [from, to) lies within one clock hour from
// the cursor on: within one window, whatever the cursor (windows follow clock
// hours, the first from the cursor, the last to the release before which
// every segment starts).
func withinOneWindow(from, to, cursor time.Time) bool {
	return !from.Before(cursor) && !to.After(from.Truncate(time.Hour).Add(time.Hour))
}

// joinWithinAWindow joins, oldest first, two segments i < j (neither the
// last) that measure the same, by a move that keeps all the time it moves
// within one window: moveBack when the segments after i through j lie in
// one, else moveForward when i through the one before j do. For each j only
// the nearest such i is tried: a farther one moves more time. ok is false
// when no two segments can be joined so.
func joinWithinAWindow(segments []saasv1alpha1.UsageSegment, cursor time.Time) (joined []saasv1alpha1.UsageSegment, ok bool) {
	for j := 1; j < len(segments)-1; j++ {
		for i := j - 1; i >= 0; i-- {
			if !sameQuantities(segments[i], segments[j]) {
				continue
			}
			switch {
			case withinOneWindow(segments[i+1].Start.Time, segments[j+1].Start.Time, cursor):
				return moveBack(segments, i, j), true
			case withinOneWindow(segments[i].Start.Time, segments[j].Start.Time, cursor):
				return moveForward(segments, i, j), true
			}
			break
		}
	}
	return segments, false
}

// moveBack gives the time of segment j (not the last) to segment i < j,
// which measures the same: the segments between start durationOf(j) later.
func moveBack(segments []saasv1alpha1.UsageSegment, i, j int) []saasv1alpha1.UsageSegment {
	d := durationOf(segments, j)
	for k := i + 1; k < j; k++ {
		segments[k].Start = metav1.NewTime(segments[k].Start.Add(d))
	}
	return mergeEqualNeighbours(slices.Delete(segments, j, j+1))
}

// moveForward gives the time of segment i to segment j > i (not the last),
// which measures the same: the segments after i through j start
// durationOf(i) earlier.
func moveForward(segments []saasv1alpha1.UsageSegment, i, j int) []saasv1alpha1.UsageSegment {
	d := durationOf(segments, i)
	for k := i + 1; k <= j; k++ {
		segments[k].Start = metav1.NewTime(segments[k].Start.Add(-d))
	}
	return mergeEqualNeighbours(slices.Delete(segments, i, i+1))
}

// oldestSameQuantitiesAfter finds segments i < j (j not the last) measuring
// the same, with the least j, whose moveBack moves no time before built
// (the segments after i start at or after it).
func oldestSameQuantitiesAfter(segments []saasv1alpha1.UsageSegment, built time.Time) (i, j int, ok bool) {
	for j := 1; j < len(segments)-1; j++ {
		for i := j - 1; i >= 0 && !segments[i+1].Start.Time.Before(built); i-- {
			if sameQuantities(segments[i], segments[j]) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// joinOldestPairAfter joins the oldest two segments starting at or after
// built (neither the last; the first two when there are none) into one with
// the quantities of the one that lasts longer, the earlier on a tie: the
// shorter one's time is measured with the other's quantities.
func joinOldestPairAfter(segments []saasv1alpha1.UsageSegment, built time.Time) []saasv1alpha1.UsageSegment {
	k := 0
	for k < len(segments)-3 && segments[k].Start.Time.Before(built) {
		k++
	}
	if durationOf(segments, k) >= durationOf(segments, k+1) {
		return mergeEqualNeighbours(slices.Delete(segments, k+1, k+2))
	}
	segments[k+1].Start = segments[k].Start
	return mergeEqualNeighbours(slices.Delete(segments, k, k+1))
}

// mergeEqualNeighbours joins each segment into the one before it when both
// measure the same, which changes no window, except the last (its start
// stays the floor of EndOfMetering).
func mergeEqualNeighbours(segments []saasv1alpha1.UsageSegment) []saasv1alpha1.UsageSegment {
	for k := len(segments) - 2; k >= 1; k-- {
		if sameQuantities(segments[k-1], segments[k]) {
			segments = slices.Delete(segments, k, k+1)
		}
	}
	return segments
}

// PruneSegments drops the segments (oldest first) that end at or before
// cursor, keeping the one in force at cursor and all later ones. It returns
// a subslice of segments.
func PruneSegments(segments []saasv1alpha1.UsageSegment, cursor time.Time) []saasv1alpha1.UsageSegment {
	keep := 0
	for i := range segments {
		if !segments[i].Start.Time.After(cursor) {
			keep = i
		}
	}
	return segments[keep:]
}

// builtinRate is a segment's hourly rate for a built-in meter (see the
// MeterSource constants).
func builtinRate(src saasv1alpha1.MeterSource, s saasv1alpha1.UsageSegment) float64 {
	if s.State == saasv1alpha1.StateReleased {
		return 0
	}
	replicas := float64(s.Replicas)
	switch src {
	case saasv1alpha1.MeterTenantHours:
		if s.State == saasv1alpha1.StateActive {
			return 1
		}
	case saasv1alpha1.MeterReplicaHours:
		return replicas
	case saasv1alpha1.MeterCPUCoreHours:
		return replicas * float64(s.CPUMillis) / 1000
	case saasv1alpha1.MeterMemoryGiBHours:
		return replicas * float64(s.MemoryBytes) / gib
	case saasv1alpha1.MeterStorageGiBHours:
		return float64(s.StorageBytes) / gib
	}
	return 0
}

// BuiltinUsage integrates a built-in meter's hourly rate over the window w,
// in the meter's unit times hours (tenant-hours, replica-hours, core-hours,
// GiB-hours). segments are oldest first; each lasts until the next starts,
// the last until the window's end; time before the first segment counts
// nothing. A Prometheus meter (or an unknown source) measures 0 here.
//
// The time at each rate is summed in whole nanoseconds and multiplied by
// the rate once. Stretches multiplied one by one each round in float, and
// their sum need not be the whole: a 5000 GiB volume frozen 1 minute into
// an hour (two segments of one rate) stored 4999.999999999999 GiB-hours,
// which Round Down at 4 decimals billed as 4999.9999. The rates are kept
// in the order they first occur, not in a map, so the float error of a sum
// of several is the same on every run.
func BuiltinUsage(src saasv1alpha1.MeterSource, segments []saasv1alpha1.UsageSegment, w Window) float64 {
	type atRate struct {
		rate float64
		time time.Duration // within w, so never beyond its length
	}
	var inline [4]atRate // a window rarely sees more rates: no allocation
	rates := inline[:0]
	for i, s := range segments {
		from := later(s.Start.Time, w.Start)
		to := w.End
		if i+1 < len(segments) && segments[i+1].Start.Time.Before(to) {
			to = segments[i+1].Start.Time
		}
		rate := builtinRate(src, s)
		if rate == 0 || !to.After(from) {
			continue
		}
		k := 0
		for k < len(rates) && rates[k].rate != rate {
			k++
		}
		if k == len(rates) {
			rates = append(rates, atRate{rate: rate})
		}
		rates[k].time += to.Sub(from)
	}
	total := 0.0
	for _, r := range rates {
		total += r.rate * r.time.Hours()
	}
	return total
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// EndOfMetering is when metering of tenant t, released or deleted, ends:
// when the marketplace released it, not when kooper saw it, so controllers
// that were down do not bill the hours between (ReleasedAt); now when it
// has neither a release order nor a deletion (a release without an order:
// the receiver stores no time for it). It is never before the last
// recorded segment's start or the cursor (hours pushed cannot be taken
// back), and never after now unless now is before that floor (a clock
// behind the one that recorded it): then it is the floor. The released
// segment starts there too.
func EndOfMetering(t *saasv1alpha1.SaaSTenant, m *saasv1alpha1.TenantMetering, now time.Time) time.Time {
	return endAt(ReleasedAt(t), segmentFloor(m), now)
}

// segmentFloor is the earliest a new segment of m may start: the last
// segment's start (segments are oldest first, each lasting until the next
// starts) or the cursor (the hours before it are pushed), the later.
func segmentFloor(m *saasv1alpha1.TenantMetering) time.Time {
	floor := Cursor(m)
	if n := len(m.Segments); n > 0 {
		floor = later(floor, m.Segments[n-1].Start.Time)
	}
	return floor
}

// ReleasedAt is when tenant t (a pay-per-use tenant or a package) was
// released or deleted, as stored with the event rather than when kooper
// sees it: the earliest of the receivedTime of its releaseInstance orders
// (spec.orders, stored by the receiver as the callback came; counted only
// while it is released) and its deletionTimestamp (deleted by hand). It is
// zero when it has neither.
func ReleasedAt(t *saasv1alpha1.SaaSTenant) time.Time {
	var end time.Time
	earliest := func(at time.Time) {
		if end.IsZero() || at.Before(end) {
			end = at
		}
	}
	if t.Spec.State == saasv1alpha1.StateReleased {
		for _, o := range t.Spec.Orders {
			if o.Activity == saasv1alpha1.ActivityReleaseInstance && !o.ReceivedTime.IsZero() {
				earliest(o.ReceivedTime.Time)
			}
		}
	}
	if d := t.DeletionTimestamp; d != nil && !d.IsZero() {
		earliest(d.Time)
	}
	return end
}

// endAt is when something released at (ReleasedAt) stops counting: at, to
// the second, but never after now (now when at is zero: no stored time),
// and never before floor (what is already settled cannot be taken back),
// even when now is before it: a now behind the floor comes from a clock
// behind the one that set the floor.
func endAt(at, floor, now time.Time) time.Time {
	end := now
	if !at.IsZero() && !at.After(now) {
		end = at.UTC().Truncate(time.Second)
	}
	return later(end, floor)
}

// HoldsUnpushed reports whether m, a tenant's record (nil for none), holds
// usage observed and not pushed yet: a live record's segments or in-flight
// push, or the hours of a released tenant's record up to its release.
func HoldsUnpushed(m *saasv1alpha1.TenantMetering) bool {
	if m == nil || Done(m) {
		return false
	}
	return m.EndTime != nil || len(m.Segments) > 0 || m.InFlight != nil
}

// Abandon gives up the unpushed usage of m, the record of a tenant whose
// product no longer meters it, so that nothing observed before is pushed
// should the product meter it again: the segments and the in-flight push
// (built, perhaps sent, its answer unknown) go. A released tenant's record
// is over: its cursor moves to the release (Done). A live record keeps its
// cursor until Restart moves it; totals, ledger and conditions stay. It
// reports whether m changed.
func Abandon(m *saasv1alpha1.TenantMetering) bool {
	if !HoldsUnpushed(m) {
		return false
	}
	if m.EndTime != nil {
		end := *m.EndTime
		m.PushedUntil = &end
	}
	m.Segments, m.InFlight = nil, nil
	return true
}

// Restart starts metering again at now for m, a live record that Abandon
// emptied (no segments): the cursor moves to now, so that the hours kooper
// did not observe are never measured, by a built-in meter or a Prometheus
// one. Every record the metering controller writes holds a segment from
// its first write on (observe records one with since, and PruneSegments
// keeps the one in force), so a live record without one is one Abandon
// emptied. A record just begun (since at now) or one with segments is left
// as it is. It reports whether m changed.
func Restart(m *saasv1alpha1.TenantMetering, now time.Time) bool {
	if m.EndTime != nil || len(m.Segments) > 0 || !Cursor(m).Before(now) {
		return false
	}
	from := metav1.NewTime(now)
	// No in-flight push either (Abandon cleared it): its windows lie before
	// now, and settling one would move the cursor back over the gap.
	m.PushedUntil, m.InFlight = &from, nil
	return true
}
