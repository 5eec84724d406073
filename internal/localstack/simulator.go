package localstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kooper-io/kooper/internal/localcluster"
)

// listeningLine is how the simulator's serve announces its address.
var listeningLine = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// startSimulator starts the simulator's open APIs (Query Order, usage,
// licence upload) on a free loopback port.
func (s *Stack) startSimulator(ctx context.Context, _ Options) error {
	s.logf("Starting the marketplace simulator")
	args := []string{"serve", "--listen", "127.0.0.1:0"}
	if s.node != nil {
		// Where the operator's pods reach it: the node's address, on the
		// bridge of the lane's own network namespace, which nothing outside
		// the namespace reaches.
		args = []string{"serve", "--listen", s.node.IP + ":0", "--allow-remote"}
	}
	p, err := localcluster.StartProcess("marketplace-sim", s.LogDir(), s.Binary("marketplace-sim"), args)
	if err != nil {
		return err
	}
	s.simulator = p
	return s.waitFor(ctx, "the simulator's address", func(context.Context) (bool, error) {
		data, _ := os.ReadFile(p.LogPath)
		if m := listeningLine.FindSubmatch(data); m != nil {
			s.SimURL = string(m[1])
			return true, nil
		}
		return false, nil
	})
}

// Sim runs a simulator command against the sample product's production
// URL with its keys (passed in the environment, never on the command line)
// and returns its output. Callback commands need no --url or --key.
func (s *Stack) Sim(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Binary("marketplace-sim"), args...)
	cmd.Env = append(os.Environ(), "KOOPER_SIM_URL="+s.ReceiverURL, "KOOPER_SIM_KEY="+BasicKey,
		"KOOPER_SIM_KIT_KEY="+KitKey, "KOOPER_SIM_KIT_PUBLIC_KEY="+s.kitPublicKeyPath())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("marketplace-sim %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// waitFor polls done for up to two minutes, failing early when a process of
// the stack exits.
func (s *Stack) waitFor(ctx context.Context, what string, done wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := s.CheckProcesses(); err != nil {
			return false, err
		}
		return done(ctx)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w (logs in %s)", what, err, s.LogDir())
	}
	return nil
}

// Buy registers an order for the sample product on the simulator and sends
// newInstance for it, as a purchase on KooGallery does. With wait > 0 the
// simulator then polls queryInstance until appInfo arrives.
func (s *Stack) Buy(ctx context.Context, orderID, sku string, wait time.Duration) (string, error) {
	args := []string{"new-instance", "--sim-url", s.SimURL, "--order-id", orderID}
	if sku != "" {
		args = append(args, "--sku", sku)
	}
	if wait > 0 {
		args = append(args, "--wait", wait.String())
	}
	return s.Sim(ctx, args...)
}
