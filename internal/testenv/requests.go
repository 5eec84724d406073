package testenv

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// RequestLog records the requests that clients built from its Config send to
// the API server, those its filter keeps, so that a test can prove a code
// path sends none of a kind (a LIST it should skip). Counting at the
// transport sees every request, whatever client or reader sent it.
type RequestLog struct {
	keep RequestMatcher

	mu   sync.Mutex
	seen []Request
}

// RequestMatcher tells whether a request, by its HTTP method and URL (path
// and query), is of interest.
type RequestMatcher func(method string, u *url.URL) bool

// Request is one recorded request: its HTTP method, URL and the media type
// of its body (Content-Type; empty without a body).
type Request struct {
	Method      string
	URL         *url.URL
	ContentType string
}

// NewRequestLog returns a log of the requests keep accepts. keep should
// accept few: the log holds them for the life of the test binary.
func NewRequestLog(keep RequestMatcher) *RequestLog {
	return &RequestLog{keep: keep}
}

// Config returns a copy of cfg whose clients record their requests in l.
func (l *RequestLog) Config(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			l.record(req)
			return next.RoundTrip(req)
		})
	})
	return out
}

func (l *RequestLog) record(req *http.Request) {
	if !l.keep(req.Method, req.URL) {
		return
	}
	u := *req.URL
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, Request{Method: req.Method, URL: &u, ContentType: req.Header.Get("Content-Type")})
}

// Count returns how many recorded requests match.
func (l *RequestLog) Count(match RequestMatcher) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.seen {
		if match(r.Method, r.URL) {
			n++
		}
	}
	return n
}

// Requests returns the recorded requests that match, in the order sent.
func (l *RequestLog) Requests(match RequestMatcher) []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Request
	for _, r := range l.seen {
		if match(r.Method, r.URL) {
			out = append(out, r)
		}
	}
	return out
}

// ParseList returns the namespace and label selector of a request that
// lists (not watches) a core resource, such as "configmaps", in one
// namespace; ok is false for any other request.
func ParseList(method string, u *url.URL, resource string) (namespace string, selector labels.Selector, ok bool) {
	tail, found := strings.CutPrefix(u.Path, "/api/v1/namespaces/")
	if method != http.MethodGet || !found || u.Query().Get("watch") == "true" {
		return "", nil, false
	}
	namespace, kind, found := strings.Cut(tail, "/")
	if !found || kind != resource {
		return "", nil, false
	}
	selector, err := labels.Parse(u.Query().Get("labelSelector"))
	if err != nil {
		return "", nil, false
	}
	return namespace, selector, true
}

// DirectoryConfigMapLists matches the LISTs of ConfigMaps labelled with a
// SaaSDirectory (saas.kooper.io/directory=<name>), in any namespace: what
// kooper sends to look for the shards earlier versions stored as ConfigMaps,
// or for what they delivered.
func DirectoryConfigMapLists(method string, u *url.URL) bool {
	_, _, ok := directoryConfigMapList(method, u)
	return ok
}

// ConfigMapShardListsOf matches the LISTs of directory's ConfigMap shards in
// one of namespaces (the shard namespaces, not the tenant's).
func ConfigMapShardListsOf(directory string, namespaces ...string) RequestMatcher {
	return func(method string, u *url.URL) bool {
		namespace, name, ok := directoryConfigMapList(method, u)
		return ok && name == directory && slices.Contains(namespaces, namespace)
	}
}

func directoryConfigMapList(method string, u *url.URL) (namespace, directory string, ok bool) {
	namespace, selector, ok := ParseList(method, u, "configmaps")
	if !ok {
		return "", "", false
	}
	directory, ok = selector.RequiresExactMatch(saasv1alpha1.DirectoryLabel)
	return namespace, directory, ok
}

// TenantRequests matches the requests, watches aside, about SaaSTenants
// and about objects in tenant namespaces (named tenant-…, the default
// template), so that a test can count what one tenant costs.
func TenantRequests(_ string, u *url.URL) bool {
	if u.Query().Get("watch") == "true" {
		return false
	}
	return strings.Contains(u.Path, "/namespaces/tenant-") || strings.Contains(u.Path, "/saastenants/")
}

// NamesObject reports whether path is about the object resource/name or
// anything under it (its status, the objects in a namespace so named):
// the name is a whole path segment, so tenant i-25 does not match the
// path of tenant i-251.
func NamesObject(path, resource, name string) bool {
	segment := "/" + resource + "/" + name
	return strings.HasSuffix(path, segment) || strings.Contains(path, segment+"/")
}

// AnyOf matches a request any of matchers matches.
func AnyOf(matchers ...RequestMatcher) RequestMatcher {
	return func(method string, u *url.URL) bool {
		return slices.ContainsFunc(matchers, func(m RequestMatcher) bool { return m(method, u) })
	}
}

// Creates matches the creates (POSTs) of kooper's cluster-scoped kind whose
// plural is resource, such as "saastenants".
func Creates(resource string) RequestMatcher {
	path := "/apis/" + saasv1alpha1.GroupVersion.String() + "/" + resource
	return func(method string, u *url.URL) bool { return method == http.MethodPost && u.Path == path }
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
