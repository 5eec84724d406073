package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

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
				pending = append(pending, pendingRecord{window: i, held: true})
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
		perWindow   []int
		heldIn      int
		wantWindows int
		wantRecords int
	}{
		{"1,000 records: all", repeat(500, 2), -1, 500, 1000},
		{"1,001 (a split hour): the last window waits", append([]int{2, 3}, repeat(498, 2)...), -1, 499, 999},
		{"a held record is not sent and does not count", repeat(500, 2), 7, 500, 1001},
		{"the first window alone over 1,000 still goes", []int{1001, 1}, -1, 1, 1001},
		{"none", nil, -1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			windows, pending := build(tt.perWindow, tt.heldIn)
			kept, records := withinOnePush(windows, pending)
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
				g.Expect(sent).To(BeNumerically("<=", koogallery.MaxUsageRecords))
			}
		})
	}
}
