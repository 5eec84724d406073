package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func cpuSetOf(cpus ...int) unix.CPUSet {
	var set unix.CPUSet
	for _, cpu := range cpus {
		set.Set(cpu)
	}
	return set
}

func TestTheControlPlaneGetsTheFirstHalfOfTheCPUs(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		all                   []int
		controlPlane, workers []int
	}{
		{"two", []int{0, 1}, []int{0}, []int{1}},
		{"three: the workers get the odd one", []int{0, 1, 2}, []int{0}, []int{1, 2}},
		{"four with a gap", []int{0, 2, 3, 5}, []int{0, 2}, []int{3, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			controlPlane, workers, err := splitCPUSet(cpuSetOf(tc.all...))
			if err != nil {
				t.Fatal(err)
			}
			if got := cpusOf(controlPlane); !slices.Equal(got, tc.controlPlane) {
				t.Errorf("control plane on %v, want %v", got, tc.controlPlane)
			}
			if got := cpusOf(workers); !slices.Equal(got, tc.workers) {
				t.Errorf("workers on %v, want %v", got, tc.workers)
			}
		})
	}
	if _, _, err := splitCPUSet(cpuSetOf(3)); err == nil || !strings.Contains(err.Error(), "needs two CPUs") {
		t.Errorf("one CPU split: %v, want an error saying two are needed", err)
	}
}

func TestEveryThreadOfAProcessIsMovedToItsCPUs(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Skip(err)
	}
	cpus := cpusOf(all)
	if len(cpus) < 2 {
		t.Skip("one CPU: nothing to move between")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	last := cpuSetOf(cpus[len(cpus)-1])
	if err := setProcessCPUs(cmd.Process.Pid, last); err != nil {
		t.Fatal(err)
	}
	var got unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &got); err != nil {
		t.Fatal(err)
	}
	if got != last {
		t.Errorf("the process runs on CPUs %s, want %s", cpuList(got), cpuList(last))
	}
	if err := setProcessCPUs(0, last); err != nil {
		t.Errorf("no process (0): %v, want nothing done", err)
	}
}

func TestTheReportSaysOnWhichCPUsAPhaseRan(t *testing.T) {
	var lines []string
	p := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	writeCPULayout(p, cpuLayout{split: true, text: "split: kube-apiserver … on CPU 0; kooper … on CPU 1"})
	writeCPULayout(p, cpuLayout{text: cpusShared + ": every process on every CPU"})
	writeCPULayout(p, cpuLayout{})
	if len(lines) != 2 {
		t.Fatalf("report lines %q, want one per phase placed, none for a phase not placed", lines)
	}
	if !strings.Contains(lines[0], "control plane's CPU alone") || !strings.Contains(lines[1], "taken from the API server's") {
		t.Errorf("report lines %q, want the split read as the control plane's capacity, the shared as kooper's CPU taken from the API server's", lines)
	}
}
