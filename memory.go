package main

import (
	"math"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryLimitRatio is the share of the container's memory limit that the Go
// runtime gets as its soft limit (GOMEMLIMIT); the rest covers goroutine
// stacks, runtime metadata and memory not yet returned to the OS.
const memoryLimitRatio = 0.9

// setMemoryLimit gives the Go runtime a soft memory limit of
// memoryLimitRatio of what provider reports, so that a large tenant count
// makes the garbage collector work harder instead of getting kooper
// OOM-killed. main passes memlimit.FromCgroup: the smallest limit on the
// process's own cgroup and its parents, v1 or v2, found through
// /proc/self/cgroup and /proc/self/mountinfo. It returns the limit it set,
// in bytes, or 0 when it set none:
//
//   - GOMEMLIMIT in the environment, even empty, wins: the runtime has
//     already read it, and the provider is not asked.
//   - AUTOMEMLIMIT=off sets nothing; AUTOMEMLIMIT=<ratio in (0,1]> replaces
//     memoryLimitRatio (automemlimit's own variable).
//   - No limit (cgroup v2 "max", v1's near-2^63 value) leaves the runtime
//     unlimited, as it starts.
//
// The error is the provider's (no cgroup, not Linux) or an AUTOMEMLIMIT that
// is no ratio; the runtime's limit is then left as it was.
func setMemoryLimit(provider memlimit.Provider) (int64, error) {
	before := debug.SetMemoryLimit(-1)
	limit, err := memlimit.Set(memlimit.WithRatio(memoryLimitRatio), memlimit.WithProvider(provider))
	if err != nil || limit == before || limit == math.MaxInt64 {
		return 0, err
	}
	return limit, nil
}
