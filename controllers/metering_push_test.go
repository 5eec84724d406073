package controllers

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// TestWithinOnePushKeepsTheWindowsThatFit is withinOnePush's table: records
// per window as the packages' split makes them, held records not counted.
func TestWithinOnePushKeepsTheWindowsThatFit(t *testing.T) {
	build := func(perWindow []int, heldIn int) ([]metering.Window, []pendingRecord) {
		start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		var windows []metering.Window
		var pending []pendingRecord
		for i, n := range perWindow {
			windows = append(windows, metering.Window{Start: start.Add(time.Duration(i) * time.Hour), End: start.Add(time.Duration(i+1) * time.Hour)})
			for range n {
				pending = append(pending, pendingRecord{window: i})
			}
			if i == heldIn {
				pending = append(pending, pendingRecord{window: i, uncovered: saasv1alpha1.UncoveredDrop})
			}
		}
		return windows, pending
	}
	repeat := func(n, records int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = records
		}
		return out
	}
	tests := []struct {
		name        string
		limit       int
		perWindow   []int
		heldIn      int
		wantWindows int
		wantRecords int
	}{
		{"1,000 records: all", 1000, repeat(500, 2), -1, 500, 1000},
		{"1,001 (a split hour): the last window waits", 1000, append([]int{2, 3}, repeat(498, 2)...), -1, 499, 999},
		{"a held record is not sent and does not count", 1000, repeat(500, 2), 7, 500, 1001},
		{"the first window alone over 1,000 still goes", 1000, []int{1001, 1}, -1, 1, 1001},
		{"none", 1000, nil, -1, 0, 0},
		{"the default: 120 records of 2 meters, 100 go first", koogallery.DefaultUsagePushMaxRecords, repeat(60, 2), -1, 50, 100},
		{"the default: the 20 left go whole", koogallery.DefaultUsagePushMaxRecords, repeat(10, 2), -1, 10, 20},
		{"the default: 101 (a split hour), the last window waits", koogallery.DefaultUsagePushMaxRecords, append([]int{3}, repeat(49, 2)...), -1, 49, 99},
		{"configured 40", 40, repeat(60, 2), -1, 20, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			windows, pending := build(tt.perWindow, tt.heldIn)
			kept, records := withinOnePush(windows, pending, tt.limit)
			g.Expect(kept).To(HaveLen(tt.wantWindows))
			g.Expect(records).To(HaveLen(tt.wantRecords))
			sent := 0
			for _, rec := range records {
				g.Expect(rec.window).To(BeNumerically("<", len(kept)))
				if sendable(rec) {
					sent++
				}
			}
			if len(kept) > 1 {
				g.Expect(sent).To(BeNumerically("<=", tt.limit))
			}
		})
	}
}

// TestAnInFlightPushIsRebuiltAsItWasBuilt: the records rebuilt from
// status.metering.inFlight, after a round trip through JSON as the API
// server stores it, are the very records first built: same metering_sn,
// value, package and times; and what stays in flight after the first
// windows are done is the rest, renumbered.
func TestAnInFlightPushIsRebuiltAsItWasBuilt(t *testing.T) {
	g := NewWithT(t)
	tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-inflight"}}
	start := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	windows := []metering.Window{
		{Start: start, End: start.Add(time.Hour)},
		{Start: start.Add(time.Hour), End: start.Add(2 * time.Hour)},
		{Start: start.Add(2 * time.Hour), End: start.Add(2*time.Hour + 17*time.Minute)},
	}
	built := []pendingRecord{
		newPendingRecord(tenant, "cpu", windows[0], 0, 42_000, "", ""),
		newPendingRecord(tenant, "duration", windows[1], 1, 3_000, "pkg-a", ""),
		newPendingRecord(tenant, "duration", windows[1], 1, 7_000, "pkg-b", ""),
		newPendingRecord(tenant, "duration", windows[2], 2, 2_833, "", saasv1alpha1.UncoveredDrop),
		newPendingRecord(tenant, "duration", windows[2], 2, 1, "", saasv1alpha1.UncoveredPush),
	}
	stored := &saasv1alpha1.InFlightPush{}
	raw, err := json.Marshal(inFlightOf(windows, built))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Unmarshal(raw, stored)).To(Succeed())

	gotWindows, got, err := pendingOf(tenant, stored)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gotWindows).To(HaveLen(3))
	for i := range windows {
		g.Expect(gotWindows[i].Start).To(BeTemporally("==", windows[i].Start))
		g.Expect(gotWindows[i].End).To(BeTemporally("==", windows[i].End))
	}
	g.Expect(got).To(Equal(built))

	rest := inFlightAfter(windows, built, 2)
	g.Expect(rest.Windows).To(HaveLen(1))
	g.Expect(rest.Records).To(HaveLen(2))
	g.Expect(rest.Records[0].Window).To(BeZero())
	g.Expect(inFlightAfter(windows, built, 3)).To(BeNil(), "nothing stays once every window is done")
	g.Expect(inFlightAfter(windows, built[:4], 2)).To(BeNil(), "nor when the rest is only held back")

	stored.Records[0].Window = 3
	_, _, err = pendingOf(tenant, stored)
	g.Expect(err).To(MatchError(ContainSubstring("names window 3 of 3")))
}
