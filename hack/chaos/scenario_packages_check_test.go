package main

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

func TestCheckPackageRecordsHoldsUsageToSoonestExpiryFirst(t *testing.T) {
	hour := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	since := hour.Add(15 * time.Minute)
	soon := ledgerPackage{instanceID: "i-soon", quota: 15_000, expire: hour.Add(10 * 24 * time.Hour), since: since}
	late := ledgerPackage{instanceID: "i-late", quota: 20_000, expire: hour.Add(20 * 24 * time.Hour), since: since}
	packages := []ledgerPackage{late, soon}
	rec := func(start, end time.Time, pkg, value string) simUsageRecord {
		return simUsageRecord{InstanceID: "i-ppu", BeginTime: start.UTC().Format(koogallery.UsageTimeLayout), EndTime: end.UTC().Format(koogallery.UsageTimeLayout),
			RecordTime: end.UTC().Format(koogallery.UsageTimeLayout), UsageValue: value, RelatePkgInstance: pkg, MeteringSN: metering.PackageSN("i-ppu", meterName, start, pkg)}
	}
	h := func(n int) time.Time { return hour.Add(time.Duration(n) * time.Hour) }
	good := []simUsageRecord{
		rec(since, h(1), "i-soon", "0.75"),
		rec(h(1), h(2), "i-late", "0.25"), // listed before its window's other part: the order received does not matter
		rec(h(1), h(2), "i-soon", "0.75"),
		rec(h(2), h(3), "i-late", "1"),
		rec(h(3), h(4), "i-late", "0.75"),
	}
	for _, tc := range []struct {
		name     string
		change   func([]simUsageRecord) []simUsageRecord
		problems int
	}{
		{name: "as the model says", change: func(r []simUsageRecord) []simUsageRecord { return r }},
		{name: "uncovered usage pushed", problems: 1, change: func(r []simUsageRecord) []simUsageRecord {
			return append(r, simUsageRecord{InstanceID: "i-ppu", BeginTime: r[4].BeginTime, EndTime: r[4].EndTime, RecordTime: r[4].RecordTime, UsageValue: "0.25", MeteringSN: "x"})
		}},
		{name: "a split window's parts each over its own period, as kooper pushes them", change: func(r []simUsageRecord) []simUsageRecord {
			// metering.Periods: the paying order's first part gets the
			// window's first half; both keep the window's end as
			// record_time and the window's start in their metering_sn.
			half := h(1).Add(30 * time.Minute).UTC().Format(koogallery.UsageTimeLayout)
			r[1].BeginTime = half
			r[2].EndTime = half
			return r
		}},
		{name: "a record in a package's name", problems: 1, change: func(r []simUsageRecord) []simUsageRecord {
			r[3].InstanceID = "i-late"
			return r
		}},
		{name: "the later expiry paid first, in two windows", problems: 2, change: func(r []simUsageRecord) []simUsageRecord {
			r[0] = rec(since, h(1), "i-late", "0.75")
			r[1] = rec(h(1), h(2), "i-late", "0.25")
			r[2] = rec(h(1), h(2), "i-soon", "0.75")
			r[3] = rec(h(2), h(3), "i-soon", "0.75")
			r[4] = rec(h(2), h(3), "i-late", "0.25")
			return r
		}},
		{name: "a package paying more than it holds", problems: 1, change: func(r []simUsageRecord) []simUsageRecord {
			return append(r, rec(h(4), h(5), "i-late", "0.5"))
		}},
		{name: "a window paid more than it lasted", problems: 1, change: func(r []simUsageRecord) []simUsageRecord {
			r[1].UsageValue = "0.5"
			r[3].UsageValue = "0.75"
			return r
		}},
		{name: "another metering_sn than kooper derives", problems: 1, change: func(r []simUsageRecord) []simUsageRecord {
			r[2].MeteringSN = metering.SN("i-ppu", meterName, h(1))
			return r
		}},
		{name: "a package none of the buyer's", problems: 1, change: func(r []simUsageRecord) []simUsageRecord {
			r[4] = rec(h(3), h(4), "i-other", "0.75")
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := checkPackageRecords("i-ppu", meterName, packages, tc.change(append([]simUsageRecord(nil), good...)))
			g.Expect(v.problems).To(HaveLen(tc.problems), "%v", v.problems)
			if tc.problems == 0 {
				g.Expect(v.paid).To(Equal(map[string]koogallery.UsageUnits{"i-soon": 15_000, "i-late": 20_000}))
				g.Expect(v.splits).To(HaveLen(1))
				g.Expect(v.splits[0].packages).To(Equal([]string{"i-soon", "i-late"}), "in paying order")
				g.Expect(v.byWindow).To(HaveLen(4))
			}
		})
	}
}
