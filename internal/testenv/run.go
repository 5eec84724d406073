package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/onsi/gomega"
)

// Eventually and Consistently defaults shared by every envtest suite.
const (
	EventuallyTimeout    = 30 * time.Second
	EventuallyPolling    = 100 * time.Millisecond
	ConsistentlyDuration = time.Second
)

// RunTests is a package's TestMain body: it starts a control plane, calls
// setup (which may start a manager; ctx ends when the tests do), runs the
// tests and stops everything. It returns the exit code for os.Exit.
func RunTests(m *testing.M, setup func(ctx context.Context, env *Env) error) int {
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "failed to stop envtest:", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := setup(ctx, env); err != nil {
		fmt.Fprintln(os.Stderr, "test setup failed:", err)
		return 1
	}
	gomega.SetDefaultEventuallyTimeout(EventuallyTimeout)
	gomega.SetDefaultEventuallyPollingInterval(EventuallyPolling)
	gomega.SetDefaultConsistentlyDuration(ConsistentlyDuration)
	return m.Run()
}

// StartServing starts mgr in the background (its end is logged to stderr)
// and waits up to a minute for a server it runs to listen: addr is that
// server's Addr, such as the callback receiver's. It returns the server's
// base URL, http://host:port.
func StartServing(ctx context.Context, mgr interface{ Start(context.Context) error },
	addr func(context.Context) (net.Addr, error)) (string, error) {
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	a, err := addr(waitCtx)
	if err != nil {
		return "", err
	}
	return "http://" + a.String(), nil
}
