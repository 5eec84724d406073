package metering

import (
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
// workload's), and the volume's size (bytes). A tenant whose SKU is no plan
// of the product (a plan removed or renamed: the tenant stalls PlanNotFound
// and its workload keeps running) measures what it was last applied with
// (status.applied), and only the state and the volume when it never was. A
// product without a workload measures only the state.
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
// of tenant t of product (a product with a workload): its plan's, with the
// workload's resources where the plan names none; else, when the product
// has no plan for its SKU, what it was last applied with. ok is false when
// it has neither.
func runningPlan(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) (replicas int32, requests corev1.ResourceList, ok bool) {
	if plan := planOf(product, t.Status.SKUCode); plan != nil {
		if res := product.Spec.Workload.Resources; res != nil {
			requests = res.Requests
		}
		if plan.Resources != nil {
			requests = plan.Resources.Requests
		}
		return plan.Replicas, requests, true
	}
	applied := t.Status.Applied
	if applied == nil {
		return 0, nil, false
	}
	if applied.Resources != nil {
		requests = applied.Resources.Requests // already the plan's or else the workload's
	}
	return applied.Replicas, requests, true
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
// measures what the last segment does; it reports whether m changed. At the
// bound of 64 segments (the CRD's MaxItems), the last segment takes the new
// values, keeping its start, instead: a tenant changing more than 64 times
// within unpushed hours is metered with the later values for the last
// stretch.
func RecordSegment(m *saasv1alpha1.TenantMetering, seg saasv1alpha1.UsageSegment, now time.Time) bool {
	if n := len(m.Segments); n > 0 && sameQuantities(m.Segments[n-1], seg) {
		return false
	}
	seg.Start = metav1.NewTime(now)
	if len(m.Segments) >= maxSegments {
		seg.Start = m.Segments[len(m.Segments)-1].Start
		m.Segments[len(m.Segments)-1] = seg
		return true
	}
	m.Segments = append(m.Segments, seg)
	return true
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
func BuiltinUsage(src saasv1alpha1.MeterSource, segments []saasv1alpha1.UsageSegment, w Window) float64 {
	total := 0.0
	for i, s := range segments {
		from := later(s.Start.Time, w.Start)
		to := w.End
		if i+1 < len(segments) && segments[i+1].Start.Time.Before(to) {
			to = segments[i+1].Start.Time
		}
		if to.After(from) {
			total += builtinRate(src, s) * to.Sub(from).Hours()
		}
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
// back), and never after now. The released segment starts there too.
func EndOfMetering(t *saasv1alpha1.SaaSTenant, m *saasv1alpha1.TenantMetering, now time.Time) time.Time {
	floor := Cursor(m)
	if n := len(m.Segments); n > 0 {
		floor = later(floor, m.Segments[n-1].Start.Time)
	}
	return endAt(ReleasedAt(t), floor, now)
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
// the second, but never before floor (what is already settled cannot be
// taken back) and never after now; now when at is zero (no stored time).
func endAt(at, floor, now time.Time) time.Time {
	if at.IsZero() || at.After(now) {
		return now
	}
	end := later(at.UTC().Truncate(time.Second), floor)
	if end.After(now) {
		return now
	}
	return end
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
