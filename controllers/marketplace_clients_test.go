package controllers

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

func TestMarketplaceClientsOfOneFactoryShareOneHTTPClient(t *testing.T) {
	g := NewWithT(t)
	const url = "https://mkt.example.test"
	orders, uploads, usage := MarketplaceOrderClients(url), MarketplaceUploadClients(url), MarketplaceUsageClients(url)
	for name, pair := range map[string][2]any{
		"orders":  {orders("ak-1", "sk-1"), orders("ak-2", "sk-2")},
		"uploads": {uploads("ak-1", "sk-1"), uploads("ak-2", "sk-2")},
		"usage":   {usage("ak-1", "sk-1"), usage("ak-2", "sk-2")},
	} {
		first, second := pair[0].(*koogallery.Client), pair[1].(*koogallery.Client)
		g.Expect(second.HTTP).To(BeIdenticalTo(first.HTTP), name)
		g.Expect(second.HTTP.Transport).To(BeIdenticalTo(first.HTTP.Transport), name)
		g.Expect(first.HTTP.Timeout).To(Equal(koogallery.DefaultTimeout), name)
		g.Expect(first.BaseURLs).To(Equal([]string{url}), name)
		g.Expect(first.Signer.AccessKeyID).To(Equal("ak-1"), name)
		g.Expect(second.Signer.AccessKeyID).To(Equal("ak-2"), name)
	}
}

// goroutineSlack is how many goroutines more than before the calls the test
// below accepts: the one kept-alive connection's three (the server's, the
// client's reader and writer), and room for the suite's manager, which
// reconciles in the background. A transport per client left about 600
// after 200 calls.
const goroutineSlack = 20

// settledGoroutines waits until the goroutine count holds within two for
// a second, and returns the highest count of that second. The suite's
// manager starts its informers and workers in the background, some only
// when a controller first reads a kind, so a count taken while it starts
// would be no baseline.
func settledGoroutines(g Gomega) int {
	var window []int
	g.Eventually(func() bool {
		window = append(window, runtime.NumGoroutine())
		if len(window) > 10 {
			window = window[1:]
		}
		return len(window) == 10 && slices.Max(window)-slices.Min(window) <= 2
	}).WithTimeout(time.Minute).WithPolling(100*time.Millisecond).Should(BeTrue(), "the goroutine count never settled")
	return slices.Max(window)
}

func TestTwoHundredQueryOrdersThroughOneFactoryLeaveNoGoroutinesBehind(t *testing.T) {
	g := NewWithT(t)
	var connections atomic.Int32
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"resultCode":%q,"resultMsg":"ok","orderInfo":{"orderId":%q}}`,
			koogallery.OpenAPISuccess, r.URL.Query().Get("orderId"))
	}))
	server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			connections.Add(1)
		}
	}
	server.StartTLS()
	t.Cleanup(server.Close)

	newClient := MarketplaceOrderClients(server.URL)
	// The clients verify certificates: trust the test server's once, on the
	// transport every client of the factory shares.
	shared := newClient(testAccessKeyID, testSecretAccessKey).(*koogallery.Client).HTTP.Transport.(*http.Transport)
	shared.TLSClientConfig.RootCAs = server.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	before := settledGoroutines(g)
	for i := range 200 {
		orderID := fmt.Sprintf("CS%dGOROUTINES", i)
		order, err := newClient(testAccessKeyID, testSecretAccessKey).QueryOrder(testContext(t), orderID, "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(order.OrderID).To(Equal(orderID))
	}
	g.Expect(connections.Load()).To(Equal(int32(1)), "the 200 calls reuse one connection")
	g.Eventually(runtime.NumGoroutine).WithTimeout(10*time.Second).
		Should(BeNumerically("<=", before+goroutineSlack), "goroutines before the calls: %d", before)
}
