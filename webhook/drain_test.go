package webhook

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A receiver told to stop (a rolling upgrade, a node drain) keeps answering
// for its drain delay: the pod leaves its Service's endpoints, and a CCE
// ELB's backends, only some time after it is told, and a callback sent to
// it meanwhile found the port closed: a failed call the marketplace counts
// against the merchant. Readiness fails from the start of the delay. Before,
// the listener closed at once and the callback below was refused.
func TestAStoppingReceiverAnswersThroughItsDrainDelay(t *testing.T) {
	g := NewWithT(t)
	opts := DefaultServerOptions()
	opts.Addr = "127.0.0.1:0"
	opts.DrainDelay = 2 * time.Second
	srv := NewServer(opts, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	addr, err := srv.Addr(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(srv.Listening(nil)).To(Succeed())

	stop()
	g.Eventually(func() error { return srv.Listening(nil) }).Should(MatchError(ContainSubstring("draining")))
	// A new connection, as a call routed to the pod before its endpoint goes.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	resp, err := client.Get("http://" + addr.String() + "/")
	g.Expect(err).NotTo(HaveOccurred(), "a callback during the drain delay is answered")
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(string(body)).To(Equal("ok"))
	g.Expect(done).NotTo(Receive(), "the server still runs")

	g.Eventually(done, 5*time.Second).Should(Receive(BeNil()), "the server stops after the delay")
}

// With no drain delay the server stops at once, as a process that only
// serves tests or sits behind nothing wants.
func TestAReceiverWithoutDrainDelayStopsAtOnce(t *testing.T) {
	g := NewWithT(t)
	opts := DefaultServerOptions()
	opts.DrainDelay = 0
	_, stop, done := startServer(t, opts, http.NotFoundHandler())
	stop()
	g.Eventually(done, time.Second).Should(Receive(BeNil()))
}
