// Command demo is `make demo`: it starts a local cluster, installs kooper's
// chart with Helm, runs its receiver and its controllers, each as its own
// Deployment's ServiceAccount, buys a tenant of the sample product through
// the marketplace simulator and shows it reaching Ready. It keeps everything running until Ctrl-C; --once stops
// after the tenant is Ready.
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
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kooper-io/kooper/internal/localstack"
)

func main() {
	once := flag.Bool("once", false, "stop everything and exit once the tenant is Ready")
	dir := flag.String("dir", "bin/demo", "directory for the cluster's state, the built binaries and the logs")
	nodes := flag.Int("nodes", 3, "number of kwok nodes")
	flag.Parse()
	// The control plane's start uses controller-runtime's client, whose logger
	// would otherwise print a stack trace ("log.SetLogger(...) was never
	// called") when the start takes over 30 s; the demo prints its own progress.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *nodes, *once); err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1) //nolint:gocritic // exitAfterDefer: the deferred call only stops signal notification, which exiting stops too
	}
}

func run(ctx context.Context, dir string, nodes int, once bool) (err error) {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	clock := newPhaseClock()
	stack, err := localstack.Start(ctx, localstack.Options{Root: root, Dir: abs, Nodes: nodes, Logf: clock.logf})
	if err != nil {
		return err
	}
	defer func() {
		clock.logf("Stopping the operator, the simulator and the cluster")
		err = errors.Join(err, stack.Stop())
	}()
	tenant, err := buyTenant(ctx, stack, clock)
	if err != nil {
		return fmt.Errorf("%w\nLogs: %s", err, stack.LogDir())
	}
	if err := show(ctx, stack, tenant); err != nil {
		return err
	}
	clock.logf("Done")
	clock.summary()
	if once {
		// Everything stops now: the commands to look around would find nothing.
		fmt.Println("\nStopping everything (--once); run make demo without DEMO_FLAGS=--once to explore.")
		return nil
	}
	printExplore(stack, tenant)
	fmt.Println("\nEverything keeps running; press Ctrl-C to stop it.")
	select {
	case <-ctx.Done():
	case <-stack.AnyExited():
		return fmt.Errorf("a process exited: %v", stack.CheckProcesses())
	}
	return nil
}

// phaseClock prints progress with the time since the start and keeps each
// step's start, for the summary of how long each phase took.
type phaseClock struct {
	start time.Time
	steps []step
}

type step struct {
	at   time.Time
	name string
}

func newPhaseClock() *phaseClock { return &phaseClock{start: time.Now()} }

func (c *phaseClock) logf(format string, args ...any) {
	now := time.Now()
	name := fmt.Sprintf(format, args...)
	c.steps = append(c.steps, step{at: now, name: name})
	fmt.Printf("[demo %6.1fs] %s\n", now.Sub(c.start).Seconds(), name)
}

// summary prints how long each step took, up to the last one logged.
func (c *phaseClock) summary() {
	fmt.Println("\nWall time per step:")
	for i := 0; i+1 < len(c.steps); i++ {
		fmt.Printf("  %6.1fs  %s\n", c.steps[i+1].at.Sub(c.steps[i].at).Seconds(), c.steps[i].name)
	}
	fmt.Printf("  %6.1fs  in all, since the demo started (make's tool check and build of bin/kooper-demo before it not counted)\n",
		c.steps[len(c.steps)-1].at.Sub(c.start).Seconds())
}
