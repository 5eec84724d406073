package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/procstat"
)

// idleWindow is how long the processes' CPU is sampled before each way,
// at rest, to take out of the way's charge what they use doing nothing for
// that long (leases, node heartbeats, resyncs): a slower way would
// otherwise be charged more of it per tenant.
const idleWindow = 5 * time.Second

// cpuSnapshot is the CPU seconds each process a way of provisioning is
// charged has used so far, by name: kube-apiserver and etcd (the
// bottleneck on 2 cores: what kooper's requests cost beyond the direct
// creates'), kooper (its two processes; left out while they are
// stopped, as is any process not found) and, under clusterControllers,
// the cluster's own: what they use shares the same cores.
type cpuSnapshot map[string]float64

// cpuNow reads the CPU time of the control plane and of kooper's
// processes from /proc. CPU time moves less than wall time with what
// else the shared machine runs, but it moves: a neighbour's load slows the
// same instructions, by up to a third between the ways of one run here
// (docs/benchmarks.md, 2026-12-05), and the kernel shows no steal time.
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
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		add(clusterControllers, b.stack.Cluster.ComponentPID(name))
	}
	return snap
}

// clusterControllers names, in a cpuSnapshot, kube-controller-manager,
// kube-scheduler and kwok together. Their periodic work over every tenant
// namespace (such as the resource quota controller's full resync, every 5
// minutes) lands in whichever way runs, as kube-apiserver's does; the
// column shows how much, not which job.
const clusterControllers = "cluster controllers"

// cpuCharge measures what a way of provisioning costs each process.
type cpuCharge struct {
	idle   cpuSnapshot // CPU seconds per second at rest
	before cpuSnapshot
	start  time.Time
	// idleRequests are kooper's API requests per second at rest over the
	// same window, by "verb resource"; nil when a scrape failed.
	idleRequests map[string]float64
}

// restCores is the CPU, in cores, under which each of the stack's
// processes (kube-apiserver, etcd, kooper's two together, the cluster's
// controllers together) counts as at rest; restTimeout caps the wait.
const (
	restCores   = 0.3
	restTimeout = 30 * time.Second
)

// waitAtRest waits until every process of the stack has used under
// restCores in each of two one-second windows running, or restTimeout has
// passed, and logs how long it waited and what each used. A way leaves a
// tail when it ends (kube-controller-manager's EndpointSlices and
// ReplicaSet status, kwok's pod status, kooper's last reconciles and
// Events): the next way's sample at rest would otherwise take that tail
// for rest and charge the next way too little, while the tail slows it.
// Waiting for kube-apiserver alone left the others unwatched: in run O the
// cluster's controllers were charged -47.8 ms a tenant for one way, having
// used more in its sample at rest than while it ran (docs/benchmarks.md,
// 2026-12-05).
func (b *bench) waitAtRest(ctx context.Context) {
	start := time.Now()
	quiet, cores := 0, cpuSnapshot{}
	last, lastAt := b.cpuNow(), time.Now()
	err := wait.PollUntilContextTimeout(ctx, time.Second, restTimeout, false, func(context.Context) (bool, error) {
		now, nowAt := b.cpuNow(), time.Now()
		cores, last, lastAt = now.since(last, nowAt.Sub(lastAt)), now, nowAt
		if _, busiest := cores.busiest(); busiest < restCores {
			quiet++
		} else {
			quiet = 0
		}
		return quiet == 2, nil
	})
	if err != nil {
		name, busiest := cores.busiest()
		logf("Not at rest after %s (%s %.2f cores in the last second; %s); starting anyway", restTimeout, name, busiest, cores)
		return
	}
	logf("At rest after %s (%s)", time.Since(start).Round(time.Second), cores)
}

// since is the cores each process of s used since earlier, elapsed ago;
// a process missing from either is left out.
func (s cpuSnapshot) since(earlier cpuSnapshot, elapsed time.Duration) cpuSnapshot {
	out := cpuSnapshot{}
	for name, seconds := range s {
		if was, ok := earlier[name]; ok {
			out[name] = (seconds - was) / elapsed.Seconds()
		}
	}
	return out
}

// busiest is the process of s with the most CPU, and that CPU.
func (s cpuSnapshot) busiest() (name string, most float64) {
	for _, n := range slices.Sorted(maps.Keys(s)) {
		if s[n] > most || name == "" {
			name, most = n, s[n]
		}
	}
	return name, most
}

// String lists s's processes by name with their figures as cores.
func (s cpuSnapshot) String() string {
	parts := make([]string, 0, len(s))
	for _, n := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, s[n]))
	}
	return strings.Join(parts, ", ") + " cores"
}

// startCharge waits for the machine to be at rest, samples the processes
// at rest for idleWindow, then starts the charge.
func (b *bench) startCharge(ctx context.Context) cpuCharge {
	b.collectAPIServerGarbage(ctx)
	b.waitAtRest(ctx)
	rest, restAt := b.cpuNow(), time.Now()
	requestsAtRest, requestsErr := b.apiRequests(ctx)
	time.Sleep(idleWindow) //nolint:forbidigo // a sampling window, not a wait for a condition
	now := b.cpuNow()
	charge := cpuCharge{idle: now.since(rest, time.Since(restAt)), before: now, start: time.Now()}
	if requestsAfter, err := b.apiRequests(ctx); err == nil && requestsErr == nil {
		charge.idleRequests = map[string]float64{}
		for kind, n := range requestsAfter {
			charge.idleRequests[kind] = (n - requestsAtRest[kind]) / idleWindow.Seconds()
		}
	}
	return charge
}

// perTenant is the CPU milliseconds per tenant of n each process used
// from the start of c to after, above what it uses at rest for as long; a
// process missing from either end is left out.
func (c cpuCharge) perTenant(after cpuSnapshot, n int) map[string]float64 {
	if n <= 0 {
		return nil
	}
	elapsed := time.Since(c.start).Seconds()
	out := map[string]float64{}
	for name, a := range after {
		if b, ok := c.before[name]; ok {
			out[name] = (a - b - c.idle[name]*elapsed) * 1000 / float64(n)
		}
	}
	return out
}
