package localstack

import (
	"testing"

	. "github.com/onsi/gomega"
)

// On a real node the operator runs from its image: its binary is not built.
func TestBinaries(t *testing.T) {
	g := NewWithT(t)
	names := func(bs []binary) []string {
		var n []string
		for _, b := range bs {
			n = append(n, b.name)
		}
		return n
	}
	g.Expect(names(binaries(false))).To(Equal([]string{"kooper", "marketplace-sim", "kubectl-kooper"}))
	g.Expect(names(binaries(true))).To(Equal([]string{"marketplace-sim", "kubectl-kooper"}))
}
