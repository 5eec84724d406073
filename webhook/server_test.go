package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// startServer runs a Server on a loopback port and returns its base URL, a
// function that stops it, and the channel Start's result arrives on.
func startServer(t *testing.T, opts ServerOptions, handler http.Handler) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	opts.DrainDelay = 0 // the drain tests build their own server
	srv := NewServer(opts, handler)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
	defer waitCancel()
	addr, err := srv.Addr(waitCtx)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr.String(), cancel, done
}

func TestServerIsNotLeaderElected(t *testing.T) {
	NewWithT(t).Expect(NewServer(DefaultServerOptions(), http.NotFoundHandler()).NeedLeaderElection()).To(BeFalse())
}

func TestServerServesAndStopsCleanly(t *testing.T) {
	g := NewWithT(t)
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	url, stop, done := startServer(t, DefaultServerOptions(), handler)

	resp, err := http.Get(url)
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(string(body)).To(Equal("ok"))

	stop()
	g.Eventually(done).Should(Receive(BeNil()))
}

func TestServerFinishesInFlightRequestsOnShutdown(t *testing.T) {
	g := NewWithT(t)
	entered, release := make(chan struct{}), make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		if r.Context().Err() != nil {
			http.Error(w, "request context cancelled", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "stored")
	})
	url, stop, done := startServer(t, DefaultServerOptions(), handler)

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		got <- result{status: resp.StatusCode, body: string(body)}
	}()
	g.Eventually(entered).Should(BeClosed())
	stop()
	g.Consistently(done, "200ms").ShouldNot(Receive(), "shutdown must wait for the in-flight request")
	close(release)

	var r result
	g.Eventually(got).Should(Receive(&r))
	g.Expect(r.err).NotTo(HaveOccurred())
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.body).To(Equal("stored"))
	g.Eventually(done).Should(Receive(BeNil()))
}

func TestServerDropsClientsThatNeverFinishTheirHeaders(t *testing.T) {
	g := NewWithT(t)
	opts := DefaultServerOptions()
	opts.ReadHeaderTimeout = 200 * time.Millisecond
	url, _, _ := startServer(t, opts, http.NotFoundHandler())

	conn, err := net.Dial("tcp", url[len("http://"):])
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close() }()
	_, err = io.WriteString(conn, "POST /koogallery/crm HTTP/1.1\r\nHost: x\r\n")
	g.Expect(err).NotTo(HaveOccurred())

	// The server must close the connection by itself, long before this deadline.
	g.Expect(conn.SetReadDeadline(time.Now().Add(10 * time.Second))).To(Succeed())
	start := time.Now()
	_, err = io.ReadAll(conn)
	var netErr net.Error
	g.Expect(errors.As(err, &netErr) && netErr.Timeout()).To(BeFalse(), "the server kept a slow client: %v", err)
	g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
}

func TestServerReportsAnAddressInUse(t *testing.T) {
	g := NewWithT(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = busy.Close() }()

	opts := DefaultServerOptions()
	opts.Addr = busy.Addr().String()
	err = NewServer(opts, http.NotFoundHandler()).Start(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("failed to listen on " + opts.Addr)))
}

// The readiness check fails until the server listens, so a pod gets
// callbacks only once it can answer them.
func TestServerIsReadyOnceItListens(t *testing.T) {
	g := NewWithT(t)
	opts := DefaultServerOptions()
	opts.Addr = "127.0.0.1:0"
	srv := NewServer(opts, http.NotFoundHandler())
	g.Expect(srv.Listening(nil)).To(MatchError(ContainSubstring("not listening yet")))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Start(ctx) }()
	g.Eventually(func() error { return srv.Listening(nil) }).Should(Succeed())
}
