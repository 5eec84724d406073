package ssogateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/kooper-io/kooper/internal/httpdrain"
)

// DrainDelay is how long a gateway told to stop (SIGTERM: a rollout, a node
// drain) still answers, its readiness failing and each connection closed
// after its answer, before it closes its port. The tenant pod leaves its
// Service's endpoints, and the ingress's upstreams, only some time after it
// is told to stop: a request routed to it meanwhile would find the port
// closed, and a POST on a keep-alive connection closed under it gets a 502.
// Endpoints reach kube-proxy and the ingress within a second or two. With
// shutdownTimeout it stays well within the tenant pod's termination grace
// period, Kubernetes' default of 30 s (kooper sets none).
const DrainDelay = 5 * time.Second

// shutdownTimeout is how long requests in flight may finish once the drain
// is over.
const shutdownTimeout = 10 * time.Second

// Serve serves g on listener until ctx ends, then drains for DrainDelay
// and shuts down gracefully within shutdownTimeout.
func Serve(ctx context.Context, listener net.Listener, g http.Handler) error {
	return serve(ctx, listener, g, DrainDelay)
}

// serve is Serve with a drain delay of drainDelay.
func serve(ctx context.Context, listener net.Listener, g http.Handler, drainDelay time.Duration) error {
	drainer := &httpdrain.Drainer{}
	srv := &http.Server{
		Handler:           drainer.CloseConnections(unreadyWhileDraining(drainer, g)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(listener) }()
	select {
	case err := <-served:
		return fmt.Errorf("the gateway stopped: %w", err)
	case <-ctx.Done():
	}
	drainer.Begin()
	time.Sleep(drainDelay)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("failed to shut the gateway down: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("the gateway stopped: %w", err)
	}
	return nil
}

// unreadyWhileDraining serves next, except that once the gateway drains
// its readiness path (HealthPath, the pod's readiness probe) answers 503:
// the pod is marked unready, and whatever routes by readiness sends the
// next requests elsewhere.
func unreadyWhileDraining(drainer *httpdrain.Drainer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == HealthPath && drainer.Draining() {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "draining\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}
