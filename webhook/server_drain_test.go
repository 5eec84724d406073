package webhook

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
)

// A proxy in front of the receiver (ingress-nginx, a CCE ELB) keeps its
// connections to the pod open between callbacks and goes on using them until
// the pod leaves its endpoints, some time into the drain delay. A connection
// the receiver closes while idle can be reused by the proxy at that very
// moment, and nginx does not retry a POST it has sent: the marketplace gets a
// 502, a failed order. So a draining receiver answers on the connections it
// has and closes each after its answer. Before, the drain began by closing
// every idle connection, and the second callback below found its connection
// gone.
func TestADrainingReceiverAnswersOnAKeptConnectionThenClosesIt(t *testing.T) {
	g := NewWithT(t)
	draining := make(chan struct{}, 1)
	_, addr, stop, done := startDrainingServer(t, testDrainDelay, drainLogger(draining))

	conn, err := net.Dial("tcp", addr.String())
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = conn.Close() })
	// Bounds only a broken receiver that never answers or never closes.
	g.Expect(conn.SetDeadline(time.Now().Add(drainWait))).To(Succeed())
	reader := bufio.NewReader(conn)
	first := callOn(g, conn, reader)
	g.Expect(first.Close).To(BeFalse(), "before the drain the connection is kept for the next callback")

	stop()
	// The drain logs once it has set itself up; on the old code that was
	// after the idle connections were closed, so this waits for that.
	g.Eventually(draining, drainWait).Should(Receive())
	second := callOn(g, conn, reader)
	// ReadResponse takes "Connection: close" out of the header into Close.
	g.Expect(second.Close).To(BeTrue(), "the proxy is told not to reuse the connection")
	_, err = reader.ReadByte()
	g.Expect(err).To(MatchError(io.EOF), "the receiver closes the connection after the answer")
	g.Expect(done).NotTo(Receive(), "the server still drains")
}

// ingress-nginx keeps idle upstream connections 60 s by default
// (upstream-keepalive-timeout), and a CCE ELB's HTTP and HTTPS listeners
// 60 s (keepalive_timeout). A receiver that closes an idle connection no
// later than the proxy may close it just as the proxy sends a callback on it.
func TestTheReceiverKeepsIdleConnectionsLongerThanTheProxiesInFront(t *testing.T) {
	NewWithT(t).Expect(DefaultServerOptions().IdleTimeout).To(BeNumerically(">", 60*time.Second))
}

// callOn sends a callback on conn, reads its whole answer from reader, and
// checks it was answered.
func callOn(g Gomega, conn net.Conn, reader *bufio.Reader) *http.Response {
	_, err := io.WriteString(conn, "POST /koogallery/crm HTTP/1.1\r\nHost: kooper\r\nContent-Length: 2\r\n\r\n{}")
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := http.ReadResponse(reader, nil)
	g.Expect(err).NotTo(HaveOccurred(), "the callback is answered on its connection")
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(string(body)).To(Equal("ok"))
	return resp
}

// drainLogger is a logger that signals on draining when the receiver logs
// that it drains.
func drainLogger(draining chan<- struct{}) logr.Logger {
	return funcr.New(func(_, args string) {
		if strings.Contains(args, "Draining the receiver") {
			select {
			case draining <- struct{}{}:
			default:
			}
		}
	}, funcr.Options{})
}
