package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kooper-io/kooper/internal/localstack"
)

// Where the provisioning phases (throughput, chart tenants) run each
// process (--cpus).
//
// shared: every process on every CPU, the machine's scheduler deciding.
// kooper's two processes then take their CPU from the same two cores as
// kube-apiserver, so a millisecond kooper spends is a millisecond the API
// server does not have. On CCE, as on any managed Kubernetes, that is not
// so: the control plane has nodes of its own, and kooper's pods run on
// the worker nodes.
//
// split: that topology on one machine. The control plane (kube-apiserver,
// etcd, kube-controller-manager, kube-scheduler) runs on the first half of
// the CPUs; the workers' side on the rest: kooper's processes, kwok (the
// nodes' kubelets), and the bench itself with the helm installs it starts
// (the marketplace's callbacks and the baselines' clients). Every way of a
// phase runs so, so each ratio is of the control plane's capacity alone:
// what each way costs the API server, its watchers and etcd.
const (
	cpusShared = "shared"
	cpusSplit  = "split"
)

// splitCPUSet divides all into the control plane's CPUs and the
// workers': the first half (at least one) and the rest. It fails on fewer
// than two CPUs.
func splitCPUSet(all unix.CPUSet) (controlPlane, workers unix.CPUSet, err error) {
	cpus := cpusOf(all)
	if len(cpus) < 2 {
		return controlPlane, workers, fmt.Errorf("--cpus=%s needs two CPUs, the bench may use %d", cpusSplit, len(cpus))
	}
	half := len(cpus) / 2
	for _, cpu := range cpus[:half] {
		controlPlane.Set(cpu)
	}
	for _, cpu := range cpus[half:] {
		workers.Set(cpu)
	}
	return controlPlane, workers, nil
}

// cpuLayout is how a provisioning phase ran its processes: split between
// the control plane's CPUs and the workers', or shared; text says where
// each ran, for the report.
type cpuLayout struct {
	split bool
	text  string
}

// placeCPUs runs the phase about to start on the CPUs --cpus asks for,
// and returns what puts every process back on every CPU, and how the
// phase runs (for the report). A split that fails is logged and the phase
// runs shared.
func (b *bench) placeCPUs() (restore func(), layout cpuLayout) {
	if b.cfg.cpus != cpusSplit {
		return func() {}, cpuLayout{text: cpusShared + ": every process on every CPU"}
	}
	restore, text, err := b.splitCPUs()
	if err != nil {
		logf("The CPUs are not split, every process runs on every CPU: %v", err)
		return func() {}, cpuLayout{text: fmt.Sprintf("%s: every process on every CPU (a split was asked for and failed: %v)", cpusShared, err)}
	}
	return restore, cpuLayout{split: true, text: text}
}

// splitCPUs puts the control plane on its CPUs and the workers' side on
// theirs (cpusSplit), and returns what puts every one of them back on
// every CPU. kooper's processes restarted meanwhile (the record ceiling
// stops the controllers) inherit the bench's CPUs, the workers'.
func (b *bench) splitCPUs() (restore func(), layout string, err error) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return nil, "", fmt.Errorf("failed to read the bench's CPUs: %w", err)
	}
	controlPlane, workers, err := splitCPUSet(all)
	if err != nil {
		return nil, "", err
	}
	apiServer, etcd, err := b.stack.Cluster.ControlPlanePIDs()
	if err != nil {
		return nil, "", err
	}
	controlPlanePIDs := []int{apiServer, etcd,
		b.stack.Cluster.ComponentPID("kube-controller-manager"), b.stack.Cluster.ComponentPID("kube-scheduler")}
	// kooper's processes are read again at the restore: the record
	// ceiling restarts the controllers.
	workerPIDs := func() []int {
		return []int{os.Getpid(), b.stack.Cluster.ComponentPID("kwok"),
			b.stack.OperatorPID(localstack.Controllers), b.stack.OperatorPID(localstack.Receiver)}
	}
	restore = func() {
		if err := setCPUs(append(controlPlanePIDs, workerPIDs()...), all); err != nil {
			logf("Not every process is back on every CPU: %v", err)
		}
	}
	if err := errors.Join(setCPUs(controlPlanePIDs, controlPlane), setCPUs(workerPIDs(), workers)); err != nil {
		restore()
		return nil, "", err
	}
	layout = fmt.Sprintf("%s: kube-apiserver, etcd, kube-controller-manager and kube-scheduler on CPU %s; kooper's processes, kwok and the bench (with what it starts) on CPU %s",
		cpusSplit, cpuList(controlPlane), cpuList(workers))
	logf("CPUs %s", layout)
	return restore, layout, nil
}

// setCPUs sets the CPUs of every thread of each process of pids.
func setCPUs(pids []int, set unix.CPUSet) error {
	for _, pid := range pids {
		if err := setProcessCPUs(pid, set); err != nil {
			return err
		}
	}
	return nil
}

// setProcessCPUs sets the CPUs of every thread of process pid (0 and
// processes not running are skipped). A thread a process starts meanwhile
// takes its starter's CPUs, which may be the old ones, so it goes over the
// threads until a pass finds every one already set.
func setProcessCPUs(pid int, set unix.CPUSet) error {
	if pid == 0 {
		return nil
	}
	for range 5 {
		tids, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		if err != nil || len(tids) == 0 {
			return nil // the process ended
		}
		changed := false
		for _, path := range tids {
			tid, err := strconv.Atoi(filepath.Base(path))
			if err != nil {
				continue
			}
			var now unix.CPUSet
			if unix.SchedGetaffinity(tid, &now) != nil || now == set {
				continue // ended, or already set
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("failed to set the CPUs of process %d's thread %d: %w", pid, tid, err)
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("process %d kept starting threads on other CPUs", pid)
}

// cpusOf is the CPU numbers set holds, lowest first (they may have gaps).
func cpusOf(set unix.CPUSet) []int {
	var cpus []int
	for cpu := range len(set) * 64 {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}

// cpuList is set as a list of CPU numbers, "0" or "2,3".
func cpuList(set unix.CPUSet) string {
	var numbers []string
	for _, cpu := range cpusOf(set) {
		numbers = append(numbers, strconv.Itoa(cpu))
	}
	return strings.Join(numbers, ",")
}
