package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// simUsageRecord is one record the simulator accepted (GET /sim/usage).
type simUsageRecord struct {
	InstanceID        string `json:"instance_id"`
	BeginTime         string `json:"begin_time"`
	EndTime           string `json:"end_time"`
	RecordTime        string `json:"record_time"`
	UsageValue        string `json:"usage_value"`
	MeteringSN        string `json:"metering_sn"`
	RelatePkgInstance string `json:"relate_pkg_instance"`
}

// ledgerPackage is a package as the checker knows it: what it holds, when
// it expires (Query Order), and since when it may pay (the pay-per-use
// tenant's ledger, status.metering.packages[].since).
type ledgerPackage struct {
	instanceID string
	quota      koogallery.UsageUnits
	expire     time.Time
	since      time.Time
}

// eligibleFor reports whether the package may pay for the window
// [start, end) (docs/packages.md decision 6).
func (p ledgerPackage) eligibleFor(start, end time.Time) bool {
	return p.since.Before(end) && p.expire.After(start)
}

// packageUsageVerdict is what checkPackageRecords found.
type packageUsageVerdict struct {
	// paid is what each package paid for, by instance ID.
	paid map[string]koogallery.UsageUnits
	// byWindow lists each window's parts, oldest first: "10:15:07–11:00:00
	// i-a 0.7481, i-b 0.2519".
	byWindow []string
	// splits are the windows two packages or more paid for.
	splits   []splitWindow
	problems []string
}

// splitWindow is a window two packages or more paid for.
type splitWindow struct {
	name     string
	packages []string
}

// windowsOf maps each record_time of records to the window its records
// cover, [earliest begin_time, latest end_time] as the records spell them:
// kooper pushes the records of one window with the window's end as their
// record_time, each over its own part of the window (metering.Periods), so
// a record's begin_time is its window's start only for the first.
func windowsOf(records []simUsageRecord) map[string][2]string {
	windows := map[string][2]string{}
	for _, rec := range records {
		w, seen := windows[rec.RecordTime]
		if !seen || rec.BeginTime < w[0] { // yyyyMMddTHHmmssZ sorts as the time does
			w[0] = rec.BeginTime
		}
		if !seen || rec.EndTime > w[1] {
			w[1] = rec.EndTime
		}
		windows[rec.RecordTime] = w
	}
	return windows
}

// checkPackageRecords checks the records of a pay-per-use instance ppu
// funded by packages (docs/packages.md) against the model: every record
// names ppu as instance_id and one of the packages as
// relate_pkg_instance, with the metering_sn kooper derives from both
// (metering.PackageSN); no package pays more than it holds, nor any window
// more than an hour of an hour; and, window by window, a package pays only
// once every package eligible for that window and expiring before it is
// used up: soonest expiry first.
func checkPackageRecords(ppu, meter string, packages []ledgerPackage, records []simUsageRecord) packageUsageVerdict {
	v := packageUsageVerdict{paid: map[string]koogallery.UsageUnits{}}
	byID := map[string]ledgerPackage{}
	for _, p := range packages {
		byID[p.instanceID] = p
	}
	type part struct {
		start, end time.Time
		pkg        string
		units      koogallery.UsageUnits
	}
	var parts []part
	windows := windowsOf(records)
	for _, rec := range records {
		w := windows[rec.RecordTime]
		start, err1 := time.Parse(koogallery.UsageTimeLayout, w[0])
		end, err2 := time.Parse(koogallery.UsageTimeLayout, w[1])
		units, err3 := koogallery.ParseUsageUnits(rec.UsageValue)
		switch {
		case err1 != nil || err2 != nil || err3 != nil:
			v.problems = append(v.problems, fmt.Sprintf("record %s cannot be read: %s–%s, %q", rec.MeteringSN, rec.BeginTime, rec.EndTime, rec.UsageValue))
			continue
		case rec.InstanceID != ppu:
			v.problems = append(v.problems, fmt.Sprintf("record %s names instance_id %s, not the pay-per-use instance %s", rec.MeteringSN, rec.InstanceID, ppu))
			continue
		case rec.RelatePkgInstance == "":
			v.problems = append(v.problems, fmt.Sprintf("record %s (%s, %s) has no relate_pkg_instance: uncovered usage was pushed, not held back",
				rec.MeteringSN, windowName([2]time.Time{start, end}), rec.UsageValue))
			continue
		}
		if _, ok := byID[rec.RelatePkgInstance]; !ok {
			v.problems = append(v.problems, fmt.Sprintf("record %s names relate_pkg_instance %s, which is none of the buyer's packages", rec.MeteringSN, rec.RelatePkgInstance))
			continue
		}
		if want := metering.PackageSN(ppu, meter, start, rec.RelatePkgInstance); rec.MeteringSN != want {
			v.problems = append(v.problems, fmt.Sprintf("record of %s for %s has metering_sn %s, kooper derives %s", rec.RelatePkgInstance, windowName([2]time.Time{start, end}), rec.MeteringSN, want))
		}
		parts = append(parts, part{start: start, end: end, pkg: rec.RelatePkgInstance, units: units})
	}
	slices.SortStableFunc(parts, func(a, b part) int {
		return cmp.Or(a.start.Compare(b.start), byID[a.pkg].expire.Compare(byID[b.pkg].expire))
	})
	paid := v.paid
	for i := 0; i < len(parts); {
		j := i
		var sum koogallery.UsageUnits
		var names, pkgs []string
		for ; j < len(parts) && parts[j].start.Equal(parts[i].start); j++ {
			p := parts[j]
			if !p.end.Equal(parts[i].end) {
				v.problems = append(v.problems, fmt.Sprintf("the parts of the window from %s end at different times", stamp(p.start)))
			}
			paid[p.pkg] += p.units
			sum += p.units
			names = append(names, fmt.Sprintf("%s %s", p.pkg, p.units))
			pkgs = append(pkgs, p.pkg)
		}
		start, end := parts[i].start, parts[i].end
		name := windowName([2]time.Time{start, end}) + " " + strings.Join(names, ", ")
		v.byWindow = append(v.byWindow, name)
		if j-i > 1 {
			v.splits = append(v.splits, splitWindow{name: name, packages: pkgs})
		}
		if limit := koogallery.UsageUnits(end.Sub(start).Hours()*koogallery.UnitsPerOne + 0.5); sum > limit {
			v.problems = append(v.problems, fmt.Sprintf("window %s: %s paid, more than the %s hours the window lasts", windowName([2]time.Time{start, end}), sum, limit))
		}
		// Soonest expiry first: whoever paid, every eligible package that
		// expires before it must be used up by the end of this window.
		for _, p := range parts[i:j] {
			for _, q := range packages {
				if q.instanceID == p.pkg || !q.expire.Before(byID[p.pkg].expire) || !q.eligibleFor(start, end) || paid[q.instanceID] >= q.quota {
					continue
				}
				v.problems = append(v.problems, fmt.Sprintf("window %s: %s (expiring %s) paid while %s, expiring sooner (%s), still had %s left",
					windowName([2]time.Time{start, end}), p.pkg, byID[p.pkg].expire.UTC().Format(time.DateOnly), q.instanceID,
					q.expire.UTC().Format(time.DateOnly), q.quota-paid[q.instanceID]))
			}
		}
		i = j
	}
	for _, p := range packages {
		if paid[p.instanceID] > p.quota {
			v.problems = append(v.problems, fmt.Sprintf("%s paid for %s, more than the %s it holds", p.instanceID, paid[p.instanceID], p.quota))
		}
	}
	return v
}
