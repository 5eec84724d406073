package restmetrics

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDescribeNamesRequestsAsTheAPIServerDoes(t *testing.T) {
	cases := []struct {
		method, url, verb, resource string
	}{
		{"GET", "/api/v1/namespaces/kooper-system/configmaps/kooper-issued-70", "get", "configmaps"},
		{"GET", "/api/v1/namespaces/kooper-system/secrets?labelSelector=a%3Db", "list", "secrets"},
		{"GET", "/api/v1/secrets?watch=true&resourceVersion=5", "watch", "secrets"},
		{"POST", "/api/v1/namespaces/tenant-i-1/secrets", "create", "secrets"},
		{"PATCH", "/api/v1/namespaces/tenant-i-1?fieldManager=kooper&force=true", "patch", "namespaces"},
		{"PUT", "/api/v1/namespaces/tenant-i-1/finalize", "update", "namespaces/finalize"},
		{"GET", "/api/v1/namespaces/tenant-i-1/status", "get", "namespaces/status"},
		{"GET", "/api/v1/namespaces", "list", "namespaces"},
		{"PATCH", "/apis/apps/v1/namespaces/tenant-i-1/deployments/app", "patch", "apps/deployments"},
		{"PATCH", "/apis/apps/v1/namespaces/tenant-i-1/deployments/app/scale", "patch", "apps/deployments/scale"},
		{"PATCH", "/apis/saas.kooper.io/v1alpha1/saastenants/i-1/status", "patch", "saas.kooper.io/saastenants/status"},
		{"POST", "/apis/saas.kooper.io/v1alpha1/saastenants", "create", "saas.kooper.io/saastenants"},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/kooper-system/leases/kooper.saas.kooper.io", "update", "coordination.k8s.io/leases"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/default/events", "create", "events.k8s.io/events"},
		{"DELETE", "/api/v1/namespaces/tenant-i-1/secrets/app", "delete", "secrets"},
		{"DELETE", "/api/v1/namespaces/tenant-i-1/pods?labelSelector=a", "deletecollection", "pods"},
		{"GET", "/apis/apps/v1", "get", "-"},
		{"GET", "/api", "get", "-"},
		{"GET", "/version", "get", "-"},
		{"GET", "/", "get", "-"},
		{"", "/api/v1/namespaces/a/secrets/b", "get", "secrets"},
		{"BREW", "/api/v1/namespaces/a/secrets/b", "other", "secrets"},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		verb, resource := Describe(c.method, u)
		if verb != c.verb || resource != c.resource {
			t.Errorf("%s %s: got %s %s, want %s %s", c.method, c.url, verb, resource, c.verb, c.resource)
		}
	}
}

// Any path gives a verb and a resource without a namespace or a name in
// it, so the labels stay bounded.
func FuzzDescribe(f *testing.F) {
	for _, s := range []string{"/api/v1/namespaces/a/secrets/b", "/apis/g/v/namespaces/a/r/n/s", "//", "/apis", "/api/v1/namespaces/x"} {
		f.Add(http.MethodGet, s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		u := &url.URL{Path: path}
		verb, resource := Describe(method, u)
		if verb == "" || resource == "" {
			t.Fatalf("%s %q: empty label (%q, %q)", method, path, verb, resource)
		}
		if strings.Count(resource, "/") > 2 {
			t.Fatalf("%s %q: resource %q has more than group, resource and subresource", method, path, resource)
		}
	})
}
