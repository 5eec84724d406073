package main

import (
	"context"
	"runtime/debug"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
)

// recordingGC is a restingGC whose GOGC changes and memory returns are
// recorded instead of made.
type recordingGC struct {
	*restingGC
	set   []int // each SetGCPercent, in order
	freed int   // FreeOSMemory calls
}

func newRecordingGC() *recordingGC {
	r := &recordingGC{restingGC: defaultRestingGC(20, logr.Discard())}
	r.setGCPercent = func(p int) int { r.set = append(r.set, p); return 0 }
	r.freeOSMemory = func() { r.freed++ }
	return r
}

// run begins at t0 with GOGC 100, then observes one sample a second, each
// adding the given bytes to the counter.
func (r *recordingGC) run(t *testing.T, perSecond ...uint64) {
	t.Helper()
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	if !r.begin(t0, 100, 0) {
		t.Fatal("begin: nothing to tune")
	}
	var counter uint64
	for i, b := range perSecond {
		counter += b
		r.observe(t0.Add(time.Duration(i+1)*time.Second), counter)
	}
}

func repeat(n int, b uint64) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = b
	}
	return out
}

const mib = 1 << 20

func TestRestingGCLowersGOGCAfterTenQuietSecondsAndReturnsMemoryOnce(t *testing.T) {
	g := NewWithT(t)
	r := newRecordingGC()
	r.run(t, repeat(9, 100<<10)...) // 9 s at 100 KiB/s: not yet
	g.Expect(r.set).To(BeEmpty())
	r.observe(r.recent[len(r.recent)-1].at.Add(time.Second), r.recent[len(r.recent)-1].bytes+100<<10)
	g.Expect(r.set).To(Equal([]int{20}), "at rest after 10 s")
	g.Expect(r.freed).To(Equal(1))

	for i := range 30 { // staying at rest changes nothing
		last := r.recent[len(r.recent)-1]
		r.observe(last.at.Add(time.Second), last.bytes+uint64(i%2)*100<<10)
	}
	g.Expect(r.set).To(Equal([]int{20}))
	g.Expect(r.freed).To(Equal(1))
}

func TestRestingGCTable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		perSecond []uint64
		wantSet   []int
		wantFreed int
	}{
		{"busy throughout", repeat(60, 20*mib), nil, 0},
		{"an average over the window at the threshold is not rest", repeat(10, 1*mib), nil, 0},
		{"a burst inside the window delays rest", append(append(repeat(5, 0), 11*mib), repeat(9, 0)...), nil, 0},
		{"the window after the burst is quiet", append(append(repeat(5, 0), 11*mib), repeat(10, 0)...), []int{20}, 1},
		{"a scrape's 4 MiB at rest does not end it", append(append(repeat(10, 0), 4*mib), repeat(5, 0)...), []int{20}, 1},
		{"8 MiB in a second at rest ends it", append(repeat(10, 0), 8*mib), []int{20, 100}, 1},
		{"rest again after the work", append(append(repeat(10, 0), repeat(3, 50*mib)...), repeat(10, 0)...), []int{20, 100, 20}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecordingGC()
			r.run(t, tc.perSecond...)
			g := NewWithT(t)
			g.Expect(r.set).To(Equal(tc.wantSet))
			g.Expect(r.freed).To(Equal(tc.wantFreed))
		})
	}
}

// Missed ticks (a busy process reads late) count by the time that passed,
// not by the ticks: 12 MiB over 2 s is 6 MiB a second, under the busy rate.
func TestRestingGCRatesAreByTimeNotTicks(t *testing.T) {
	r := newRecordingGC()
	r.run(t, repeat(10, 0)...)
	last := r.recent[len(r.recent)-1]
	r.observe(last.at.Add(2*time.Second), last.bytes+12*mib)
	NewWithT(t).Expect(r.set).To(Equal([]int{20}), "still at rest")
}

