package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func serve(a *app, method, path string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for name, values := range header {
		r.Header[name] = values
	}
	w := httptest.NewRecorder()
	a.routes().ServeHTTP(w, r)
	return w
}

func TestHealthz(t *testing.T) {
	g := NewWithT(t)
	w := serve(&app{dataDir: t.TempDir()}, http.MethodGet, "/healthz", nil)
	g.Expect(w.Code).To(Equal(http.StatusOK))
}

func TestReadyOnlyWithAWritableDataDirectory(t *testing.T) {
	g := NewWithT(t)
	g.Expect(serve(&app{dataDir: t.TempDir()}, http.MethodGet, "/ready", nil).Code).To(Equal(http.StatusOK))
	missing := filepath.Join(t.TempDir(), "no-volume")
	g.Expect(serve(&app{dataDir: missing}, http.MethodGet, "/ready", nil).Code).To(Equal(http.StatusServiceUnavailable))
}

func TestAVisitEchoesTheIdentityAndIsRecordedOnTheVolume(t *testing.T) {
	g := NewWithT(t)
	a := &app{dataDir: t.TempDir(), instanceID: "i-123", skuCode: "basic"}
	header := http.Header{
		"X-Forwarded-User":      {"alice smith"},
		"X-Forwarded-Email":     {"alice@example.com"},
		"X-Auth-Request-Groups": {"admins"},
		"Authorization":         {"Bearer secret"},
	}
	serve(a, http.MethodGet, "/", nil)
	w := serve(a, http.MethodGet, "/", header)
	g.Expect(w.Code).To(Equal(http.StatusOK))

	var got visit
	g.Expect(json.Unmarshal(w.Body.Bytes(), &got)).To(Succeed())
	g.Expect(got).To(Equal(visit{
		InstanceID: "i-123", SKUCode: "basic", Visits: 2,
		Identity: map[string]string{
			"X-Forwarded-User": "alice smith", "X-Forwarded-Email": "alice@example.com", "X-Auth-Request-Groups": "admins",
		},
	}), "every identity header, and no other (never Authorization)")

	data, err := os.ReadFile(filepath.Join(a.dataDir, visitsFile))
	g.Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	g.Expect(lines).To(HaveLen(2))
	g.Expect(lines[0]).To(HaveSuffix(" -"))
	g.Expect(lines[1]).To(HaveSuffix(" alice_smith"), "one line per visit, the user's spaces replaced")
}

func TestAVisitFailsWhenTheVolumeIsMissing(t *testing.T) {
	g := NewWithT(t)
	w := serve(&app{dataDir: filepath.Join(t.TempDir(), "no-volume")}, http.MethodGet, "/", nil)
	g.Expect(w.Code).To(Equal(http.StatusInternalServerError))
}

func TestUnknownPathsAreNotFound(t *testing.T) {
	g := NewWithT(t)
	g.Expect(serve(&app{dataDir: t.TempDir()}, http.MethodGet, "/admin", nil).Code).To(Equal(http.StatusNotFound))
}

func TestWhoamiEchoesTheIdentityHeadersEscaped(t *testing.T) {
	g := NewWithT(t)
	w := serve(&app{dataDir: t.TempDir()}, http.MethodGet, "/whoami", http.Header{
		"X-Forwarded-User": {"sim.user00001"}, "X-Forwarded-Email": {"<b>x</b>@example.com"}})
	g.Expect(w.Code).To(Equal(http.StatusOK))
	g.Expect(w.Body.String()).To(ContainSubstring(`<span id="user">sim.user00001</span>`))
	g.Expect(w.Body.String()).To(ContainSubstring(`&lt;b&gt;x&lt;/b&gt;@example.com`))
	g.Expect(w.Body.String()).To(ContainSubstring(`<span id="tenant">-</span>`))
}

// The subcommands kubectl exec runs in the image, which has no shell:
// record and visits share the server's visits file; dial tells an open port
// from a closed one.
func TestCommands(t *testing.T) {
	g := NewWithT(t)
	a := &app{dataDir: t.TempDir()}
	g.Expect(a.command([]string{"record", "before-freeze"})).To(Succeed())
	data, err := os.ReadFile(filepath.Join(a.dataDir, visitsFile))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).To(MatchRegexp(`^\S+ before-freeze\n$`))
	g.Expect(a.command([]string{"visits"})).To(Succeed())

	server := httptest.NewServer(a.routes())
	defer server.Close()
	g.Expect(a.command([]string{"dial", server.Listener.Addr().String()})).To(Succeed())
	closed := server.Listener.Addr().String()
	server.Close()
	g.Expect(a.command([]string{"dial", closed})).To(MatchError(ContainSubstring("connection refused")))

	g.Expect(a.command([]string{"record"})).To(MatchError(ContainSubstring("usage")))
	g.Expect(a.command([]string{"nope"})).To(MatchError(ContainSubstring("usage")))
	g.Expect((&app{dataDir: t.TempDir()}).command([]string{"visits"})).NotTo(Succeed())
}
