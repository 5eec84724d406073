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

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
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

// requestInfo parses a request's path as the API server does.
var requestInfo = &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}

// verbs are the request verbs a label may hold; any other is "other".
var verbs = sets.New("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")

// Describe names a request to the Kubernetes API by its verb and resource,
// with the API server's own request parsing (k8s.io/apiserver's
// RequestInfoFactory): "get" and "apps/deployments" for
// GET /apis/apps/v1/namespaces/ns/deployments/name; "patch" and
// "saas.kooper.io/saastenants/status" for a status merge patch. A path that
// names no resource (discovery, /version, /healthz) is resource "-"; a verb
// that is none of the API's is "other". "" is GET, as in net/http.
func Describe(method string, u *url.URL) (verb, resource string) {
	if method == "" {
		method = http.MethodGet
	}
	info, err := requestInfo.NewRequestInfo(&http.Request{Method: method, URL: u})
	if err != nil {
		return "other", "-"
	}
	verb = info.Verb
	if !verbs.Has(verb) {
		verb = "other"
	}
	if !info.IsResourceRequest || info.Resource == "" {
		return verb, "-"
	}
	resource = info.Resource
	if info.APIGroup != "" {
		resource = info.APIGroup + "/" + resource
	}
	if info.Subresource != "" {
		resource += "/" + info.Subresource
	}
	return verb, resource
}
