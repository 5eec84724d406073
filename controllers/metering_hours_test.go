package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

var h0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(h0.Add(d)); return &t }

func TestClosedWindowsTileTimeWithoutOverlapOrGap(t *testing.T) {
	tests := []struct {
		name  string
		m     saasv1alpha1.TenantMetering
		now   time.Duration
		limit int
		want  [][2]time.Duration
	}{
		{name: "nothing closed yet", m: saasv1alpha1.TenantMetering{Since: *at(20 * time.Minute)}, now: 59 * time.Minute, limit: 10},
		{name: "a partial first hour, then whole hours", m: saasv1alpha1.TenantMetering{Since: *at(20 * time.Minute)}, now: 3*time.Hour + time.Second, limit: 10,
			want: [][2]time.Duration{{20 * time.Minute, time.Hour}, {time.Hour, 2 * time.Hour}, {2 * time.Hour, 3 * time.Hour}}},
		{name: "from the cursor, at most limit", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour)}, now: 9 * time.Hour, limit: 2,
			want: [][2]time.Duration{{time.Hour, 2 * time.Hour}, {2 * time.Hour, 3 * time.Hour}}},
		{name: "release closes the last partial hour at once", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour), EndTime: at(90 * time.Minute)}, now: 90 * time.Minute, limit: 10,
			want: [][2]time.Duration{{time.Hour, 90 * time.Minute}}},
		{name: "nothing after the end", m: saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(90 * time.Minute), EndTime: at(90 * time.Minute)}, now: 9 * time.Hour, limit: 10},
		{name: "released within the first hour", m: saasv1alpha1.TenantMetering{Since: *at(10 * time.Minute), EndTime: at(25 * time.Minute)}, now: 30 * time.Minute, limit: 10,
			want: [][2]time.Duration{{10 * time.Minute, 25 * time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var got [][2]time.Duration
			for _, w := range closedWindows(&tt.m, h0.Add(tt.now), tt.limit) {
				got = append(got, [2]time.Duration{w.start.Sub(h0), w.end.Sub(h0)})
			}
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func TestBuiltinUsageIntegratesSegments(t *testing.T) {
	segments := []saasv1alpha1.UsageSegment{
		{Start: *at(0), State: saasv1alpha1.StateActive, Replicas: 2, CPUMillis: 250, MemoryBytes: gib / 2, StorageBytes: 10 * gib},
		{Start: *at(30 * time.Minute), State: saasv1alpha1.StateFrozen, StorageBytes: 10 * gib},
		{Start: *at(45 * time.Minute), State: saasv1alpha1.StateReleased},
	}
	w := usageWindow{start: h0, end: h0.Add(time.Hour)}
	tests := []struct {
		src  saasv1alpha1.MeterSource
		want float64
	}{
		{saasv1alpha1.MeterTenantHours, 0.5},
		{saasv1alpha1.MeterReplicaHours, 1},
		{saasv1alpha1.MeterCPUCoreHours, 0.25},
		{saasv1alpha1.MeterMemoryGiBHours, 0.5},
		{saasv1alpha1.MeterStorageGiBHours, 7.5},
		{saasv1alpha1.MeterPrometheus, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.src), func(t *testing.T) {
			NewWithT(t).Expect(builtinUsage(tt.src, segments, w)).To(BeNumerically("~", tt.want, 1e-12))
		})
	}
}

func TestRoundUsage(t *testing.T) {
	tests := []struct {
		v        float64
		decimals int32
		mode     saasv1alpha1.MeterRounding
		want     string
	}{
		{2.0 / 3, 4, saasv1alpha1.RoundHalfUp, "0.6667"},
		{2.0 / 3, 4, saasv1alpha1.RoundDown, "0.6666"},
		{0.1 + 0.2, 1, saasv1alpha1.RoundUp, "0.3"},
		{0.00004, 4, saasv1alpha1.RoundHalfUp, "0"},
		{0.00004, 4, saasv1alpha1.RoundUp, "0.0001"},
		{1.5, 0, saasv1alpha1.RoundHalfUp, "2"},
		{-3, 4, saasv1alpha1.RoundUp, "0"},
		{99, 4, saasv1alpha1.RoundHalfUp, "99"},
	}
	for _, tt := range tests {
		NewWithT(t).Expect(roundUsage(tt.v, tt.decimals, tt.mode).String()).To(Equal(tt.want), "%v %d %s", tt.v, tt.decimals, tt.mode)
	}
}

func TestMeteringSNIsDeterministicAndDistinct(t *testing.T) {
	g := NewWithT(t)
	a := meteringSN("i-1", "duration", h0)
	g.Expect(meteringSN("i-1", "duration", h0)).To(Equal(a))
	g.Expect(len(a)).To(BeNumerically("<=", 64))
	g.Expect(meteringSN("i-1", "duration", h0.Add(time.Hour))).NotTo(Equal(a))
	g.Expect(meteringSN("i-1", "cpu", h0)).NotTo(Equal(a))
	g.Expect(meteringSN("i-2", "duration", h0)).NotTo(Equal(a))
}

func TestOldestUnpushedAge(t *testing.T) {
	g := NewWithT(t)
	tenant := func(m *saasv1alpha1.TenantMetering) saasv1alpha1.SaaSTenant {
		return saasv1alpha1.SaaSTenant{Status: saasv1alpha1.SaaSTenantStatus{Metering: m}}
	}
	tenants := []saasv1alpha1.SaaSTenant{
		tenant(nil),
		tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(2 * time.Hour)}),                                   // up to date
		tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(time.Hour)}),                                       // 1h-2h unpushed
		tenant(&saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(30 * time.Minute), EndTime: at(30 * time.Minute)}), // done
	}
	g.Expect(oldestUnpushedAge(tenants, h0.Add(2*time.Hour+10*time.Minute))).To(Equal(10 * time.Minute))
	g.Expect(oldestUnpushedAge(tenants[:2], h0.Add(2*time.Hour+10*time.Minute))).To(BeZero())
}
