package localcluster

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// etcdExitTimeout bounds the wait for a killed etcd to be reaped.
const etcdExitTimeout = 10 * time.Second

// KillEtcd kills etcd with SIGKILL, as a crash or an OOM kill does (no
// graceful shutdown, nothing flushed beyond what it already wrote), and
// returns once the process is gone. kube-apiserver and every other
// component keep running; RestartEtcd starts etcd again on the same data.
func (c *Cluster) KillEtcd() error {
	if c.env == nil {
		return fmt.Errorf("the cluster is not running")
	}
	// envtest keeps its etcd process to itself; etcd's --data-dir names a
	// path under the cluster's directory, which finds it and no other etcd.
	pids, err := findProcesses(c.dir, "etcd")
	if err != nil {
		return err
	}
	if len(pids) != 1 {
		return fmt.Errorf("expected one etcd process under %s, found %d", c.dir, len(pids))
	}
	c.logf("Killing etcd (pid %d) with SIGKILL", pids[0])
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		return fmt.Errorf("failed to kill etcd: %w", err)
	}
	return waitGone(pids[0], etcdExitTimeout)
}

// RestartEtcd starts etcd again after KillEtcd, on the same data
// directory and client URL (the one kube-apiserver's --etcd-servers names;
// the local etcd serves plain HTTP on loopback, so it has no certificates),
// as the kubelet restarts a static pod, and returns once it answers
// /health. kube-apiserver is not touched: it reconnects by itself.
func (c *Cluster) RestartEtcd() error {
	if c.env == nil {
		return fmt.Errorf("the cluster is not running")
	}
	c.logf("Starting etcd again on its data")
	return c.env.ControlPlane.Etcd.Start()
}

// waitGone polls until the process pid no longer exists (its parent has
// reaped it), for up to timeout.
func waitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still exists %s after SIGKILL", pid, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
