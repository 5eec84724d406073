package chartrender

import (
	"context"
	"runtime"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// aliasHeapBound is the most a refused chart may make a test allocate: an
// expansion refused before it happens costs what the input weighs (a few
// hundred KiB, and what the YAML parser makes of them), never the 50 MiB
// the aliases below expand to, nor the copies of them decoding makes.
const aliasHeapBound = 64 << 20

// expandingAliases is YAML of a 256 KiB string anchored once and aliased
// 200 times: 257 KiB to read, about 50 MiB once its aliases are expanded,
// as the JSON each YAML decoder here writes holds them. An alias of a
// scalar counts as one node for the YAML library's own alias bound, which
// looks at documents of over 1,000 nodes only. indent is put before each
// line, for the YAML to nest under a key.
func expandingAliases(indent string) string {
	var b strings.Builder
	b.WriteString(indent + "big: &big \"" + strings.Repeat("x", 256<<10) + "\"\n")
	b.WriteString(indent + "copies: [*big")
	for range 199 {
		b.WriteString(", *big")
	}
	b.WriteString("]\n")
	return b.String()
}

// allocatedBy gives the bytes f allocates on the heap (MemStats.TotalAlloc:
// freed or not, so that a collection during f hides nothing).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestARenderedDocumentWithExpandingAliasesIsRefused: a template whose
// output anchors a 256 KiB string and aliases it 200 times weighs 257 KiB,
// well within MaxRenderedBytes, and decoding it wrote the 50 MiB of its
// expansion as JSON, then decoded that again (a 2 MiB string would have
// made 800 MiB of one render). Now a document whose aliases would expand
// it past what is left of MaxRenderedBytes is refused, naming its file and
// document, before it is decoded.
func TestARenderedDocumentWithExpandingAliasesIsRefused(t *testing.T) {
	g := NewWithT(t)
	template := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aliases\ndata:\n" + expandingAliases("  ")
	data := packaged(t, "aliases", chartFile{name: "templates/cm.yaml", data: []byte(template)})

	var err error
	allocated := allocatedBy(func() {
		_, err = (&Renderer{}).Render(context.Background(), ArchiveFromBytes(data), nil, testOptions())
	})
	g.Expect(allocated).To(BeNumerically("<", aliasHeapBound), "bytes allocated by the render")
	g.Expect(err).To(MatchError(ContainSubstring("templates/cm.yaml, document 1: YAML aliases would expand the manifests past the 8388608 bytes of MaxRenderedBytes")))
}

// TestAChartWhoseValuesExpandAliasesIsRefused: a values.yaml (or a
// Chart.yaml, or a subchart's) anchoring a 256 KiB string and aliasing it
// 200 times packs to a few KiB, well within MaxUnpackedBytes, and Helm's
// loader expanded it to 50 MiB of JSON when the product controller loaded
// the chart; a 2 MiB string made 800 MiB, and the controller, limited to
// 384 MiB, crashed at each start. Now a file Helm's loader parses is
// refused, named, before the loader reads it, when its aliases would expand
// it past the most one file of a chart may hold.
func TestAChartWhoseValuesExpandAliasesIsRefused(t *testing.T) {
	bomb := []byte(expandingAliases(""))
	cm := chartFile{name: "templates/cm.yaml", data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")}
	cases := []struct {
		name     string
		archive  func(t *testing.T) []byte
		wantFile string
	}{
		{name: "values.yaml", wantFile: "aliases/values.yaml", archive: func(t *testing.T) []byte {
			return packaged(t, "aliases", cm, chartFile{name: "values.yaml", data: bomb})
		}},
		{name: "Chart.yaml", wantFile: "aliases/Chart.yaml", archive: func(t *testing.T) []byte {
			// Chart.yaml's annotations hold the string, its keywords the copies.
			bomb := strings.Replace(expandingAliases("  "), "  copies:", "keywords:", 1)
			chartYAML := "apiVersion: v2\nname: aliases\nversion: 1.0.0\nannotations:\n" + bomb
			return packaged(t, "aliases", cm, chartFile{name: "Chart.yaml", data: []byte(chartYAML)})
		}},
		{name: "a packaged subchart's values.yaml", wantFile: "sub/values.yaml", archive: func(t *testing.T) []byte {
			sub := packaged(t, "sub", cm, chartFile{name: "values.yaml", data: bomb})
			return packaged(t, "aliases", cm, chartFile{name: "charts/sub-1.0.0.tgz", data: sub})
		}},
		{name: "a subchart directory's values.yaml", wantFile: "aliases/charts/sub/values.yaml", archive: func(t *testing.T) []byte {
			return packaged(t, "aliases", cm,
				chartFile{name: "charts/sub/Chart.yaml", data: []byte("apiVersion: v2\nname: sub\nversion: 1.0.0\n")},
				chartFile{name: "charts/sub/values.yaml", data: bomb})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			archive := ArchiveFromBytes(c.archive(t))
			var err error
			allocated := allocatedBy(func() {
				_, err = (&Renderer{}).Metadata(archive)
			})
			g.Expect(allocated).To(BeNumerically("<", aliasHeapBound), "bytes allocated by loading the chart")
			g.Expect(err).To(MatchError(ContainSubstring(c.wantFile + ": YAML aliases would expand it to more than 5242880 bytes, the most one file of a chart may hold")))
		})
	}
}

// TestAChartWhoseValuesUseAnchorsWithinBoundsRenders: anchors and aliases
// are YAML that Helm documents for values files (helm.sh, "YAML
// Techniques"), merge keys included; a chart using them as charts do, to
// repeat a few keys, loads and renders with its aliases expanded.
func TestAChartWhoseValuesUseAnchorsWithinBoundsRenders(t *testing.T) {
	g := NewWithT(t)
	values := "defaults: &defaults\n  tier: web\n  owner: team-a\nweb:\n  <<: *defaults\n  port: 8080\nlabels: [*defaults, *defaults]\n"
	template := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: anchors\n  labels: &labels\n    tier: {{ .Values.web.tier }}\n" +
		"  annotations: *labels\ndata:\n  owner: {{ .Values.web.owner | quote }}\n  port: {{ .Values.web.port | quote }}\n"
	data := packaged(t, "anchors", chartFile{name: "values.yaml", data: []byte(values)},
		chartFile{name: "templates/cm.yaml", data: []byte(template)})

	objs, err := (&Renderer{}).Render(context.Background(), ArchiveFromBytes(data), nil, testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(nested(t, find(objs, "ConfigMap", "anchors"), "data", "owner")).To(Equal("team-a"))
	g.Expect(nested(t, find(objs, "ConfigMap", "anchors"), "metadata", "annotations", "tier")).To(Equal("web"))
}

// TestAChartIsWeighedWithItsValuesAliasesExpanded: Helm keeps a chart's
// values parsed, its aliases expanded, so the chart cache weighs a values
// file at what it expands to: 40 aliases of a 64 KiB string weigh as the
// 2.5 MiB they make, not as the 64 KiB written.
func TestAChartIsWeighedWithItsValuesAliasesExpanded(t *testing.T) {
	g := NewWithT(t)
	values := "big: &big \"" + strings.Repeat("x", 64<<10) + "\"\ncopies: [*big" + strings.Repeat(", *big", 39) + "]\n"
	data := packaged(t, "aliases", chartFile{name: "values.yaml", data: []byte(values)},
		chartFile{name: "templates/cm.yaml", data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")})

	c, unpacked, err := load(data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Values["copies"]).To(HaveLen(40))
	g.Expect(weight(c, unpacked)).To(BeNumerically(">", parsedValuesFactor*40*(64<<10)))
}
