// Package webhook is the KooGallery callback receiver: an HTTP server that
// runs on every replica (it is not leader-elected) and holds no state of its
// own. It serves the receiver's Handler, which answers every path.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kooper-io/kooper/internal/httpdrain"
)

// ServerOptions are the receiver's listening address and limits.
type ServerOptions struct {
	// Addr is the address to listen on, for example ":8082".
	Addr string
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds how long a client may take to send the whole request.
	ReadTimeout time.Duration
	// WriteTimeout bounds how long an answer may take, counted from the end
	// of the request's headers; the marketplace gives up after 5 s, so
	// kooper must answer well before. The server keeps it at least
	// answerTime past ReadTimeout (see deadlines).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle that long. Behind a
	// proxy it must be longer than the proxy's own idle timeout for its
	// connections to the pod, or the receiver may close a connection just
	// as the proxy sends a callback on it, which the proxy answers with a
	// 502 rather than retry a POST.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request headers.
	MaxHeaderBytes int
	// DrainDelay is how long a server told to stop still accepts callbacks,
	// its readiness failing, before it closes its port: Kubernetes removes
	// a terminating pod from its Service's endpoints, and an ELB from its
	// backends, only some time after the pod is told to stop, and a call
	// routed to it meanwhile would find the port closed, a failed call the
	// marketplace counts against the merchant. 0 closes it at once.
	DrainDelay time.Duration
	// ShutdownTimeout is how long in-flight callbacks may finish on shutdown,
	// after DrainDelay.
	ShutdownTimeout time.Duration
}

// DefaultServerOptions are safe limits for a public, marketplace-facing server.
func DefaultServerOptions() ServerOptions {
	return ServerOptions{
		Addr:              ":8082",
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10*time.Second + answerTime,
		// Above the 60 s of ingress-nginx's upstream-keepalive-timeout and of
		// a CCE ELB's HTTP/HTTPS listener keepalive_timeout, both defaults.
		IdleTimeout:     75 * time.Second,
		MaxHeaderBytes:  16 << 10,
		DrainDelay:      DefaultDrainDelay,
		ShutdownTimeout: 10 * time.Second,
	}
}

// DefaultDrainDelay is ServerOptions.DrainDelay's default. Endpoints reach
// kube-proxy within a second or two; a CCE ELB that sends to pods directly
// takes longer to drop a backend. With ShutdownTimeout it stays within the
// receiver's termination grace period, which the chart sets to the drain
// delay plus 20 s, at least 35 s.
const DefaultDrainDelay = 10 * time.Second

// answerTime is how long an answer may still be written after the read
// deadline has passed. A body that stalls past ReadTimeout is bad input,
// answered 000002 like any other, and that answer is written only once the
// read has failed: were the write deadline no later than the read deadline,
// the marketplace would get no answer at all. The answer needs no API work,
// so two seconds are ample even on a loaded node.
const answerTime = 2 * time.Second

// deadlines returns the read and write timeouts the HTTP server is given:
// opts' own, except that the write deadline ends at least answerTime after
// the read deadline. The write deadline counts from the end of the headers,
// the read deadline from the start of the request, so the margin is never
// less than answerTime. A request read without a limit could outlast any
// write deadline, so a write limit implies a read limit no longer than it.
func (o ServerOptions) deadlines() (read, write time.Duration) {
	read, write = o.ReadTimeout, o.WriteTimeout
	if write <= 0 {
		return read, write // no write deadline: an answer is never cut off
	}
	if read <= 0 {
		read = write
	}
	return read, max(write, read+answerTime)
}

// Server is the receiver's HTTP server, run by the manager as a Runnable.
type Server struct {
	opts    ServerOptions
	handler http.Handler

	mu       sync.Mutex
	listener net.Listener
	ready    chan struct{}
	// drainer drains the server once it is told to stop.
	drainer httpdrain.Drainer
}

// NewServer returns a server that serves handler with opts.
func NewServer(opts ServerOptions, handler http.Handler) *Server {
	return &Server{opts: opts, handler: handler, ready: make(chan struct{})}
}

// NeedLeaderElection is false: every replica answers callbacks.
func (s *Server) NeedLeaderElection() bool { return false }

// Start listens and serves until ctx is done, then lets in-flight requests
// finish within ShutdownTimeout.
func (s *Server) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("receiver")
	listener, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", s.opts.Addr, err)
	}
	s.mu.Lock()
	s.listener = listener
	s.mu.Unlock()
	close(s.ready)

	readTimeout, writeTimeout := s.opts.deadlines()
	srv := &http.Server{
		Handler:           s.drainer.CloseConnections(s.handler),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		// In-flight callbacks keep their context through a graceful shutdown,
		// so a half-stored order is finished rather than cut off.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()
	log.Info("Serving marketplace callbacks", "address", listener.Addr().String())

	select {
	case err := <-serveErr:
		return fmt.Errorf("receiver stopped: %w", err)
	case <-ctx.Done():
	}
	s.drain(log)
	log.Info("Shutting down the receiver")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("failed to shut down the receiver: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// drain goes on serving for DrainDelay after the server was told to stop,
// its readiness failing and its connections closed after each answer (see
// httpdrain.Drainer.CloseConnections), so that callbacks still routed to
// this pod are answered and the next ones go to another replica.
func (s *Server) drain(log logr.Logger) {
	s.drainer.Begin()
	if s.opts.DrainDelay <= 0 {
		return
	}
	log.Info("Draining the receiver: answering callbacks still routed here before closing its port", "delay", s.opts.DrainDelay.String())
	time.Sleep(s.opts.DrainDelay)
}

// Listening is a readiness check: nil once the server listens, so a pod is
// sent traffic only when callbacks can be answered, and an error again
// once it drains before stopping.
func (s *Server) Listening(_ *http.Request) error {
	if s.drainer.Draining() {
		return errors.New("the callback receiver is draining before it stops")
	}
	select {
	case <-s.ready:
		return nil
	default:
		return errors.New("the callback receiver is not listening yet")
	}
}

// Addr is the address the server listens on, once it has started; tests
// listen on port 0 and read the real port here.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listener.Addr(), nil
}
