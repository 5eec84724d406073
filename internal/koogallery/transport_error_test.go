package koogallery

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// dropping is a TLS marketplace host that reads each request and then
// drops the connection without an answer, the way a flapping network or a
// middlebox does. reset says how: with an RST (SO_LINGER 0), which the
// client reads as "connection reset by peer", or with a plain close, read
// as EOF.
func dropping(t *testing.T, reset bool) *marketplace {
	t.Helper()
	return newMarketplace(t, func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		tcp, ok := underlyingTCP(conn)
		if !reset || !ok {
			_ = conn.Close()
			return
		}
		// Closing the TCP connection under TLS sends no close_notify: the
		// client sees the reset, not an orderly end.
		_ = tcp.SetLinger(0)
		_ = tcp.Close()
	})
}

// underlyingTCP returns the TCP connection under a hijacked TLS one.
func underlyingTCP(conn net.Conn) (*net.TCPConn, bool) {
	if tlsConn, ok := conn.(*tls.Conn); ok {
		conn = tlsConn.NetConn()
	}
	tcp, ok := conn.(*net.TCPConn)
	return tcp, ok
}

// resettingListener is a host whose every connection is reset as soon as
// it is accepted: the client fails in the TLS handshake rather than while
// reading the answer.
func resettingListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			// Wait for the ClientHello so the reset hits a read.
			_, _ = bufio.NewReader(conn).Peek(1)
			_ = conn.(*net.TCPConn).SetLinger(0)
			_ = conn.Close()
		}
	}()
	return "https://" + l.Addr().String()
}

// addressPort matches an IP address with a port, as a *net.OpError prints
// the connection's ends ("127.0.0.1:40312->127.0.0.1:443").
var addressPort = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)

// TestTransportErrorTextIsTheSameOnEveryAttempt checks that a call failing
// on the transport says the same thing on every attempt: the error goes
// into condition messages, and a message that names the connection's local
// port changes each time, so each failure writes the status and requeues
// the object at once, defeating the paced retry.
func TestTransportErrorTextIsTheSameOnEveryAttempt(t *testing.T) {
	tests := []struct {
		name  string
		host  func(t *testing.T) (baseURL string, servers []*marketplace)
		cause []string // one of these names the cause
	}{
		{"reset after the request", func(t *testing.T) (string, []*marketplace) {
			m := dropping(t, true)
			return m.URL, []*marketplace{m}
		}, []string{"connection reset by peer"}},
		{"closed after the request", func(t *testing.T) (string, []*marketplace) {
			m := dropping(t, false)
			return m.URL, []*marketplace{m}
		}, []string{"EOF"}},
		{"reset in the handshake", func(t *testing.T) (string, []*marketplace) {
			return resettingListener(t), nil
		}, []string{"connection reset by peer", "EOF"}},
		{"refused", func(t *testing.T) (string, []*marketplace) {
			return closedURL(t), nil
		}, []string{"connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			base, servers := tt.host(t)
			c := testClient(servers, base)
			_, first := c.QueryOrder(context.Background(), "O1", "")
			_, second := c.QueryOrder(context.Background(), "O1", "")
			g.Expect(first).To(HaveOccurred())
			g.Expect(second).To(HaveOccurred())

			g.Expect(first.Error()).To(Equal(second.Error()), "two attempts fail with the same text")
			host := strings.TrimPrefix(base, "https://")
			g.Expect(strings.Count(first.Error(), host)).To(Equal(1), "the host is named once, as its label, in %q", first)
			// The test hosts are addresses: apart from the host's own label,
			// no address may remain.
			g.Expect(addressPort.FindString(strings.ReplaceAll(first.Error(), host+": ", ""))).To(BeEmpty(),
				"no connection address in %q", first)
			g.Expect(tt.cause).To(ContainElement(WithTransform(func(cause string) bool {
				return strings.Contains(first.Error(), cause)
			}, BeTrue())), "the cause is named in %q", first)

			// Still a transport failure, as before: no marketplace answer,
			// a net.Error to whoever looks for one.
			var apiErr *APIError
			g.Expect(errors.As(first, &apiErr)).To(BeFalse())
			var netErr net.Error
			g.Expect(errors.As(first, &netErr) || errors.Is(first, io.EOF) || errors.Is(first, io.ErrUnexpectedEOF)).To(BeTrue(), "%q is a network error", first)
		})
	}
}

// TestTransportErrorFallsBackToTheNextHost checks that a host dropping the
// connection is still a reason to try the next host.
func TestTransportErrorFallsBackToTheNextHost(t *testing.T) {
	g := NewWithT(t)
	first := dropping(t, true)
	second := newMarketplace(t, answerWith(http.StatusOK, mockPeriodYearNew))
	order, err := testClient([]*marketplace{first, second}, first.URL, second.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(order.OrderID).To(Equal("MOCKPERIODYEARNEW"))
	g.Expect(first.hits.Load()).To(BeNumerically(">=", 1))
	g.Expect(second.hits.Load()).To(Equal(int32(1)))
}
