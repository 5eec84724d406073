// Package memlimit gives the Go runtime a soft memory limit below the
// container's, so that a large tenant count makes the garbage collector
// work harder instead of getting the operator OOM-killed.
package memlimit

import (
	"errors"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the container's memory limit the Go heap may use; the rest
// covers stacks, runtime metadata and memory not yet returned to the OS.
const Fraction = 0.9

// cgroupFiles hold the container's memory limit under cgroup v2 and v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// FromCgroup sets the runtime's memory limit to Fraction of the container's,
// unless GOMEMLIMIT is set or there is no limit. It returns the limit it set,
// or 0.
func FromCgroup() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit, err := containerLimit(cgroupFiles)
	if err != nil || limit <= 0 {
		return 0
	}
	soft := int64(float64(limit) * Fraction)
	debug.SetMemoryLimit(soft)
	return soft
}

// containerLimit reads the first readable limit file. "max", or the huge
// value cgroup v1 reports for "unlimited", mean no limit (0).
func containerLimit(files []string) (int64, error) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		value := strings.TrimSpace(string(data))
		if value == "max" {
			return 0, nil
		}
		limit, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return 0, err
		}
		if limit >= 1<<62 {
			return 0, nil
		}
		return limit, nil
	}
	return 0, errors.New("no cgroup memory limit file")
}
