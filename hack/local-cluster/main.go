// Command local-cluster runs kooper's local cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok on loopback) in the
// foreground until Ctrl-C, or removes what a killed run left behind.
//
//	go run ./hack/local-cluster up     # prints: export KUBECONFIG=...
//	go run ./hack/local-cluster down   # kills leftovers of a killed run
//	go run ./hack/local-cluster --dir bin/demo down
//
// With --node (root), inside the lane's network namespace:
//
//	hack/e2e-node/netns.sh NAME go run ./hack/local-cluster --node up
//	ip netns exec NAME kubectl --kubeconfig bin/local-cluster/kubeconfig get nodes
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kooper-io/kooper/internal/localcluster"
)

func main() {
	// See hack/demo: the cluster prints its own progress, not controller-runtime's.
	ctrllog.SetLogger(logr.Discard())
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "local-cluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("local-cluster", flag.ContinueOnError)
	dir := fs.String("dir", "bin/local-cluster", "state directory: kubeconfig, logs, etcd data")
	nodes := fs.Int("nodes", 3, "number of kwok nodes")
	node := fs.Bool("node", false, "one real node (containerd, kubelet, kube-proxy, kube-router) instead of kwok's; "+
		"run inside hack/e2e-node/netns.sh, with the images make e2e-node builds in bin/e2e-node-images")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: local-cluster [flags] up|down

  up    runs the cluster in the foreground until Ctrl-C; its state (kubeconfig,
        logs, etcd data) goes to --dir (default bin/local-cluster)
  down  kills what a killed run in --dir left; for a real node's directory
        (make e2e-node's is bin/e2e-node) also its pods, containerd shims,
        cgroups and network namespace, and puts back the kernel tunables its
        kubelet changed

--node needs root and runs inside the lane's network namespace:
  hack/e2e-node/netns.sh NAME go run ./hack/local-cluster --node up
and kubectl too reaches its API server (10.244.0.1:6443) from inside it:
  ip netns exec NAME kubectl --kubeconfig DIR/kubeconfig get nodes

flags:
`)
		fs.PrintDefaults()
	}
	// Flags may come before or after the command.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("missing command")
	}
	command := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	switch command {
	case "up":
		return up(abs, *nodes, *node)
	case "down":
		// The demo and the e2e test also run the operator and the simulator.
		binaries := append([]string{"kooper", "marketplace-sim"}, localcluster.Binaries...)
		binaries = append(binaries, localcluster.NodeBinaries...)
		killed, err := localcluster.KillLeftovers(abs, binaries...)
		fmt.Printf("Stopped %d leftover processes of %s\n", killed, abs)
		// A real node's pods, shims, cgroups, network namespace and kernel tunables.
		return errors.Join(err, localcluster.NodeDown(abs, func(format string, args ...any) { fmt.Printf(format+"\n", args...) }))
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", command)
	}
}

func up(dir string, nodes int, node bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Printf("[local-cluster] "+format+"\n", args...) }
	o := localcluster.Options{Root: root, Dir: dir, Nodes: nodes, Logf: logf}
	if node {
		o.Node = localcluster.LaneNode(dir, filepath.Join(root, "bin", "e2e-node-images"))
	}
	cluster, err := localcluster.Start(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(upMessage(cluster.Kubeconfig, cluster.LogDir, node))
	select {
	case <-ctx.Done():
	case <-cluster.AnyExited():
		logf("a component exited: %v", cluster.CheckComponents())
	}
	return cluster.Stop()
}

// upMessage says how to reach the cluster: a real node's API server listens
// on the node's address inside the lane's network namespace, which from the
// machine's may be something else altogether.
func upMessage(kubeconfig, logDir string, node bool) string {
	if node {
		name := os.Getenv("KOOPER_NODE_NETNS") // hack/e2e-node/netns.sh's NAME
		if name == "" {
			name = "NAME"
		}
		return fmt.Sprintf("\nThe cluster is up. Its API server is reachable only inside this network namespace; in another terminal:\n"+
			"  ip netns exec %[1]s kubectl --kubeconfig %[2]s get nodes\n"+
			"(or nsenter --net=/run/netns/%[1]s kubectl ...)\nLogs: %[3]s\nCtrl-C stops it.\n", name, kubeconfig, logDir)
	}
	return fmt.Sprintf("\nThe cluster is up. In another terminal:\n  export KUBECONFIG=%s\n  kubectl get nodes\nLogs: %s\nCtrl-C stops it.\n", kubeconfig, logDir)
}