func TestRestingGCTunesNothingItShouldNot(t *testing.T) {
	for _, tc := range []struct {
		name       string
		restGOGC   int
		runtimeNow int
	}{
		{"turned off", 0, 100},
		{"negative is off too", -1, 100},
		{"GOGC=off is the user's", 20, -1},
		{"GOGC already at or under the rest value", 20, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecordingGC()
			r.RestGCPercent = tc.restGOGC
			g := NewWithT(t)
			g.Expect(r.begin(time.Now(), tc.runtimeNow, 0)).To(BeFalse())
			r.gcPercent = func() int { return tc.runtimeNow }
			r.allocatedBytes = func() uint64 { return 0 }
			g.Expect(r.Start(context.Background())).To(Succeed(), "returns at once")
			g.Expect(r.set).To(BeEmpty())
		})
	}
}

// The runtime's own counters and GOGC, end to end: a process that
// allocates nothing comes to rest, and Start leaves GOGC as it found it.
func TestRestingGCWithTheRuntime(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	g := NewWithT(t)
	r := defaultRestingGC(20, logr.Discard())
	r.QuietFor, r.Tick = 50*time.Millisecond, 10*time.Millisecond
	r.RestBytesPerSecond, r.BusyBytesPerSecond = 1<<40, 1<<41 // whatever the test binary allocates
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Start(ctx) }()
	g.Eventually(func() uint64 { return readUint64Metric("/gc/gogc:percent") }).Should(BeNumerically("==", 20))
	cancel()
	g.Eventually(done).Should(Receive(BeNil()))
	g.Expect(readUint64Metric("/gc/gogc:percent")).To(BeNumerically("==", 100), "GOGC put back")
	g.Expect(readUint64Metric("/gc/heap/allocs:bytes")).To(BeNumerically(">", 0))
}

// --gc-percent sets GOGC while the process works unless the environment
// sets GOGC or the flag is 0, and restingGC then takes it as its busy
// target: what it lowers at rest and puts back when work comes.
func TestBusyGCPercentIsTheFlagsUnlessTheEnvironmentSetsGOGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	noEnv := func(string) (string, bool) { return "", false }
	gogcInEnv := func(name string) (string, bool) { return "150", name == "GOGC" }
	for _, tc := range []struct {
		name    string
		flag    int
		env     func(string) (string, bool)
		wantSet bool
		want    uint64
	}{
		{"the flag", 60, noEnv, true, 60},
		{"GOGC in the environment wins", 60, gogcInEnv, false, 100},
		{"0 keeps Go's", 0, noEnv, false, 100},
		{"negative keeps Go's", -1, noEnv, false, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			debug.SetGCPercent(100)
			g.Expect(setBusyGCPercent(tc.flag, tc.env)).To(Equal(tc.wantSet))
			g.Expect(readUint64Metric("/gc/gogc:percent")).To(Equal(tc.want))
		})
	}

	g := NewWithT(t)
	debug.SetGCPercent(100)
	setBusyGCPercent(60, noEnv)
	r := defaultRestingGC(20, logr.Discard())
	r.useRuntimeDefaults()
	g.Expect(r.begin(time.Now(), r.gcPercent(), 0)).To(BeTrue())
	g.Expect(r.busyGCPercent).To(Equal(60), "restingGC puts back the flag's target when work comes")
}

func TestBusyGCPercentDefaultsByComponent(t *testing.T) {
	for _, tc := range []struct {
		name            string
		flag            int
		runsControllers bool
		want            int
	}{
		{"the controllers' default", 0, true, controllersGCPercent},
		{"a receiver alone keeps Go's", 0, false, 0},
		{"the flag, with the controllers", 150, true, 150},
		{"the flag, a receiver alone", 80, false, 80},
		{"negative is the default", -5, true, controllersGCPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := busyGCPercent(tc.flag, tc.runsControllers); got != tc.want {
				t.Errorf("busyGCPercent(%d, %v) = %d, want %d", tc.flag, tc.runsControllers, got, tc.want)
			}
		})
	}
}
