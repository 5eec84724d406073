// Package httpdrain lets an HTTP server that is told to stop go on
// answering for a while before it closes its port. Kubernetes removes a
// terminating pod from its Service's endpoints, and a proxy in front
// (ingress-nginx, an ELB) from its upstreams, only some time after the pod
// is told to stop: a request routed to it meanwhile would find the port
// closed. While it drains, a server fails its readiness and closes each
// connection after its answer, so the next request goes to another pod.
// The callback receiver (webhook) and the SSO gateway (ssogateway) share
// it.
package httpdrain

import (
	"net/http"
	"sync/atomic"
)

// Drainer records whether a server drains. Its zero value does not.
type Drainer struct {
	draining atomic.Bool
}

// Begin marks the server as draining, for good: it was told to stop.
func (d *Drainer) Begin() { d.draining.Store(true) }

// Draining reports whether the server was told to stop.
func (d *Drainer) Draining() bool { return d.draining.Load() }

// CloseConnections serves next, and once the server drains answers with
// "Connection: close", so that net/http closes each connection after a
// complete answer and the proxy opens its next one to another pod. This
// is used instead of http.Server.SetKeepAlivesEnabled(false), which also
// closes every idle connection at once while the proxy in front still
// sends on them: nginx answers a POST whose connection was reset with a
// 502. http.Server.Shutdown closes the idle connections that are left once
// the drain is over.
func (d *Drainer) CloseConnections(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Draining() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
