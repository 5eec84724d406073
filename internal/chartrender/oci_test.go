package chartrender

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/chartrender/ocitest"
)

func TestFetchOCIAnonymous(t *testing.T) {
	tgz := packageChart(t, testChartDir, nil)
	host := ocitest.NewRegistry(t, nil)
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	digest := ocitest.PushArtifact(t, repo, "1.2.0", authn.Anonymous, static.NewLayer(tgz, ChartLayerMediaType))

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
	guard := &ocitest.RequireAuth{Want: ocitest.BasicAuthorization("merchant", "s3cret")}
	host := ocitest.NewRegistry(t, guard.Wrap)
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	digest := ocitest.PushArtifact(t, repo, "1.2.0", &authn.Basic{Username: "merchant", Password: "s3cret"}, static.NewLayer(tgz, ChartLayerMediaType))

	tests := []struct {
		name    string
		ref     string
		config  []byte
		wantErr string
	}{
		{name: "by tag, key as host", ref: host + "/charts/crm:1.2.0", config: ocitest.DockerConfig(t, host, "merchant", "s3cret")},
		{name: "by digest, key as URL", ref: host + "/charts/crm@" + digest, config: ocitest.DockerConfig(t, "https://"+host+"/v1/", "merchant", "s3cret")},
		{name: "anonymous is refused", ref: host + "/charts/crm:1.2.0", wantErr: "401 Unauthorized"},
		{name: "no entry for the registry: anonymous", ref: host + "/charts/crm:1.2.0", config: ocitest.DockerConfig(t, "other.example.com", "merchant", "s3cret"), wantErr: "401 Unauthorized"},
		{name: "wrong password", ref: host + "/charts/crm:1.2.0", config: ocitest.DockerConfig(t, host, "merchant", "nope"), wantErr: "401 Unauthorized"},
		{name: "malformed .dockerconfigjson", ref: host + "/charts/crm:1.2.0", config: []byte("{"), wantErr: "parsing .dockerconfigjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			before := len(guard.Paths())
			archive, err := FetchOCI(context.Background(), tt.ref, tt.config)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(archive.Bytes()).To(Equal(tgz))
			g.Expect(archive.Digest()).To(Equal(digest))
			authorized := guard.Paths()[before:]
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
	host := ocitest.NewRegistry(t, nil)
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	ocitest.PushArtifact(t, repo, "no-chart", authn.Anonymous, static.NewLayer([]byte("x"), types.OCILayer))
	ocitest.PushArtifact(t, repo, "two-charts", authn.Anonymous, static.NewLayer(tgz, ChartLayerMediaType), static.NewLayer(append([]byte(nil), tgz[:10]...), ChartLayerMediaType))
	ocitest.PushArtifact(t, repo, "oversize", authn.Anonymous, static.NewLayer(make([]byte, MaxArchiveBytes+1), ChartLayerMediaType))

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
