package main

import (
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/procstat"
)

// cpuSnapshot is the CPU seconds each process a way of provisioning is
// charged has used so far, by name: kube-apiserver and etcd (the
// bottleneck on 2 cores: what kooper's requests cost beyond the direct
// creates'), and kooper (its two processes; left out while they are
// stopped, as is any process not found).
type cpuSnapshot map[string]float64

// cpuNow reads the CPU time of the control plane and of kooper's
// processes from /proc. CPU time, unlike wall time, hardly moves with
// what else the shared machine runs, so it compares ways across runs.
func (b *bench) cpuNow() cpuSnapshot {
	snap := cpuSnapshot{}
	apiServer, etcd, err := b.stack.Cluster.ControlPlanePIDs()
	if err != nil {
		logf("No CPU figures: %v", err)
		return snap
	}
	add := func(name string, pid int) {
		if pid == 0 {
			return
		}
		if s, err := procstat.CPUSeconds(pid); err == nil {
			snap[name] += s
		}
	}
	add("kube-apiserver", apiServer)
	add("etcd", etcd)
	add("kooper", b.stack.OperatorPID(localstack.Controllers))
	add("kooper", b.stack.OperatorPID(localstack.Receiver))
	return snap
}

// perTenant is the CPU milliseconds each process used from before to
// after, per tenant of n; a process missing from either is left out.
func perTenant(before, after cpuSnapshot, n int) map[string]float64 {
	if n <= 0 {
		return nil
	}
	out := map[string]float64{}
	for name, a := range after {
		if b, ok := before[name]; ok {
			out[name] = (a - b) * 1000 / float64(n)
		}
	}
	return out
}
