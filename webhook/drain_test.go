package webhook

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
)

// testDrainDelay is the drain delay of the tests that call a draining
// receiver. The drain is a real sleep: every step between stop() and the
// last callback must fit in it, and a loaded 2-core CI machine can stall a
// process for seconds, which with a short delay would fail a healthy
// receiver. These tests end once the behaviour is seen and do not wait for
// the delay to run out; TestADrainingReceiverStopsOnceItsDelayIsOver checks
// the stop with a short delay, where a stall only makes the check later.
const testDrainDelay = 10 * time.Second

// drainWait bounds a wait the tests expect to end at once, long enough that
// a stalled machine does not fail a healthy receiver.
const drainWait = 20 * time.Second

// startDrainingServer starts a receiver on a free local port with the given
// drain delay, answering "ok", logging to log. It returns its address, a
// stop that tells it to stop, and a channel that receives Start's result.
func startDrainingServer(t *testing.T, delay time.Duration, log logr.Logger) (*Server, net.Addr, context.CancelFunc, <-chan error) {
	t.Helper()
	opts := DefaultServerOptions()
	opts.Addr = "127.0.0.1:0"
	opts.DrainDelay = delay
	srv := NewServer(opts, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	ctx, stop := context.WithCancel(logr.NewContext(context.Background(), log))
	t.Cleanup(stop)
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	waitCtx, cancel := context.WithTimeout(context.Background(), drainWait)
	defer cancel()
	addr, err := srv.Addr(waitCtx)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return srv, addr, stop, done
}

// A receiver told to stop (a rolling upgrade, a node drain) keeps answering
// for its drain delay: the pod leaves its Service's endpoints, and a CCE
// ELB's backends, only some time after it is told, and a callback sent to
// it meanwhile found the port closed: a failed call the marketplace counts
// against the merchant. Readiness fails from the start of the delay. Before,
// the listener closed at once and the callback below was refused.
func TestAStoppingReceiverAnswersThroughItsDrainDelay(t *testing.T) {
	g := NewWithT(t)
	srv, addr, stop, done := startDrainingServer(t, testDrainDelay, logr.Discard())
	g.Expect(srv.Listening(nil)).To(Succeed())

	stop()
	g.Eventually(func() error { return srv.Listening(nil) }, drainWait).Should(MatchError(ContainSubstring("draining")))
	// A new connection, as a call routed to the pod before its endpoint goes.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: testDrainDelay}
	resp, err := client.Get("http://" + addr.String() + "/")
	g.Expect(err).NotTo(HaveOccurred(), "a callback during the drain delay is answered")
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(string(body)).To(Equal("ok"))
	g.Expect(done).NotTo(Receive(), "the server still runs")
}

// A draining receiver closes its port once the delay is over, and Start
// returns without error, so the manager can stop. The delay is short: a
// stall here only makes the stop seen later, never fails the test.
func TestADrainingReceiverStopsOnceItsDelayIsOver(t *testing.T) {
	g := NewWithT(t)
	const delay = 200 * time.Millisecond
	_, _, stop, done := startDrainingServer(t, delay, logr.Discard())
	stopped := time.Now()
	stop()
	g.Eventually(done, drainWait).Should(Receive(BeNil()), "the server stops after the delay")
	g.Expect(time.Since(stopped)).To(BeNumerically(">=", delay), "not before the delay is over")
}

// With no drain delay the server stops at once, as a process that only
// serves tests or sits behind nothing wants: it does not wait out a delay
// such as DefaultDrainDelay.
func TestAReceiverWithoutDrainDelayStopsAtOnce(t *testing.T) {
	g := NewWithT(t)
	_, _, stop, done := startDrainingServer(t, 0, logr.Discard())
	stopped := time.Now()
	stop()
	g.Eventually(done, drainWait).Should(Receive(BeNil()))
	g.Expect(time.Since(stopped)).To(BeNumerically("<", DefaultDrainDelay), "no drain delay was waited")
}
