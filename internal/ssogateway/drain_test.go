package ssogateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// testDrainDelay is the drain delay of the test that sends requests to a
// draining gateway. The drain is a real sleep: every step between the stop
// and the last request must fit in it, and a loaded 2-core machine can
// stall a process for seconds. The test ends once the behaviour is seen
// and does not wait for the delay to run out.
const testDrainDelay = 10 * time.Second

// drainWait bounds a wait the tests expect to end at once, long enough that
// a stalled machine does not fail a healthy gateway.
const drainWait = 20 * time.Second

// The gateway is the tenant pod's entry, behind the tenant's Service. Told
// to stop (a rollout, a node drain), it shut down at once: the ingress,
// which learns of the pod's end some time later, still sent requests to
// the closed port, and a POST on a keep-alive connection the gateway had
// just closed got a 502. It now keeps answering for its drain delay, each
// answer closing its connection, while its readiness fails.
func TestTheGatewayServesWhileDraining(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	base, stop, done := startGateway(t, f.gateway, testDrainDelay)
	client := &http.Client{Timeout: drainWait}
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		req.AddCookie(session)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp, nil
	}
	resp, err := get(HealthPath)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "ready while serving")

	stop()
	g.Eventually(func() (int, error) {
		resp, err := get(HealthPath)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}, drainWait).Should(Equal(http.StatusServiceUnavailable), "readiness fails once the gateway drains")
	resp, err = get("/reports")
	g.Expect(err).NotTo(HaveOccurred(), "a request still routed here is answered")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	// The client takes "Connection: close" out of the header into Close.
	g.Expect(resp.Close).To(BeTrue(), "the ingress is told not to reuse the connection")
	g.Expect(done).NotTo(Receive(), "the gateway still drains")
}

// Once its drain delay is over the gateway closes its port and Serve
// returns; drain and shutdown fit the tenant pod's termination grace
// period, which kooper leaves at Kubernetes' default of 30 s.
func TestTheGatewayStopsOnceItsDrainIsOver(t *testing.T) {
	g := NewWithT(t)
	g.Expect(DrainDelay+shutdownTimeout).To(BeNumerically("<", 30*time.Second), "within the pod's termination grace period")
	base, stop, done := startGateway(t, newFixture(t).gateway, 100*time.Millisecond)
	stop()
	g.Eventually(done, drainWait).Should(Receive(BeNil()))
	_, err := http.Get(base + HealthPath)
	g.Expect(err).To(HaveOccurred(), "the port is closed")
}

// startGateway serves handler on a free local port with the given drain
// delay. It returns the base URL, a stop that tells the gateway to stop
// (SIGTERM), and a channel that receives serve's result.
func startGateway(t *testing.T, handler http.Handler, drainDelay time.Duration) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, listener, handler, drainDelay) }()
	return fmt.Sprintf("http://%s", listener.Addr()), stop, done
}
