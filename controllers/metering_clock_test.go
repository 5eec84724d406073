package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestMeteringClockIsMovedByTheOffsetOnly(t *testing.T) {
	g := NewWithT(t)
	base := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 30, 10, 17, 30, 0, time.UTC))
	g.Expect(meteringClock(base, 0)).To(BeIdenticalTo(base))
	shifted := meteringClock(base, 42*time.Minute)
	g.Expect(shifted.Now()).To(Equal(time.Date(2026, 11, 30, 10, 59, 30, 0, time.UTC)))
	g.Expect(shifted.Since(time.Date(2026, 11, 30, 10, 59, 0, 0, time.UTC))).To(Equal(30 * time.Second))
}

func TestPushOffsetStaysWithinTheSpread(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spread time.Duration
		within time.Duration
	}{
		{"default", 0, DefaultPushSpread},
		{"shortened for tests", 20 * time.Second, 20 * time.Second},
		{"under a second", 500 * time.Millisecond, time.Nanosecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := &MeteringReconciler{Options: MeteringOptions{PushSpread: tc.spread}}
			for _, name := range []string{"a", "tenant-0001", "tenant-0002", "7f141bf1aec84859"} {
				offset := r.pushOffset(name)
				g.Expect(offset).To(BeNumerically(">=", 0))
				g.Expect(offset).To(BeNumerically("<", tc.within), name)
				g.Expect(offset).To(Equal(r.pushOffset(name)), "a tenant's place is fixed")
			}
		})
	}
}
