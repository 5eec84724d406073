package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// usageWindow is one metering window: [start, end). Windows follow clock
// hours; only the first (from metering start) and the last (to release)
// may be shorter.
type usageWindow struct {
	start, end time.Time
}

// maxSegments bounds status.metering.segments (the CRD's MaxItems).
const maxSegments = 64

// gib is 2^30 bytes.
const gib = 1 << 30

// observedSegment is what the built-in meters measure of a tenant now.
func observedSegment(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) saasv1alpha1.UsageSegment {
	seg := saasv1alpha1.UsageSegment{State: effectiveState(t)}
	if seg.State == saasv1alpha1.StateReleased || product.Spec.Workload == nil {
		return seg
	}
	if storage := product.Spec.Workload.Storage; storage != nil {
		seg.StorageBytes = storage.Size.Value()
	}
	plan := planOf(product, t.Status.SKUCode)
	if plan == nil {
		return seg
	}
	seg.Replicas = plan.Replicas
	if seg.State == saasv1alpha1.StateFrozen && product.Spec.Lifecycle.Freeze.Behavior != saasv1alpha1.FreezeDisableIngress {
		seg.Replicas = 0
	}
	requests := corev1.ResourceList{}
	if res := product.Spec.Workload.Resources; res != nil {
		requests = res.Requests
	}
	if plan.Resources != nil {
		requests = plan.Resources.Requests
	}
	if cpu, ok := requests[corev1.ResourceCPU]; ok {
		seg.CPUMillis = cpu.MilliValue()
	}
	if mem, ok := requests[corev1.ResourceMemory]; ok {
		seg.MemoryBytes = mem.Value()
	}
	return seg
}

// effectiveState is the state the buyer is billed in: the marketplace's
// (spec.state, which the buyer's freeze or unfreeze changes at once), or
// Frozen when the expiry safety net froze an Active tenant locally. The
// Frozen condition is not used for the marketplace's own freeze: it lags the
// spec, and would bill the minutes between an unfreeze and its reconcile.
func effectiveState(t *saasv1alpha1.SaaSTenant) saasv1alpha1.SubscriptionState {
	switch {
	case t.Spec.State == saasv1alpha1.StateReleased:
		return saasv1alpha1.StateReleased
	case t.Spec.State == saasv1alpha1.StateFrozen, frozenByExpiry(t):
		return saasv1alpha1.StateFrozen
	}
	return saasv1alpha1.StateActive
}

func frozenByExpiry(t *saasv1alpha1.SaaSTenant) bool {
	for _, c := range t.Status.Conditions {
		if c.Type == saasv1alpha1.FrozenCondition {
			return c.Status == metav1.ConditionTrue && c.Reason == saasv1alpha1.FrozenByExpiryReason
		}
	}
	return false
}

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

// recordSegment appends seg, starting at now, unless it measures what the
// last segment does. At the bound, the last segment takes the new values
// instead: a tenant changing more than 64 times within unpushed hours is
// metered with the later values for the last stretch.
func recordSegment(m *saasv1alpha1.TenantMetering, seg saasv1alpha1.UsageSegment, now time.Time) bool {
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

// meteringCursor is where the next window starts.
func meteringCursor(m *saasv1alpha1.TenantMetering) time.Time {
	if m.PushedUntil != nil {
		return m.PushedUntil.Time
	}
	return m.Since.Time
}

// meteringDone reports whether the last window of a released tenant is pushed.
func meteringDone(m *saasv1alpha1.TenantMetering) bool {
	return m.EndTime != nil && !meteringCursor(m).Before(m.EndTime.Time)
}

// windowEnd is the end of the window starting at start.
func windowEnd(m *saasv1alpha1.TenantMetering, start time.Time) time.Time {
	end := start.Truncate(time.Hour).Add(time.Hour)
	if m.EndTime != nil && end.After(m.EndTime.Time) {
		end = m.EndTime.Time
	}
	return end
}

// closedWindows lists the windows from the cursor that have ended by now,
// at most limit of them, oldest first. They tile time without overlap or gap.
func closedWindows(m *saasv1alpha1.TenantMetering, now time.Time, limit int) []usageWindow {
	var windows []usageWindow
	for c := meteringCursor(m); len(windows) < limit && (m.EndTime == nil || c.Before(m.EndTime.Time)); {
		end := windowEnd(m, c)
		if end.After(now) || !end.After(c) {
			break
		}
		windows = append(windows, usageWindow{start: c, end: end})
		c = end
	}
	return windows
}

// builtinRate is a segment's hourly rate for a built-in meter.
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

// builtinUsage integrates a built-in meter's rate over the window.
func builtinUsage(src saasv1alpha1.MeterSource, segments []saasv1alpha1.UsageSegment, w usageWindow) float64 {
	total := 0.0
	for i, s := range segments {
		from := later(s.Start.Time, w.start)
		to := w.end
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

// pruneSegments drops the segments that end before cursor, keeping the one
// in force at cursor.
func pruneSegments(segments []saasv1alpha1.UsageSegment, cursor time.Time) []saasv1alpha1.UsageSegment {
	keep := 0
	for i := range segments {
		if !segments[i].Start.Time.After(cursor) {
			keep = i
		}
	}
	return segments[keep:]
}

// roundUsage rounds v to the meter's decimals with its rounding mode, in
// units. A small epsilon absorbs float error, so 0.1+0.2 rounds up to 0.3,
// not 0.3001.
func roundUsage(v float64, decimals int32, mode saasv1alpha1.MeterRounding) koogallery.UsageUnits {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0
	}
	decimals = min(max(decimals, 0), 4)
	scale := math.Pow10(int(decimals))
	x := v * scale
	const eps = 1e-9
	var r float64
	switch mode {
	case saasv1alpha1.RoundUp:
		r = math.Ceil(x - eps)
	case saasv1alpha1.RoundDown:
		r = math.Floor(x + eps)
	default:
		r = math.Floor(x + 0.5 + eps)
	}
	if r >= math.MaxInt64/koogallery.UnitsPerOne {
		return 0 // beyond the (12,4) the marketplace takes; never send it
	}
	return koogallery.UsageUnits(int64(r) * int64(koogallery.UnitsPerOne/math.Pow10(int(decimals))))
}

// meteringSN is the record's deduplication key: a hash of the instance, the
// meter and the window start, so every retry, restart or second replica
// sends the same key for the same window and the marketplace keeps one record.
func meteringSN(instanceID, meter string, start time.Time) string {
	sum := sha256.Sum256([]byte(instanceID + "\x00" + meter + "\x00" + strconv.FormatInt(start.Unix(), 10)))
	return "kp" + hex.EncodeToString(sum[:15])
}
