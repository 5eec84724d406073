package metering

import (
	"slices"
	"time"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// Window is one metering window, [Start, End). Windows follow clock hours
// (spec §6.4: records per instance and period without overlaps): only the
// first (from status.metering.since) and the last (to the release,
// status.metering.endTime) may be shorter than an hour.
type Window struct {
	// Start is the window's first instant, included.
	Start time.Time
	// End is the instant after the window, excluded.
	End time.Time
}

// Cursor is where the next window to push starts: status.metering.pushedUntil,
// or status.metering.since before the first push.
func Cursor(m *saasv1alpha1.TenantMetering) time.Time {
	if m.PushedUntil != nil {
		return m.PushedUntil.Time
	}
	return m.Since.Time
}

// Done reports whether metering is over: the tenant was released (endTime
// is set) and the window that ends at the release is pushed. m is never nil
// (this and every function here taking a *TenantMetering).
func Done(m *saasv1alpha1.TenantMetering) bool {
	return m.EndTime != nil && !Cursor(m).Before(m.EndTime.Time)
}

// WindowEnd is the end of the window that starts at start: the next clock
// hour, or the release (endTime) when that comes first.
func WindowEnd(m *saasv1alpha1.TenantMetering, start time.Time) time.Time {
	end := start.Truncate(time.Hour).Add(time.Hour)
	if m.EndTime != nil && end.After(m.EndTime.Time) {
		end = m.EndTime.Time
	}
	return end
}

// ClosedWindows lists the windows from the cursor that have ended by now (a
// window ending exactly at now is closed), at most limit of them, oldest
// first. They tile time from the cursor without overlap or gap, and stop at
// the release.
func ClosedWindows(m *saasv1alpha1.TenantMetering, now time.Time, limit int) []Window {
	var windows []Window
	for c := Cursor(m); len(windows) < limit && (m.EndTime == nil || c.Before(m.EndTime.Time)); {
		end := WindowEnd(m, c)
		if end.After(now) || !end.After(c) {
			break
		}
		windows = append(windows, Window{Start: c, End: end})
		c = end
	}
	return windows
}

// WindowsPerPush is how many windows of a tenant with meters meters fit in
// one usage push of at most maxRecords records: every meter makes at most
// one record per window (spec §6.4, MKT.9003; the limit is 100 or 1000,
// §8 item 19, koogallery.DefaultUsagePushMaxRecords). A product has 1 to 8
// meters; meters < 1 counts as 1. It is at least 1: a window's records go
// in one push, even when they alone are over a limit below the meters.
func WindowsPerPush(meters, maxRecords int) int {
	return max(maxRecords/max(meters, 1), 1)
}

// ExpiredUntil is the 21-day cut (spec §6.4, MKT.9004: begin_time within
// the last 21 days). When the cursor lies before now minus 21 days plus an
// hour (the margin, so that a window does not expire during its own push),
// it returns true and the instant the cursor moves to, skipping the
// windows the marketplace no longer accepts: the first clock hour at or
// after that limit, or the release when that comes first. Otherwise it
// returns false.
func ExpiredUntil(m *saasv1alpha1.TenantMetering, now time.Time) (time.Time, bool) {
	oldest := now.Add(-koogallery.UsageWindow + time.Hour)
	if !Cursor(m).Before(oldest) {
		return time.Time{}, false
	}
	// A window that starts exactly at the limit is not expired (the check
	// above), so a limit on the hour is where the cursor moves to: rounding
	// it up to the next hour would drop that window's usage unbilled.
	to := oldest.Truncate(time.Hour)
	if to.Before(oldest) {
		to = to.Add(time.Hour)
	}
	if end := m.EndTime; end != nil && end.Time.Before(to) {
		to = end.Time
	}
	return to, true
}

// OldestUnpushedAge is how long ago, at now, the oldest closed window not
// yet pushed ended, over tenants; 0 when every closed window is pushed.
// It feeds kooper_usage_oldest_unpushed_window_age_seconds, and so the
// KooperUsagePushBehind alert: it counts only the usage kooper still means
// to push, that of tenants it holds (the metering finalizer, added at
// metering's first pass). Tenants without status.metering, or whose
// metering is done, count for nothing; nor does a tenant kooper let go
// (its product is gone, or the finalizer was removed by hand to give up
// its usage), whose record may still hold hours: they would age for ever
// and hide another product's real backlog. Should its product come back,
// kooper holds it again and it counts again.
func OldestUnpushedAge(tenants []*saasv1alpha1.SaaSTenant, now time.Time) time.Duration {
	var oldest time.Duration
	for _, t := range tenants {
		m := t.Status.Metering
		if !HoldsUnpushed(m) { // done, or let go by a product that stopped metering it
			continue
		}
		if !slices.Contains(t.Finalizers, saasv1alpha1.MeteringFinalizer) {
			continue // let go: no one pushes these hours
		}
		if end := WindowEnd(m, Cursor(m)); end.Before(now) {
			oldest = max(oldest, now.Sub(end))
		}
	}
	return oldest
}
