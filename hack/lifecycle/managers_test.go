package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kooper-io/kooper/controllers"
	"github.com/kooper-io/kooper/webhook"
)

// running is a started manager: where its receiver listens, and how to stop it.
type running struct {
	name string
	url  string // the callback URL prefix; the product name completes it
	// cache is the manager's cache, which its receiver decides on.
	cache  client.Reader
	cancel context.CancelFunc
	done   chan error
}

// startManager starts a manager shaped like main.go's: a receiver on its own
// HTTP server and, withControllers, every controller (manager A, as
// --components=receiver,controllers); without, the receiver alone with its
// own narrow cache (manager B, as the chart's receiver Deployment). It
// returns once the receiver listens, which the manager lets it do only
// after its caches have synced; the controllers may start a moment later,
// as after a real restart.
func startManager(parent context.Context, withControllers bool) (*running, error) {
	cache := webhook.CacheOptions(operatorNamespace)
	if withControllers {
		cache = controllers.CacheOptions(operatorNamespace)
	}
	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme:                 testEnv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache,
		// A restarted manager A registers the same controller names again.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, err
	}
	name := "B"
	if withControllers {
		name = "A"
		if err := addControllers(mgr); err != nil {
			return nil, err
		}
	}
	server, err := addReceiver(mgr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(parent)
	r := &running{name: name, cache: mgr.GetCache(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	waitCtx, stopWaiting := context.WithTimeout(ctx, time.Minute)
	defer stopWaiting()
	addr, err := server.Addr(waitCtx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("manager %s did not start its receiver: %w", name, errors.Join(err, <-r.done))
	}
	r.url = "http://" + addr.String() + webhook.CallbackPathPrefix
	return r, nil
}

// stop stops the manager and waits until every runnable has returned.
func (r *running) stop() error {
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("manager %s did not stop within a minute", r.name)
	}
}

// addReceiver serves the callback receiver from mgr, as main.go does.
func addReceiver(mgr ctrl.Manager) (*webhook.Server, error) {
	opts := webhook.DefaultOptions()
	opts.Namespace = operatorNamespace
	serverOpts := webhook.DefaultServerOptions()
	serverOpts.Addr, serverOpts.DrainDelay = "127.0.0.1:0", 0 // no endpoints to leave: stop at once
	_, server, err := webhook.Setup(mgr, opts, serverOpts)
	return server, err
}

// addControllers registers the controllers as main.go does, with the
// stand-in marketplace for Query Order, licence uploads and usage pushes
// (no product of these tests is metered).
func addControllers(mgr ctrl.Manager) error {
	return controllers.Setup(mgr, controllers.Config{
		Namespace: operatorNamespace, IngressNamespace: "ingress-nginx", MaxConcurrentReconciles: 4,
		// main.go's default: a new tenant's Provisioned waits for its Ready.
		ProvisionedStatusDelay: controllers.DefaultProvisionedStatusDelay,
		Orders:                 controllers.MarketplaceOrderClients(market.server.URL),
		Uploads:                controllers.MarketplaceUploadClients(market.server.URL),
		Usage:                  controllers.MarketplaceUsageClients(market.server.URL),
	})
}

// restartA stops manager A and starts a fresh one, with fresh caches and
// fresh controllers, as a crashed or rolled operator pod would be.
func restartA() error {
	if err := managerA.stop(); err != nil {
		return err
	}
	next, err := startManager(suiteCtx, true)
	if err != nil {
		return err
	}
	managerA = next
	return nil
}
