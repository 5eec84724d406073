package koogallery

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// The shared HTTP client kept at most 2 idle connections per host (Go's
// default) while 8 metering workers, or the tenant and licence workers'
// Query Order calls, used it at once: against an HTTP/1.1 gateway most
// calls opened a connection, with a TCP and TLS handshake, and left a
// TIME_WAIT socket behind. As many workers as share a host keep their
// connections.
func TestMarketplaceCallsReuseConnections(t *testing.T) {
	g := NewWithT(t)
	const workers, calls = 8, 200
	var opened atomic.Int32
	// The first call of each worker waits until all are in flight: 8
	// connections open, as 8 busy workers need, and the pool keeps what it
	// may of them once the calls end. The other calls show whether the
	// workers find them again. Without the wait, the count would also
	// measure Go's dialing race (a dial that a call no longer needs still
	// ends in a connection).
	arrived, allArrived := make(chan struct{}, workers), make(chan struct{})
	releaseFirstCalls := sync.OnceFunc(func() { close(allArrived) })
	answer := answerWith(http.StatusOK, mockPeriodYearNew)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-allArrived
		answer(w, r)
	}))
	server.EnableHTTP2 = false // a gateway that speaks HTTP/1.1: one call at a time per connection
	server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened.Add(1)
		}
	}
	server.StartTLS()
	t.Cleanup(server.Close)
	t.Cleanup(releaseFirstCalls) // after a failure, before the server closes

	shared := NewHTTPClient()
	transport, ok := shared.Transport.(*http.Transport)
	g.Expect(ok).To(BeTrue())
	transport.TLSClientConfig.RootCAs = x509.NewCertPool()
	transport.TLSClientConfig.RootCAs.AddCert(server.Certificate())
	t.Cleanup(transport.CloseIdleConnections)
	client := NewClientWith(shared, "AK123", "SK-secret-value", server.URL)

	var failed atomic.Int32
	// each runs n rounds of calls, one at a time in each worker, all the
	// workers at once, and waits for them to end.
	each := func(n int, whileRunning func()) {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n {
					if _, err := client.QueryOrder(context.Background(), "MOCKPERIODYEARNEW", ""); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		whileRunning()
		wg.Wait()
	}
	each(1, func() {
		for range workers {
			select {
			case <-arrived:
			case <-time.After(DefaultTimeout):
				t.Fatal("the workers' first calls did not all arrive")
			}
		}
		releaseFirstCalls()
	})
	each(calls/workers-1, func() {})
	g.Expect(failed.Load()).To(BeZero())
	g.Expect(opened.Load()).To(BeNumerically("<=", workers), "%d calls from %d workers opened %d connections", calls, workers, opened.Load())
}
