package chartrender

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/releaseutil"

	"github.com/kooper-io/kooper/internal/chartrender/ocitest"
)

// chartFile is one file of a chart built in memory, by its path in the
// chart ("templates/cm.yaml").
type chartFile struct {
	name string
	data []byte
}

// packaged packages files as the .tgz of chart name (apiVersion v2,
// version 1.0.0), each file under the directory name/ as `helm package`
// writes it.
func packaged(tb testing.TB, name string, files ...chartFile) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a quick test: zeros compress well at any level
	if err != nil {
		tb.Fatal(err)
	}
	tw := tar.NewWriter(gz)
	chartYAML := chartFile{name: "Chart.yaml", data: []byte("apiVersion: v2\nname: " + name + "\nversion: 1.0.0\n")}
	for _, f := range append([]chartFile{chartYAML}, files...) {
		hdr := &tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// zeroFileBytes is the size of each file of zeros: under Helm's own bound
// on one file (5 MiB), which would refuse the chart by itself.
const zeroFileBytes = 4 << 20

// zeroFiles are n files of zeroFileBytes zeros, under files/: 4n MiB
// unpacked, a few KiB packed.
func zeroFiles(n int) []chartFile {
	zeros := make([]byte, zeroFileBytes)
	files := make([]chartFile, n)
	for i := range files {
		files[i] = chartFile{name: fmt.Sprintf("files/zeros-%d", i), data: zeros}
	}
	return files
}

// subchartOf20MiB packages chart name with 20 MiB of zeros and files.
func subchartOf20MiB(tb testing.TB, name string, files ...chartFile) []byte {
	return packaged(tb, name, append(zeroFiles(5), files...)...)
}

// The input: a chart of a few KiB whose packaged subcharts (charts/*.tgz)
// unpack to 20 MiB each, 60 MiB in all. Render measured only the outer
// archive against MaxUnpackedBytes, and Helm's loader bounds each archive it
// unpacks by itself (100 MiB), so the chart loaded, and a few more of them
// would fill the controllers' memory.
func TestRenderRefusesPackagedSubchartsOverTheUnpackedBound(t *testing.T) {
	sub := subchartOf20MiB(t, "sub")
	tests := []struct {
		name  string
		files []chartFile
	}{
		{name: "side by side", files: []chartFile{
			{name: "charts/a.tgz", data: sub},
			{name: "charts/b.tgz", data: sub},
			{name: "charts/c.tgz", data: sub},
		}},
		{name: "packaged in a packaged subchart", files: []chartFile{
			{name: "charts/a.tgz", data: subchartOf20MiB(t, "a",
				chartFile{name: "charts/b.tgz", data: subchartOf20MiB(t, "b",
					chartFile{name: "charts/c.tgz", data: sub})})},
		}},
		{name: "in a subchart's directory", files: []chartFile{
			{name: "charts/dir/Chart.yaml", data: []byte("apiVersion: v2\nname: dir\nversion: 1.0.0\n")},
			{name: "charts/dir/charts/a.tgz", data: sub},
			{name: "charts/dir/charts/b.tgz", data: sub},
			{name: "charts/dir/charts/c.tgz", data: sub},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			data := packaged(t, "crm", tt.files...)
			g.Expect(len(data)).To(BeNumerically("<", 1<<20), "the archive itself is small")
			archive := ArchiveFromBytes(data)

			var r Renderer
			_, err := r.Render(context.Background(), archive, kooperValues(), testOptions())
			g.Expect(err).To(MatchError(ErrArchiveTooLarge))
			g.Expect(err).To(MatchError(ContainSubstring("unpacks to over 52428800 bytes")))
			_, err = r.Metadata(archive)
			g.Expect(err).To(MatchError(ErrArchiveTooLarge))
		})
	}
}

// Render follows packaged subcharts maxSubchartDepth deep, and refuses an
// archive nested deeper, which Helm's loader would unpack level by level.
func TestRenderRefusesPackagedSubchartsNestedTooDeep(t *testing.T) {
	nested := func(levels int) Archive {
		data := packaged(t, fmt.Sprintf("level%d", levels))
		for i := levels - 1; i >= 0; i-- {
			data = packaged(t, fmt.Sprintf("level%d", i), chartFile{name: fmt.Sprintf("charts/level%d.tgz", i+1), data: data})
		}
		return ArchiveFromBytes(data)
	}
	g := NewWithT(t)
	var r Renderer
	_, err := r.Metadata(nested(maxSubchartDepth))
	g.Expect(err).NotTo(HaveOccurred(), "as deep as the bound")
	_, err = r.Metadata(nested(maxSubchartDepth + 1))
	g.Expect(err).To(MatchError(ContainSubstring("packaged subcharts nested more than 5 deep")))
}

// The input: a chart whose packaged subchart holds 8 MiB of files. The
// chart cache weighed it at the outer archive's unpacked bytes, a few KiB,
// so its budget held thousands of them.
func TestTheCacheWeighsPackagedSubcharts(t *testing.T) {
	g := NewWithT(t)
	cm := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-sub\n")
	sub := packaged(t, "sub", append(zeroFiles(2), chartFile{name: "templates/cm.yaml", data: cm})...)
	data := packaged(t, "crm", chartFile{name: "charts/sub.tgz", data: sub})

	c, unpacked, err := load(data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(unpacked).To(BeNumerically(">", 2*zeroFileBytes), "the subchart's files are counted")
	g.Expect(weight(c, unpacked)).To(BeNumerically(">", 2*zeroFileBytes))

	var r Renderer
	objs, err := r.Render(context.Background(), ArchiveFromBytes(data), nil, testOptions())
	g.Expect(err).NotTo(HaveOccurred(), "a packaged subchart under the bound renders")
	g.Expect(ids(objs)).To(Equal([]string{"ConfigMap/t1-sub"}))
}

// notAnObject is a template whose one document is not an object: decoding
// it fails the render, so a render refused for its size or count before
// this error was refused before decoding.
var notAnObject = chartFile{name: "templates/a-not-an-object.yaml", data: []byte("just a string\n")}

// configMaps is a template of n ConfigMaps, one document each.
func configMaps(n int) chartFile {
	return chartFile{name: "templates/configmaps.yaml", data: fmt.Appendf(nil,
		"{{ range until %d }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ . }}\n{{ end }}\n", n)}
}

// The input: a chart whose templates give 600 documents. Render split and
// decoded every one of them before anything counted them.
func TestRenderRefusesTooManyObjectsBeforeDecoding(t *testing.T) {
	g := NewWithT(t)
	var r Renderer
	archive := ArchiveFromBytes(packaged(t, "crm", notAnObject, configMaps(600)))
	_, err := r.Render(context.Background(), archive, nil, testOptions())
	g.Expect(err).To(MatchError(ContainSubstring("renders 601 YAML documents, over the 512 of MaxRenderedDocuments")))
}

// A render gives at most MaxRenderedObjects objects, what a tenant's
// status.inventory records; the product controller's example renders had
// no bound.
func TestRenderRefusesMoreObjectsThanATenantHolds(t *testing.T) {
	g := NewWithT(t)
	var r Renderer
	objs, err := r.Render(context.Background(), ArchiveFromBytes(packaged(t, "crm", configMaps(MaxRenderedObjects))), nil, testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(objs).To(HaveLen(MaxRenderedObjects))

	_, err = r.Render(context.Background(), ArchiveFromBytes(packaged(t, "crm", configMaps(MaxRenderedObjects+1))), nil, testOptions())
	g.Expect(err).To(MatchError(ContainSubstring("renders 257 objects, over the 256 of MaxRenderedObjects")))
}

// The input: a template of a few bytes that writes 8 MiB. Render split and
// decoded it all before anything weighed it.
func TestRenderRefusesOversizeOutput(t *testing.T) {
	g := NewWithT(t)
	big := chartFile{name: "templates/big.yaml", data: fmt.Appendf(nil,
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: {{ repeat %d \"x\" }}\n", MaxRenderedBytes)}
	var r Renderer
	_, err := r.Render(context.Background(), ArchiveFromBytes(packaged(t, "crm", notAnObject, big)), nil, testOptions())
	g.Expect(err).To(MatchError(MatchRegexp(`renders \d+ bytes of manifests, over the 8388608 of MaxRenderedBytes`)))
}

// The document count agrees with Helm's split, which Render decodes.
func TestCountDocumentsAgreesWithHelm(t *testing.T) {
	for _, text := range []string{
		"", "  \n", "a: 1", "---", "---\n", "--- \n---\n", "---\na: 1\n---\nb: 2\n", "a: 1\n---\n\n---\nb: 2",
		"a: 1\n------\nb: 2", "a: |\n  ---\n  x\n---\n# only a comment\n", "\t---\na: 1\n  \n---  \n", "a\n---b\n---\n---",
		"x\n---\n---\n---\ny", "\v---\na\n\u00a0\n---\n\u00a0",
	} {
		NewWithT(t).Expect(countDocuments(text)).To(Equal(len(releaseutil.SplitManifests(text))), "%q", text)
	}
	// And on texts of the characters that make separators, at random.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var text strings.Builder
		for range rng.IntN(24) {
			text.WriteString([]string{"-", "-", "---", "\n", " ", "\t", "a", "\v"}[rng.IntN(8)])
		}
		NewWithT(t).Expect(countDocuments(text.String())).To(Equal(len(releaseutil.SplitManifests(text.String()))), "%q", text.String())
	}
}

// The input: a registry that answers a chart's manifest with 5 MiB, which
// go-containerregistry reads up to 100 MiB of.
func TestFetchOCIRefusesAnOversizeManifest(t *testing.T) {
	tgz := packageChart(t, testChartDir, nil)
	streamed := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if !strings.Contains(req.URL.Path, "/manifests/streamed") {
				next.ServeHTTP(w, req)
				return
			}
			// No Content-Length: the body is chunked, its size unknown until read.
			w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
			chunk := bytes.Repeat([]byte(" "), 64<<10)
			for range (MaxManifestBytes + 1<<20) / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
	}
	host := ocitest.NewRegistry(t, streamed)
	repo, err := name.NewRepository(host + "/charts/crm")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	ocitest.PushArtifact(t, repo, "small", authn.Anonymous, static.NewLayer(tgz, ChartLayerMediaType))
	pushOversizeManifest(t, repo.Tag("declared"), tgz)

	g := NewWithT(t)
	_, err = FetchOCI(context.Background(), host+"/charts/crm:small", nil)
	g.Expect(err).NotTo(HaveOccurred(), "an ordinary manifest is read")
	for _, tag := range []string{"declared", "streamed"} {
		t.Run(tag, func(t *testing.T) {
			g := NewWithT(t)
			_, err := FetchOCI(context.Background(), host+"/charts/crm:"+tag, nil)
			g.Expect(err).To(MatchError(ContainSubstring("over the 4194304 of MaxManifestBytes")))
			g.Expect(err).To(MatchError(ErrArchiveTooLarge))
		})
	}
}

// pushOversizeManifest pushes, as ref, a valid chart manifest of tgz made
// 5 MiB by an annotation, which the registry serves with its length.
func pushOversizeManifest(t *testing.T, ref name.Tag, tgz []byte) {
	t.Helper()
	layer := static.NewLayer(tgz, ChartLayerMediaType)
	config := static.NewLayer([]byte(`{"name":"crm","version":"1.2.0","apiVersion":"v2"}`), ChartConfigMediaType)
	manifest := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Annotations: map[string]string{"padding": strings.Repeat("x", MaxManifestBytes+1<<20)}}
	for i, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(ref.Context(), l); err != nil {
			t.Fatal(err)
		}
		d, err := layerDescriptor(l)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			manifest.Config = d
		} else {
			manifest.Layers = []v1.Descriptor{d}
		}
	}
	img, err := newRawManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, img); err != nil {
		t.Fatalf("pushing the manifest: %v", err)
	}
}

func layerDescriptor(l v1.Layer) (v1.Descriptor, error) {
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

func newRawManifest(m v1.Manifest) (rawManifest, error) {
	return json.Marshal(m)
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
