package testenv

import (
	"context"
	"fmt"
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
