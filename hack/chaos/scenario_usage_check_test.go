package main

import (
	"testing"
	"time"
)

func TestCheckUsageCountsEachWindowPushedOnceTwiceOrNever(t *testing.T) {
	hour := time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)
	since := hour.Add(-50 * time.Second)
	window := receivedWindow{begin: since, end: hour, records: 1, units: 139}
	tenant := meteredTenant{name: "t", instanceID: "i", since: since, pushedUntil: hour, totalUnits: 139}
	with := func(change func(*meteredTenant, *receivedWindow)) ([]meteredTenant, map[string][]receivedWindow) {
		tn, w := tenant, window
		change(&tn, &w)
		return []meteredTenant{tn}, map[string][]receivedWindow{"i": {w}}
	}
	for _, tc := range []struct {
		name                   string
		change                 func(*meteredTenant, *receivedWindow)
		once, lost, duplicated int
		notMetered             int
		extraWindow            *receivedWindow
	}{
		{name: "pushed once", change: func(*meteredTenant, *receivedWindow) {}, once: 1},
		{name: "the status's times in another zone", change: func(tn *meteredTenant, _ *receivedWindow) {
			zone := time.FixedZone("CST", 8*3600)
			tn.since, tn.pushedUntil = tn.since.In(zone), tn.pushedUntil.In(zone)
		}, once: 1},
		{name: "never pushed", change: func(tn *meteredTenant, w *receivedWindow) {
			w.begin = hour // not the window; and the cursor did not move
			tn.pushedUntil, tn.totalUnits, w.units = time.Time{}, 0, 0
		}, lost: 2},
		{name: "pushed again, refused as a duplicate", change: func(_ *meteredTenant, w *receivedWindow) { w.duplicates = 1 }, duplicated: 1},
		{name: "two records for one window", change: func(tn *meteredTenant, w *receivedWindow) {
			w.records, w.units, tn.totalUnits = 2, 278, 278
		}, duplicated: 1},
		{name: "accepted but the cursor stayed", change: func(tn *meteredTenant, _ *receivedWindow) { tn.pushedUntil = since }, once: 1, lost: 1},
		{name: "counted twice in the status", change: func(tn *meteredTenant, _ *receivedWindow) { tn.totalUnits = 278 }, once: 1, duplicated: 1},
		{name: "metered after the hour", change: func(tn *meteredTenant, _ *receivedWindow) { tn.since = hour.Add(time.Second) }, notMetered: 1},
		{name: "an overlapping window", change: func(*meteredTenant, *receivedWindow) {},
			extraWindow: &receivedWindow{begin: since.Add(time.Second), end: hour, records: 1}, once: 1, duplicated: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenants, received := with(tc.change)
			if tc.extraWindow != nil {
				received["i"] = append(received["i"], *tc.extraWindow)
			}
			v := checkUsage(tenants, received, hour)
			if v.once != tc.once || len(v.lost) != tc.lost || len(v.duplicated) != tc.duplicated || v.notMetered != tc.notMetered {
				t.Errorf("once %d, lost %q, duplicated %q, not metered %d; want %d once, %d lost, %d duplicated, %d not metered",
					v.once, v.lost, v.duplicated, v.notMetered, tc.once, tc.lost, tc.duplicated, tc.notMetered)
			}
		})
	}
}

func TestHourWindowsTileFromMeteringStartOnTheClockHours(t *testing.T) {
	h := time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)
	got := hourWindows(h.Add(-90*time.Minute), h)
	want := [][2]time.Time{{h.Add(-90 * time.Minute), h.Add(-time.Hour)}, {h.Add(-time.Hour), h}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("hourWindows = %v, want %v", got, want)
	}
	if got := hourWindows(h, h); len(got) != 0 {
		t.Errorf("no time metered, yet windows %v", got)
	}
}
