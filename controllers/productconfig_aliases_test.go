package controllers

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// TestAProductsKeyWithExpandingAliasesIsRefused: a products ConfigMap key
// whose manifest anchors a 256 KiB annotation and aliases it under 200
// other annotations fits a ConfigMap (1 MiB), and each of the three YAML
// decodes of the key (onlyDocument's, decodeProduct's two) expanded it to
// 50 MiB of JSON and decoded that again; a 512 KiB value aliased 800 times
// made 400 MB, and the controller crashed at each start. Now a key whose
// aliases would expand it past a ConfigMap's own bound is refused before
// any decode, with the key's refusal saying why (the InvalidProduct Event),
// and a key using anchors within it still decodes.
func TestAProductsKeyWithExpandingAliasesIsRefused(t *testing.T) {
	g := NewWithT(t)
	var annotations strings.Builder
	annotations.WriteString("  annotations:\n    big: &big \"" + strings.Repeat("x", 256<<10) + "\"\n")
	for i := range 200 {
		fmt.Fprintf(&annotations, "    copy-%03d: *big\n", i)
	}
	data := withMetadata(productManifest("cm-aliases", "OFFI-CM-ALIASES"), annotations.String())
	g.Expect(len(data)).To(BeNumerically("<", 1<<20), "the key fits a ConfigMap")

	var err error
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = decodeProduct(data)
	runtime.ReadMemStats(&after)
	g.Expect(after.TotalAlloc-before.TotalAlloc).To(BeNumerically("<", 64<<20), "bytes allocated by decoding the key")
	g.Expect(err).To(MatchError(ContainSubstring("YAML aliases would expand it to more than 1048576 bytes")))

	small := withMetadata(productManifest("cm-anchors", "OFFI-CM-ANCHORS"), "  labels: &labels\n    team: a\n  annotations: *labels\n")
	product, err := decodeProduct(small)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(product.GetAnnotations()).To(Equal(map[string]string{"team": "a"}))
}

// withMetadata adds lines to the metadata of manifest, a productManifest.
func withMetadata(manifest, lines string) string {
	nameLine, _, _ := strings.Cut(strings.SplitAfter(manifest, "metadata:\n")[1], "\n")
	return strings.Replace(manifest, nameLine+"\n", nameLine+"\n"+lines, 1)
}
