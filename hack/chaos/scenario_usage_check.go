package main

import (
	"fmt"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// meteredTenant is what the usage checker reads of a metered tenant's
// status.metering.
type meteredTenant struct {
	name, instanceID string
	// since is when metering started; zero when it has not.
	since time.Time
	// pushedUntil is the push cursor; zero before the first push.
	pushedUntil time.Time
	// totalUnits is the meter's status total, in ten-thousandths.
	totalUnits int64
}

// receivedWindow is one window of an instance as the simulator received it
// (GET /sim/usage/windows).
type receivedWindow struct {
	begin, end time.Time
	// records are the stored records (one per meter); duplicates the later
	// pushes of a stored metering_sn.
	records, duplicates int
	units               int64
}

// usageVerdict is what the usage checker found.
type usageVerdict struct {
	// windows had to be pushed; once were pushed exactly once.
	windows, once int
	// notMetered counts tenants whose metering started after the hour:
	// they had no window to push.
	notMetered       int
	lost, duplicated []string
}

// hourWindows tiles [since, until) into metering windows: clock hours, the
// first from since (metering.ClosedWindows, internal/metering/windows.go).
func hourWindows(since, until time.Time) [][2]time.Time {
	var out [][2]time.Time
	for c := since; c.Before(until); {
		end := c.Truncate(time.Hour).Add(time.Hour)
		if end.After(until) {
			end = until
		}
		out = append(out, [2]time.Time{c, end})
		c = end
	}
	return out
}

// checkUsage checks that every window each tenant closed before until was
// pushed exactly once (spec §6.4: metering_sn is the marketplace's
// deduplication key, so a second push of a window is a duplicate even if
// refused as such):
//   - lost: a window never received, a tenant whose cursor
//     (status.metering.pushedUntil) stayed before until, or a status total
//     below what the marketplace holds;
//   - duplicated: a window received more than once (two records, or a
//     record pushed again), a window off the hour grid within the metered
//     time, or a status total above what the marketplace holds.
func checkUsage(tenants []meteredTenant, received map[string][]receivedWindow, until time.Time) usageVerdict {
	var v usageVerdict
	for _, t := range tenants {
		if t.since.IsZero() || !t.since.Before(until) {
			v.notMetered++
			continue
		}
		got := map[windowKey]receivedWindow{}
		var held int64
		for _, w := range received[t.instanceID] {
			got[keyOf([2]time.Time{w.begin, w.end})] = w
			held += w.units
		}
		expected := map[windowKey]bool{}
		for _, w := range hourWindows(t.since, until) {
			expected[keyOf(w)] = true
			v.windows++
			r, ok := got[keyOf(w)]
			switch {
			case !ok:
				v.lost = append(v.lost, fmt.Sprintf("%s: window %s never pushed", t.name, windowName(w)))
			case r.records+r.duplicates > 1:
				v.duplicated = append(v.duplicated, fmt.Sprintf("%s: window %s pushed %d times (%d records, %d repeated pushes)",
					t.name, windowName(w), r.records+r.duplicates, r.records, r.duplicates))
			default:
				v.once++
			}
		}
		for key, w := range got {
			if !expected[key] && w.begin.Before(until) {
				v.duplicated = append(v.duplicated, fmt.Sprintf("%s: window %s is off the hour grid, overlapping the pushed ones",
					t.name, windowName([2]time.Time{w.begin, w.end})))
			}
		}
		if t.pushedUntil.Before(until) {
			v.lost = append(v.lost, fmt.Sprintf("%s: status.metering.pushedUntil is %s, before %s", t.name, stamp(t.pushedUntil), stamp(until)))
		}
		switch {
		case t.totalUnits > held:
			v.duplicated = append(v.duplicated, fmt.Sprintf("%s: status total %s is above the %s pushed", t.name,
				koogallery.UsageUnits(t.totalUnits), koogallery.UsageUnits(held)))
		case t.totalUnits < held:
			v.lost = append(v.lost, fmt.Sprintf("%s: status total %s is below the %s pushed", t.name,
				koogallery.UsageUnits(t.totalUnits), koogallery.UsageUnits(held)))
		}
	}
	return v
}

// windowKey is a window as Unix seconds: the simulator's times are UTC,
// the API server's local, and the records carry whole seconds.
type windowKey [2]int64

func keyOf(w [2]time.Time) windowKey { return windowKey{w[0].Unix(), w[1].Unix()} }

func windowName(w [2]time.Time) string { return stamp(w[0]) + "–" + stamp(w[1]) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unset"
	}
	return t.UTC().Format("15:04:05")
}
