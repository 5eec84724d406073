// Package procstat reads a Linux process's CPU time and memory from /proc,
// for the benchmarks (hack/bench, BenchmarkAPIServerCPU): what a process
// used, measured from outside it.
package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CPUSeconds is the user plus system CPU time pid has used, in seconds,
// from /proc/<pid>/stat. It fails when the process is gone or the file is
// not as proc(5) describes it.
func CPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseCPUSeconds(string(data))
}

func parseCPUSeconds(stat string) (float64, error) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its last ')' are fixed: utime and stime are the 12th
	// and 13th after it.
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("unexpected stat line %q", stat)
	}
	fields := strings.Fields(stat[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected stat line %q", stat)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected stat line %q", stat)
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return (utime + stime) / 100, nil
}

// StatusBytes is a field of /proc/<pid>/status given in kB, such as VmRSS
// or VmHWM, in bytes.
func StatusBytes(pid int, field string) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// FindPID returns the process ID of the running program whose executable's
// base name is name and whose command line has arg among its arguments
// (say "--secure-port=6443"), from /proc/<pid>/cmdline. It fails when no
// process matches.
func FindPID(name, arg string) (int, error) {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range cmdlines {
		data, err := os.ReadFile(path) //nolint:gosec // a /proc path from the glob above
		if err != nil {
			continue // gone since the glob
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if filepath.Base(args[0]) == name && slices.Contains(args[1:], arg) {
			return strconv.Atoi(filepath.Base(filepath.Dir(path)))
		}
	}
	return 0, fmt.Errorf("no %s process with argument %s under /proc", name, arg)
}
