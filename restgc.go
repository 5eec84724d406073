package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/go-logr/logr"
)

// restingGC lowers the garbage collector's target (GOGC) while the process
// is at rest, and puts it back as soon as work comes.
//
// Why: with GOGC's default of 100 the runtime lets the heap grow to twice
// what is live before it collects (or up to GOMEMLIMIT, whichever is less),
// and keeps those pages. At rest, with 10,000 tenants cached, that is a
// resident set of about the memory limit although half of it is garbage
// (docs/benchmarks.md, issue 26). At rest the process allocates little, so
// collecting more often costs next to nothing; while it works (a restart's
// lists, a wave of purchases) a low GOGC would cost many collections, so
// the busy target stands then: --gc-percent's (setBusyGCPercent), or
// GOGC from the environment.
//
// The process is at rest once it allocated less than RestBytesPerSecond on
// average over the last QuietFor; it is busy again in the first Tick in
// which it allocates at BusyBytesPerSecond or more. Entering rest it
// collects once and returns the freed memory to the OS (debug.FreeOSMemory).
// It is a manager Runnable that needs no leader election: every process
// runs it, the receiver's too.
type restingGC struct {
	// RestGCPercent is GOGC at rest; 0 or less turns the tuning off.
	RestGCPercent int
	// QuietFor is how long the allocation rate must stay under
	// RestBytesPerSecond before the process counts as at rest.
	QuietFor time.Duration
	// RestBytesPerSecond and BusyBytesPerSecond are allocation rates in
	// bytes a second; between them the state does not change, so a
	// metrics scrape at rest does not end the rest.
	RestBytesPerSecond, BusyBytesPerSecond float64
	// Tick is how often the allocation counter is read.
	Tick time.Duration
	Log  logr.Logger

	// For tests; nil uses the runtime's.
	allocatedBytes func() uint64 // cumulative bytes allocated on the heap
	gcPercent      func() int    // GOGC now; negative when the collector is off
	setGCPercent   func(int) int // debug.SetGCPercent
	freeOSMemory   func()        // debug.FreeOSMemory

	busyGCPercent int                // GOGC when busy: what it was at the start
	resting       bool               // GOGC is RestGCPercent
	recent        []allocationSample // over the last QuietFor, and the one before
}

// controllersGCPercent is GOGC while a process that runs the controllers
// works, unless --gc-percent or GOGC says otherwise. The controllers cache
// every tenant's objects, so their heap grows with the tenant count, and a
// restart's lists and reconciles allocate fast: at Go's 100 the heap grew to
// about twice what was live, and the resident set's peak after a restart
// over 10,000 tenants was 358-374 MiB; at 60 it was 264-283 MiB. The cost is
// collection CPU: about a second more over that restart, which took no
// longer alone (8.8-9.3 s against 9.4-9.7 s), but 3 s longer beside the
// receiver's own restart, as a helm upgrade does (13.6-15.0 s against
// 10.6-10.8 s). docs/benchmarks.md, issue 26.
const controllersGCPercent = 60

// busyGCPercent is the GOGC --gc-percent asks for: flag when positive, else
// controllersGCPercent for a process that runs the controllers, else 0
// (Go's own). The receiver alone keeps Go's: its heap is small, and its
// collections would delay the marketplace's callbacks.
func busyGCPercent(flag int, runsControllers bool) int {
	switch {
	case flag > 0:
		return flag
	case runsControllers:
		return controllersGCPercent
	default:
		return 0
	}
}

// setBusyGCPercent sets GOGC to percent, the target while the process works
// (restingGC lowers it at rest and puts back what it finds at its start).
// It sets nothing when percent is 0 or less, or when GOGC is in the
// environment (looked up with lookupEnv): the runtime has read that one, and
// an operator who set it meant it. It reports whether it set it.
func setBusyGCPercent(percent int, lookupEnv func(string) (string, bool)) bool {
	if _, inEnv := lookupEnv("GOGC"); inEnv || percent <= 0 {
		return false
	}
	debug.SetGCPercent(percent)
	return true
}

// defaultGCPercentAtRest is --gc-percent-at-rest's default: at rest the
// heap may grow by a fifth of what is live before a collection.
const defaultGCPercentAtRest = 20

