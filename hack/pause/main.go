// Command pause is the sandbox ("pause") container of the real-node lane's
// pods (make e2e-node): it holds the pod's namespaces and does nothing else
// until told to stop, reaping any orphan it inherits as PID 1. The lane
// cannot pull registry.k8s.io/pause, so make e2e-node builds this one
// (hack/image -images pause) and the node imports it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
