package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// netnsFile records the network namespace a node runs in (as
// /proc/self/ns/net names it), beside the cluster's directory: once a killed
// lane's namespace has lost its name (hack/e2e-node/netns.sh deletes it when
// the lane ends), its leftover processes still hold it, and this is how they
// are found.
func (c *Cluster) netnsFile() string { return c.dir + ".netns" }

// saveNetns records the node's network namespace.
func (c *Cluster) saveNetns() error {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	return os.WriteFile(c.netnsFile(), []byte(ns+"\n"), 0o600)
}

// killNetns kills every process in the network namespace file records,
// unless it is the machine's or this process's own, so that the namespace
// goes with them, and removes the record. It returns how many it killed.
func killNetns(file string) (int, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	ns := strings.TrimSpace(string(data))
	if !strings.HasPrefix(ns, "net:[") {
		return 0, fmt.Errorf("%s: not a network namespace: %q", file, ns)
	}
	for _, own := range []string{"/proc/1/ns/net", "/proc/self/ns/net"} {
		if mine, err := os.Readlink(own); err == nil && mine == ns {
			// Never the machine's namespace, nor a running lane's own.
			return 0, os.Remove(file)
		}
	}
	killed := 0
	for range 20 {
		pids, err := netnsMembers(ns)
		if err != nil {
			return killed, err
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return killed, os.Remove(file)
}

// netnsMembers are the processes in network namespace ns.
func netnsMembers(ns string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); err == nil && link == ns {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// NodeDown removes what a killed real-node run (make e2e-node, or
// local-cluster --node up) left in dir or in dir/cluster (the stack's
// cluster): its processes (etcd, kube-apiserver, the node's components, the
// containerd shims and the pods', found by their flags, their cgroup
// kooper-node-* and the lane's network namespace, which goes with them even
// once its name is gone), its cgroups, its shims' sockets and log links,
// and the machine's kernel tunables its kubelet changed, put back from their
// record. It logs what it did.
func NodeDown(dir string, logf func(string, ...any)) error {
	var errs []error
	for _, d := range []string{dir, filepath.Join(dir, "cluster")} {
		c := &Cluster{dir: d, node: LaneNode(d, "")}
		// The shims first: their flags name their sockets.
		errs = append(errs, c.removeShimSockets())
		if n, err := KillLeftovers(d, append(append([]string{}, Binaries...), NodeBinaries...)...); err != nil || n > 0 {
			logf("Stopped %d leftover processes of %s", n, d)
			errs = append(errs, err)
		}
		errs = append(errs, killCgroup(c.node.CgroupRoot))
		if n, err := killNetns(c.netnsFile()); err != nil || n > 0 {
			logf("Stopped %d leftover processes in the network namespace of %s", n, d)
			errs = append(errs, err)
		}
		errs = append(errs, c.removeLogLinks())
		// Last: no kubelet is left to change them again.
		changed, err := RestoreKernelTunables(c.tunablesFile())
		if len(changed) > 0 {
			logf("Put back the kernel tunables a killed node changed: %s", strings.Join(changed, " "))
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
