package chartrender

import (
	"bytes"
	"context"
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
	. "github.com/onsi/gomega"
)

// rawManifest is a manifest pushed as it is.
type rawManifest struct {
	data      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.data, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// pushArtifact pushes an OCI artifact of the given layers, with a Helm
// chart config, to repo:tag, and returns its manifest digest.
func pushArtifact(t *testing.T, repo name.Repository, tag string, auth authn.Authenticator, layers ...v1.Layer) string {
	t.Helper()
	config := static.NewLayer([]byte(`{"name":"crm","version":"1.2.0","apiVersion":"v2"}`), ChartConfigMediaType)
	manifest := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for i, l := range append([]v1.Layer{config}, layers...) {
		if err := remote.WriteLayer(repo, l, remote.WithAuth(auth)); err != nil {
			t.Fatalf("pushing a blob: %v", err)
		}
		mt, _ := l.MediaType()
		size, _ := l.Size()
		digest, _ := l.Digest()
		d := v1.Descriptor{MediaType: mt, Size: size, Digest: digest}
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
	if err := remote.Put(repo.Tag(tag), rawManifest{data: data, mediaType: types.OCIManifestSchema1}, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing the manifest: %v", err)
	}
	digest, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}

// requireAuth answers 401 with a Basic challenge to any request without the
// wanted Authorization header, and records the paths of those with it.
type requireAuth struct {
	next http.Handler
	want string

	mu   sync.Mutex
	seen []string
}

func (a *requireAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != a.want {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	a.seen = append(a.seen, r.Method+" "+r.URL.Path)
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

func (a *requireAuth) paths() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// newRegistry serves an in-process registry; its host is "127.0.0.1:<port>",
// which go-containerregistry reaches over plain HTTP.
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (host string) {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func dockerConfig(t *testing.T, registryKey, user, password string) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{"auths": map[string]any{
		registryKey: map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFetchOCIAnonymous(t *testing.T) {
	tgz := packageChart(t, testChartDir, nil)
	host := newRegistry(t, nil)
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	digest := pushArtifact(t, repo, "1.2.0", authn.Anonymous, static.NewLayer(tgz, ChartLayerMediaType))

	for _, ref := range []string{host + "/charts/crm:1.2.0", host + "/charts/crm@" + digest} {
		t.Run(ref, func(t *testing.T) {
			g := NewWithT(t)
			archive, err := FetchOCI(context.Background(), ref, nil)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(archive.Bytes()).To(Equal(tgz))
			g.Expect(archive.Digest()).To(Equal(digest), "the manifest's digest")

			var r Renderer
			objs, err := r.Render(context.Background(), archive, kooperValues(), testOptions())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ids(objs)).To(ContainElement("StatefulSet/t1-redis"))
		})
	}
}

func TestFetchOCIWithDockerConfig(t *testing.T) {
	tgz := packageChart(t, testChartDir, nil)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("merchant:s3cret"))
	guard := &requireAuth{want: want}
	host := newRegistry(t, func(h http.Handler) http.Handler { guard.next = h; return guard })
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	digest := pushArtifact(t, repo, "1.2.0", &authn.Basic{Username: "merchant", Password: "s3cret"}, static.NewLayer(tgz, ChartLayerMediaType))

	tests := []struct {
		name    string
		ref     string
		config  []byte
		wantErr string
	}{
		{name: "by tag, key as host", ref: host + "/charts/crm:1.2.0", config: dockerConfig(t, host, "merchant", "s3cret")},
		{name: "by digest, key as URL", ref: host + "/charts/crm@" + digest, config: dockerConfig(t, "https://"+host+"/v1/", "merchant", "s3cret")},
		{name: "anonymous is refused", ref: host + "/charts/crm:1.2.0", wantErr: "401 Unauthorized"},
		{name: "no entry for the registry: anonymous", ref: host + "/charts/crm:1.2.0", config: dockerConfig(t, "other.example.com", "merchant", "s3cret"), wantErr: "401 Unauthorized"},
		{name: "wrong password", ref: host + "/charts/crm:1.2.0", config: dockerConfig(t, host, "merchant", "nope"), wantErr: "401 Unauthorized"},
		{name: "malformed .dockerconfigjson", ref: host + "/charts/crm:1.2.0", config: []byte("{"), wantErr: "parsing .dockerconfigjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			before := len(guard.paths())
			archive, err := FetchOCI(context.Background(), tt.ref, tt.config)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(archive.Bytes()).To(Equal(tgz))
			g.Expect(archive.Digest()).To(Equal(digest))
			authorized := guard.paths()[before:]
			g.Expect(authorized).To(ContainElement(HavePrefix("GET /v2/charts/crm/manifests/")), "the manifest was fetched with the Authorization header")
			g.Expect(authorized).To(ContainElement("GET /v2/charts/crm/blobs/"+archiveLayerDigest(t, tgz)), "the chart layer was fetched with the Authorization header")
		})
	}
}

func archiveLayerDigest(t *testing.T, tgz []byte) string {
	t.Helper()
	d, err := static.NewLayer(tgz, ChartLayerMediaType).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestFetchOCIErrors(t *testing.T) {
	tgz := packageChart(t, testChartDir, nil)
	host := newRegistry(t, nil)
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	pushArtifact(t, repo, "no-chart", authn.Anonymous, static.NewLayer([]byte("x"), types.OCILayer))
	pushArtifact(t, repo, "two-charts", authn.Anonymous, static.NewLayer(tgz, ChartLayerMediaType), static.NewLayer(append([]byte(nil), tgz[:10]...), ChartLayerMediaType))
	pushArtifact(t, repo, "oversize", authn.Anonymous, static.NewLayer(make([]byte, MaxArchiveBytes+1), ChartLayerMediaType))

	tests := []struct {
		name    string
		ref     string
		wantErr string
		wantIs  error
	}{
		{name: "bad reference", ref: "Not A Reference", wantErr: "parsing chart reference"},
		{name: "unknown tag", ref: host + "/charts/crm:9.9.9", wantErr: "MANIFEST_UNKNOWN"},
		{name: "no chart layer", ref: host + "/charts/crm:no-chart", wantErr: "0 layers of media type"},
		{name: "two chart layers", ref: host + "/charts/crm:two-charts", wantErr: "2 layers of media type"},
		{name: "oversize", ref: host + "/charts/crm:oversize", wantErr: "over 10485760", wantIs: ErrArchiveTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := FetchOCI(context.Background(), tt.ref, nil)
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
			if tt.wantIs != nil {
				g.Expect(err).To(MatchError(tt.wantIs))
			}
		})
	}
}

func TestRegistryHost(t *testing.T) {
	tests := []struct{ key, want string }{
		{"registry.example.com", "registry.example.com"},
		{"Registry.Example.com:5000", "registry.example.com:5000"},
		{"https://registry.example.com/v1/", "registry.example.com"},
		{"registry.example.com/charts", "registry.example.com"},
		{"https://index.docker.io/v1/", "index.docker.io"},
		{"docker.io", "index.docker.io"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			NewWithT(t).Expect(registryHost(tt.key)).To(Equal(tt.want))
		})
	}
}
