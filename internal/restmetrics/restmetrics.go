// Package restmetrics counts a process's requests to the Kubernetes API by
// verb and resource: client-go's rest_client_requests_total counts them by
// HTTP method and host only, which cannot say which of a tenant's requests
// are worth saving (docs/benchmarks.md). Labels are bounded: the verb is one
// of Kubernetes' request verbs, the resource is group/resource[/subresource]
// as the request's path names it; namespaces, names and queries are dropped.
package restmetrics

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Requests is kooper_api_requests_total{verb,resource}: the requests sent,
// whatever their answer. Watches count once, when opened.
var Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "kooper_api_requests_total",
	Help: "Requests this process sent to the Kubernetes API server, by verb (get, list, watch, create, update, patch, delete, deletecollection) and resource (group/resource[/subresource]; core resources without a group).",
}, []string{"verb", "resource"})

func init() {
	metrics.Registry.MustRegister(Requests)
}

// Count wraps cfg's transport so that every request it sends is counted in
// Requests. Clients built from cfg afterwards are counted; cfg is changed
// in place.
func Count(cfg *rest.Config) {
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripper{next: next}
	})
}

type roundTripper struct{ next http.RoundTripper }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	verb, resource := Describe(req.Method, req.URL)
	Requests.WithLabelValues(verb, resource).Inc()
	return t.next.RoundTrip(req)
}

// namespaceSubresources are the subresources of a Namespace itself, which
// follow its name where another resource's namespace would (as the API
// server's own request parsing has it).
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// Describe names a request to the Kubernetes API by its verb and resource,
// as the API server's request info does: "get" and "apps/deployments" for
// GET /apis/apps/v1/namespaces/ns/deployments/name; "patch" and
// "saas.kooper.io/saastenants/status" for a status merge patch. A path that
// names no resource (discovery, /version, /healthz) is resource "-"; an
// HTTP method that is none of the API's is verb "other". "" is GET, as in
// net/http.
func Describe(method string, u *url.URL) (verb, resource string) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return requestVerb(method, true, ""), "-"
	}
	if len(parts) >= 3 && parts[0] == "namespaces" && !namespaceSubresources[parts[2]] {
		parts = parts[2:]
	}
	if len(parts) == 0 || parts[0] == "" {
		return requestVerb(method, true, ""), "-"
	}
	resource = parts[0]
	if group != "" {
		resource = group + "/" + resource
	}
	named := len(parts) >= 2
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	return requestVerb(method, named, u.Query().Get("watch")), resource
}

func requestVerb(method string, named bool, watch string) string {
	switch method {
	case http.MethodGet, "":
		switch {
		case watch == "true" || watch == "1":
			return "watch"
		case named:
			return "get"
		}
		return "list"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if named {
			return "delete"
		}
		return "deletecollection"
	}
	return "other"
}
