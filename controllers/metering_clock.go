package controllers

import (
	"time"

	"k8s.io/utils/clock"
)

// shiftedClock reads another clock moved by a fixed offset. It is the
// metering controller's clock under --metering-clock-offset, a test-only
// flag: the chaos suite runs the clock a few minutes short of an hour so
// that a metering window closes within its run (docs/reliability.md).
type shiftedClock struct {
	base   clock.PassiveClock
	offset time.Duration
}

// Now is the base clock's time plus the offset.
func (c shiftedClock) Now() time.Time { return c.base.Now().Add(c.offset) }

// Since is the time elapsed since t on the shifted clock.
func (c shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// meteringClock is clk moved by offset, or clk itself when offset is 0.
func meteringClock(clk clock.PassiveClock, offset time.Duration) clock.PassiveClock {
	if offset == 0 {
		return clk
	}
	return shiftedClock{base: clk, offset: offset}
}
