package cleanpath

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"*", "/*"},
		{"/koogallery/crm", "/koogallery/crm"},
		{"/koogallery/crm/", "/koogallery/crm"},
		{"/koogallery//crm", "/koogallery/crm"},
		{"/koogallery/crm//produceAPI/v2/tenantSync", "/koogallery/crm/produceAPI/v2/tenantSync"},
		{"/koogallery/./crm/.", "/koogallery/crm"},
		{"/koogallery/x/../crm", "/koogallery/crm"},
		{"/../../koogallery/crm", "/koogallery/crm"},
		{"/koogallery/crm%2F..%2Fother", "/koogallery/crm%2F..%2Fother"},
		{"/koogallery/%2E%2E/crm", "/koogallery/%2E%2E/crm"},
		{"/koogallery/cr%20m//", "/koogallery/cr%20m"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			NewWithT(t).Expect(Clean(tc.in)).To(Equal(tc.want))
		})
	}
}

// routes is a mux shaped like the receiver's: two wildcard routes, a fixed
// sub-path and a catch-all. Each handler names itself and the path it saw.
func routes() *http.ServeMux {
	mux := http.NewServeMux()
	for name, pattern := range map[string]string{
		"basic": "/koogallery/{product}", "kit": "/koogallery/{product}/produceAPI/v2/{interface}",
		"revoked": "/koogallery/{product}/licenses/revoked", "unknown": "/",
	} {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("X-Route", name)
			w.Header().Set("X-Product", req.PathValue("product"))
			w.Header().Set("X-Path", req.URL.EscapedPath())
		})
	}
	return mux
}

func TestHandlerNeverLetsTheMuxRedirect(t *testing.T) {
	cases := []struct {
		target, route, product, path string
	}{
		{"/koogallery/crm", "basic", "crm", "/koogallery/crm"},
		{"/koogallery/crm/", "basic", "crm", "/koogallery/crm"},
		{"//koogallery///crm//?signature=x", "basic", "crm", "/koogallery/crm"},
		{"/koogallery/a/../crm/.", "basic", "crm", "/koogallery/crm"},
		{"/koogallery/crm//produceAPI/v2/tenantSync", "kit", "crm", "/koogallery/crm/produceAPI/v2/tenantSync"},
		{"/koogallery/crm/produceAPI/v2/tenantSync/", "kit", "crm", "/koogallery/crm/produceAPI/v2/tenantSync"},
		{"/koogallery/crm/licenses/revoked/", "revoked", "crm", "/koogallery/crm/licenses/revoked"},
		{"/koogallery/crm%2Fx", "basic", "crm/x", "/koogallery/crm%2Fx"},
		{"/koogallery/crm%2F..%2Fx/", "basic", "crm/../x", "/koogallery/crm%2F..%2Fx"},
		{"/koogallery", "unknown", "", "/koogallery"},
		{"/koogallery/", "unknown", "", "/koogallery"},
		{"/koogallery/crm/produceAPI/v2/", "unknown", "", "/koogallery/crm/produceAPI/v2"},
		{"/koogallery/crm/x", "unknown", "", "/koogallery/crm/x"},
		{"/koogallery/../etc", "unknown", "", "/etc"},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodHead, http.MethodPut} {
			t.Run(method+" "+tc.target, func(t *testing.T) {
				g := NewWithT(t)
				rec := httptest.NewRecorder()
				Handler(routes()).ServeHTTP(rec, httptest.NewRequest(method, tc.target, nil))
				g.Expect(rec.Code).To(Equal(http.StatusOK))
				g.Expect(rec.Header().Get("X-Route")).To(Equal(tc.route))
				g.Expect(rec.Header().Get("X-Product")).To(Equal(tc.product))
				g.Expect(rec.Header().Get("X-Path")).To(Equal(tc.path))
			})
		}
	}
}

func TestHandlerKeepsTheQuery(t *testing.T) {
	g := NewWithT(t)
	var got *http.Request
	h := Handler(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) { got = req }))
	req := httptest.NewRequest(http.MethodPost, "/koogallery/crm/?timestamp=1&nonce=n", nil)
	h.ServeHTTP(httptest.NewRecorder(), req)
	g.Expect(got.URL.Query().Get("nonce")).To(Equal("n"))
	g.Expect(got.URL.Path).To(Equal("/koogallery/crm"))
	g.Expect(req.URL.Path).To(Equal("/koogallery/crm/"), "the caller's request is not changed")
}

// FuzzHandler checks, for any request target the server would accept, that
// the cleaned path is canonical (idempotent, rooted, no empty, "." or ".."
// segment, no trailing slash), that it is made only of segments sent, and
// that a mux behind Handler answers it itself: never a redirect, a 404 or a
// 405.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		"/koogallery/crm", "/koogallery/crm/", "/koogallery/crm//produceAPI/v2/tenantSync", "/koogallery/./a/../crm",
		"/koogallery/crm%2F..%2Fx", "/koogallery/%2e%2E/crm", "//", "/..", "/koogallery/crm/licenses/revoked/?a=b", "*",
	} {
		f.Add(seed)
	}
	mux := routes()
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // the server answers 400 before any handler runs
		}
		escaped := u.EscapedPath()
		clean := Clean(escaped)
		checkCanonical(t, escaped, clean)
		req := &http.Request{Method: http.MethodPost, URL: u, Host: "kooper.example.com", Header: http.Header{}}
		rec := httptest.NewRecorder()
		Handler(mux).ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Route") == "" {
			t.Fatalf("%q: answered %d by no route of ours (Location %q)", target, rec.Code, rec.Header().Get("Location"))
		}
		if got := rec.Header().Get("X-Path"); got != clean {
			t.Fatalf("%q: the route saw %q, want %q", target, got, clean)
		}
	})
}

func checkCanonical(t *testing.T, escaped, clean string) {
	t.Helper()
	if Clean(clean) != clean {
		t.Fatalf("Clean(%q) = %q is not idempotent", escaped, clean)
	}
	if clean == "/" {
		return
	}
	sent := strings.Split(escaped, "/")
	for _, seg := range strings.Split(clean, "/")[1:] {
		if seg == "" || seg == "." || seg == ".." {
			t.Fatalf("Clean(%q) = %q has a segment %q", escaped, clean, seg)
		}
		if !slices.Contains(sent, seg) {
			t.Fatalf("Clean(%q) = %q has a segment %q that was not sent", escaped, clean, seg)
		}
	}
}
