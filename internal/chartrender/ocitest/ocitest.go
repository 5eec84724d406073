// Package ocitest serves an in-process OCI registry and pushes Helm charts
// to it, as SWR or any registry holds them, for the tests of the chart
// fetcher (internal/chartrender) and of the product controller. Only tests
// import it; it imports nothing of kooper's, so chartrender's own tests can.
package ocitest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The media types Helm pushes a chart with (helm.sh/helm/v3/pkg/registry,
// ConfigMediaType and ChartLayerMediaType), written out rather than
// imported: that package brings the ORAS client into the module.
const (
	ConfigMediaType     types.MediaType = "application/vnd.cncf.helm.config.v1+json"
	ChartLayerMediaType types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// NewRegistry serves an in-process registry, behind wrap when it is not
// nil, and returns its host, "127.0.0.1:<port>", which go-containerregistry
// reaches over plain HTTP. It stops when the test ends.
func NewRegistry(t testing.TB, wrap func(http.Handler) http.Handler) (host string) {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// PushChart pushes tgz, a packaged chart, as Helm pushes one, to repo:tag
// and returns the manifest's digest ("sha256:…").
func PushChart(t testing.TB, repo name.Repository, tag string, auth authn.Authenticator, tgz []byte) string {
	t.Helper()
	return PushArtifact(t, repo, tag, auth, static.NewLayer(tgz, ChartLayerMediaType))
}

// PushArtifact pushes an OCI artifact of layers, with a Helm chart config
// (chart crm 1.2.0), to repo:tag and returns the manifest's digest: a test
// of a malformed chart artifact chooses its layers.
func PushArtifact(t testing.TB, repo name.Repository, tag string, auth authn.Authenticator, layers ...v1.Layer) string {
	t.Helper()
	config := static.NewLayer([]byte(`{"name":"crm","version":"1.2.0","apiVersion":"v2"}`), ConfigMediaType)
	manifest := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for i, l := range append([]v1.Layer{config}, layers...) {
		if err := remote.WriteLayer(repo, l, remote.WithAuth(auth)); err != nil {
			t.Fatalf("pushing a blob: %v", err)
		}
		d, err := descriptor(l)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			manifest.Config = d
		} else {
			manifest.Layers = append(manifest.Layers, d)
		}
	}
	data, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(repo.Tag(tag), rawManifest(data), remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing the manifest: %v", err)
	}
	digest, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}

func descriptor(l v1.Layer) (v1.Descriptor, error) {
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	digest, err := l.Digest()
	return v1.Descriptor{MediaType: mt, Size: size, Digest: digest}, err
}

// rawManifest is an OCI image manifest pushed as it is.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// BasicAuthorization is the Authorization header of user:password.
func BasicAuthorization(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// DockerConfig is a .dockerconfigjson that logs in to registryKey (a host,
// or a URL as docker login writes some) as user.
func DockerConfig(t testing.TB, registryKey, user, password string) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{"auths": map[string]any{
		registryKey: map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// RequireAuth answers 401 with a Basic challenge to any request without the
// Authorization header Want, and records the method and path of those with
// it. Use it as NewRegistry's wrap: ocitest.NewRegistry(t, a.Wrap).
type RequireAuth struct {
	Want string

	next http.Handler
	mu   sync.Mutex
	seen []string
}

// Wrap puts a in front of next.
func (a *RequireAuth) Wrap(next http.Handler) http.Handler {
	a.next = next
	return a
}

func (a *RequireAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != a.Want {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	a.seen = append(a.seen, r.Method+" "+r.URL.Path)
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

// Paths are the requests let through so far, as "METHOD /path".
func (a *RequireAuth) Paths() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}