// defaultRestingGC is the tuning main runs unless --gc-percent-at-rest=0.
func defaultRestingGC(restGCPercent int, log logr.Logger) *restingGC {
	return &restingGC{
		RestGCPercent:      restGCPercent,
		QuietFor:           10 * time.Second,
		RestBytesPerSecond: 1 << 20,
		BusyBytesPerSecond: 8 << 20,
		Tick:               time.Second,
		Log:                log,
	}
}

// NeedLeaderElection says the tuning runs in every process, leader or not.
func (g *restingGC) NeedLeaderElection() bool { return false }

// Start tunes until ctx is done, and leaves GOGC as it found it. It returns
// nil at once when the tuning is off or the collector is (GOGC=off): a
// GOGC that someone turned off is theirs.
func (g *restingGC) Start(ctx context.Context) error {
	g.useRuntimeDefaults()
	if !g.begin(time.Now(), g.gcPercent(), g.allocatedBytes()) {
		return nil
	}
	defer g.end()
	ticker := time.NewTicker(g.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-ticker.C:
			g.observe(now, g.allocatedBytes())
		}
	}
}

// begin starts the tuning at now from GOGC busy and the allocation
// counter; false when there is nothing to tune.
func (g *restingGC) begin(now time.Time, busy int, allocated uint64) bool {
	if g.RestGCPercent <= 0 || busy < 0 || g.RestGCPercent >= busy {
		return false
	}
	g.busyGCPercent, g.resting = busy, false
	g.recent = []allocationSample{{at: now, bytes: allocated}}
	return true
}

// observe takes the allocation counter read at now, and changes GOGC when
// the process came to rest or got busy.
func (g *restingGC) observe(now time.Time, allocated uint64) {
	g.recent = append(g.recent, allocationSample{at: now, bytes: allocated})
	// Keep the last sample at or before the window's start, and those after.
	for len(g.recent) > 2 && !g.recent[1].at.After(now.Add(-g.QuietFor)) {
		g.recent = g.recent[1:]
	}
	oldest, previous := g.recent[0], g.recent[len(g.recent)-2]
	switch {
	case g.resting && rate(previous, g.recent[len(g.recent)-1]) >= g.BusyBytesPerSecond:
		g.resting = false
		g.setGCPercent(g.busyGCPercent)
		g.Log.V(1).Info("Busy: garbage collector back to its target", "gcPercent", g.busyGCPercent)
	case !g.resting && now.Sub(oldest.at) >= g.QuietFor && rate(oldest, g.recent[len(g.recent)-1]) < g.RestBytesPerSecond:
		g.resting = true
		g.setGCPercent(g.RestGCPercent)
		g.freeOSMemory()
		g.Log.V(1).Info("At rest: garbage collector target lowered, free memory returned", "gcPercent", g.RestGCPercent)
	}
}

// end puts GOGC back as it was before begin.
func (g *restingGC) end() {
	if g.resting {
		g.resting = false
		g.setGCPercent(g.busyGCPercent)
	}
}

// allocationSample is the heap's allocation counter, in bytes, read at a
// time.
type allocationSample struct {
	at    time.Time
	bytes uint64
}

// rate is the allocation rate from a to b in bytes a second; 0 when no
// time passed.
func rate(a, b allocationSample) float64 {
	elapsed := b.at.Sub(a.at).Seconds()
	if elapsed <= 0 {
		return 0
	}
	return float64(b.bytes-a.bytes) / elapsed
}

func (g *restingGC) useRuntimeDefaults() {
	if g.allocatedBytes == nil {
		g.allocatedBytes = func() uint64 { return readUint64Metric("/gc/heap/allocs:bytes") }
	}
	if g.gcPercent == nil {
		g.gcPercent = func() int {
			// The metric reads -1 as a huge unsigned value when GOGC=off.
			v := readUint64Metric("/gc/gogc:percent")
			if v > 1<<31 {
				return -1
			}
			return int(v)
		}
	}
	if g.setGCPercent == nil {
		g.setGCPercent = debug.SetGCPercent
	}
	if g.freeOSMemory == nil {
		g.freeOSMemory = debug.FreeOSMemory
	}
}

// readUint64Metric reads one of the runtime's uint64 metrics; 0 when the
// runtime does not have it.
func readUint64Metric(name string) uint64 {
	sample := []metrics.Sample{{Name: name}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}
